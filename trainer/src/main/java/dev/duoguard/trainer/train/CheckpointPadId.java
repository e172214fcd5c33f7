package dev.duoguard.trainer.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.duoguard.trainer.data.DataException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The padding id of a Hugging Face causal LM checkpoint, for the classifier made from it: transformers'
 * sequence classification reads the last non-pad token, so the exported {@code config.json} must name the
 * checkpoint's own pad token (a guessed 0 is "!" in Qwen's vocabulary, a token real text contains). In order:
 * {@code config.json}'s {@code pad_token_id}; {@code tokenizer_config.json}'s {@code pad_token} (a string or an
 * {@code {"content": ...}} object) looked up in {@code tokenizer.json} (added tokens, then the model's vocabulary);
 * {@code config.json}'s {@code eos_token_id} (the first, when it is a list), DuoGuard's choice (pad = eos).
 */
public final class CheckpointPadId {

    private static final ObjectMapper JSON = new ObjectMapper();

    private CheckpointPadId() {}

    /** @throws DataException when the checkpoint names neither a pad nor an end-of-sequence token */
    public static long of(Path checkpoint) throws IOException {
        JsonNode config = JSON.readTree(checkpoint.resolve("config.json").toFile());
        if (config.path("pad_token_id").canConvertToLong()) {
            return config.get("pad_token_id").asLong();
        }
        Path tokenizerConfig = checkpoint.resolve("tokenizer_config.json");
        if (Files.isRegularFile(tokenizerConfig)) {
            JsonNode pad = JSON.readTree(tokenizerConfig.toFile()).path("pad_token");
            String token = pad.isTextual() ? pad.asText() : pad.path("content").asText(null);
            if (token != null) {
                Path tokenizer = checkpoint.resolve("tokenizer.json");
                Long id = Files.isRegularFile(tokenizer) ? idOf(JSON.readTree(tokenizer.toFile()), token) : null;
                if (id == null) {
                    throw new DataException(tokenizerConfig + " names pad token '" + token + "', which "
                            + checkpoint.resolve("tokenizer.json") + " does not have");
                }
                return id;
            }
        }
        JsonNode eos = config.path("eos_token_id");
        if (eos.isArray() && !eos.isEmpty()) {
            eos = eos.get(0);
        }
        if (eos.canConvertToLong()) {
            return eos.asLong();
        }
        throw new DataException("cannot tell the padding id of " + checkpoint + ": config.json has no pad_token_id "
                + "or eos_token_id, and tokenizer_config.json names no pad_token");
    }

    private static Long idOf(JsonNode tokenizer, String token) {
        for (JsonNode t : tokenizer.path("added_tokens")) {
            if (token.equals(t.path("content").asText())) {
                return t.path("id").asLong();
            }
        }
        JsonNode id = tokenizer.path("model").path("vocab").path(token);
        return id.canConvertToLong() ? id.asLong() : null;
    }
}
