package dev.duoguard.trainer.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Path;

/** Facts about a Hugging Face {@code tokenizer.json} that DJL's binding does not expose. */
public final class TokenizerJson {

    private TokenizerJson() {
    }

    /** One more than the largest id in the model vocabulary and the added tokens: the embedding rows needed. */
    public static int vocabularySize(Path tokenizerJson) throws IOException {
        JsonNode root = new ObjectMapper().readTree(tokenizerJson.toFile());
        int max = -1;
        for (JsonNode id : (Iterable<JsonNode>) () -> root.path("model").path("vocab").elements()) {
            max = Math.max(max, id.asInt());
        }
        for (JsonNode t : root.path("added_tokens")) {
            max = Math.max(max, t.path("id").asInt());
        }
        if (max < 0) {
            throw new IOException(tokenizerJson + " has no vocabulary");
        }
        return max + 1;
    }
}
