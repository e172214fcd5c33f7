package dev.duoguard.trainer.hf;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A Hugging Face instruction-tuned causal LM directory (Qwen2 or Llama) as the loop's generator sees it, checked
 * once: the decoder's shape (config.json), the chat template and special tokens (tokenizer_config.json, or
 * chat_template.jinja beside it), and the ids generation stops at: generation_config.json's {@code eos_token_id}
 * (an int or a list), config.json's, and the tokenizer's {@code eos_token}, all of them. Weights are read by
 * {@link Safetensors#readCheckpoint}; the tokenizer is {@code tokenizer.json}.
 *
 * <p>Every problem is one line naming the file, the field and what to do.
 */
public record CausalLmCheckpoint(
        Path dir, TransformerConfig config, String chatTemplate, String bosToken, String eosToken, Set<Long> stopIds) {

    public static final String TOKENIZER = "tokenizer.json";
    public static final String TOKENIZER_CONFIG = "tokenizer_config.json";
    public static final String GENERATION_CONFIG = "generation_config.json";
    public static final String CHAT_TEMPLATE_FILE = "chat_template.jinja";
    /** The model types whose decoder {@code DjlTransformer} implements. */
    public static final List<String> MODEL_TYPES = List.of("qwen2", "llama");

    private static final ObjectMapper JSON = new ObjectMapper();

    public CausalLmCheckpoint {
        stopIds = Set.copyOf(stopIds);
    }

    public static CausalLmCheckpoint read(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException(dir + " is not a directory; give a Hugging Face checkpoint directory");
        }
        for (String f : List.of("config.json", TOKENIZER, TOKENIZER_CONFIG)) {
            if (!Files.isRegularFile(dir.resolve(f))) {
                throw new IllegalArgumentException(dir + " has no " + f + "; copy the checkpoint's " + f + " there");
            }
        }
        if (!Files.isRegularFile(dir.resolve(Safetensors.SINGLE_FILE))
                && !Files.isRegularFile(dir.resolve(Safetensors.INDEX_FILE))) {
            throw new IllegalArgumentException(dir + " has neither " + Safetensors.SINGLE_FILE + " nor "
                    + Safetensors.INDEX_FILE + "; save the model with safe_serialization=True");
        }
        JsonNode config = json(dir.resolve("config.json"));
        String type = config.path("model_type").asText("");
        if (!MODEL_TYPES.contains(type)) {
            throw new IllegalArgumentException(dir.resolve("config.json") + ": model_type '" + type
                    + "' is not supported as a generator; supported: " + String.join(", ", MODEL_TYPES));
        }
        for (JsonNode a : config.path("architectures")) {
            if (!a.asText().endsWith("ForCausalLM")) {
                throw new IllegalArgumentException(dir.resolve("config.json") + ": architectures has '" + a.asText()
                        + "'; the generator must be a *ForCausalLM checkpoint");
            }
        }
        TransformerConfig c;
        try {
            c = TransformerConfig.parse(config);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(dir.resolve("config.json") + ": " + e.getMessage(), e);
        }

        JsonNode tokConfig = json(dir.resolve(TOKENIZER_CONFIG));
        String template = chatTemplate(dir, tokConfig);
        String bos = tokenText(tokConfig.get("bos_token"));
        String eos = tokenText(tokConfig.get("eos_token"));

        Set<Long> stops = new LinkedHashSet<>();
        Path genConfig = dir.resolve(GENERATION_CONFIG);
        if (Files.isRegularFile(genConfig)) {
            ids(json(genConfig).get("eos_token_id"), stops);
        }
        ids(config.get("eos_token_id"), stops);
        Map<String, Long> tokenIds = tokenIds(dir, tokConfig);
        long largest =
                tokenIds.values().stream().mapToLong(Long::longValue).max().orElse(-1);
        if (largest >= c.vocabSize()) { // the embedding lookup would fail mid-run on such a token
            throw new IllegalArgumentException(dir + ": " + TOKENIZER + " has token id " + largest
                    + " but config.json's vocab_size is " + c.vocabSize() + "; the tokenizer is not this model's");
        }
        if (eos != null) {
            Long id = tokenIds.get(eos);
            if (id == null) {
                throw new IllegalArgumentException(
                        dir.resolve(TOKENIZER_CONFIG) + ": eos_token '" + eos + "' is not a token of " + TOKENIZER);
            }
            stops.add(id);
        }
        if (stops.isEmpty()) {
            throw new IllegalArgumentException(dir + ": no stop token: neither " + GENERATION_CONFIG
                    + " nor config.json has eos_token_id and " + TOKENIZER_CONFIG + " has no eos_token; add one");
        }
        for (long id : stops) {
            if (id < 0 || id >= c.vocabSize()) {
                throw new IllegalArgumentException(
                        dir + ": stop token id " + id + " is outside the vocabulary (0.." + (c.vocabSize() - 1) + ")");
            }
        }
        return new CausalLmCheckpoint(dir, c, template, bos, eos, stops);
    }

    /** A template for {@link ChatTemplate}: tokenizer_config's {@code chat_template} (a string, or a list whose
     * "default" entry counts), else chat_template.jinja. */
    private static String chatTemplate(Path dir, JsonNode tokConfig) {
        JsonNode t = tokConfig.get("chat_template");
        if (t != null && t.isTextual()) {
            return t.asText();
        }
        if (t != null && t.isArray()) {
            for (JsonNode named : t) {
                if (named.path("name").asText().equals("default")) {
                    return named.path("template").asText();
                }
            }
            throw new IllegalArgumentException(
                    dir.resolve(TOKENIZER_CONFIG) + ": chat_template lists no template named 'default'; add one");
        }
        Path file = dir.resolve(CHAT_TEMPLATE_FILE);
        if (Files.isRegularFile(file)) {
            try {
                return Files.readString(file);
            } catch (IOException e) {
                throw new IllegalArgumentException("cannot read " + file + ": " + e.getMessage(), e);
            }
        }
        throw new IllegalArgumentException(dir.resolve(TOKENIZER_CONFIG) + " has no chat_template (nor is there "
                + CHAT_TEMPLATE_FILE + "): the generator must be an instruction-tuned (chat) checkpoint");
    }

    /** A special token as tokenizer_config.json writes it: a string or {"content": ...}; null when absent. */
    private static String tokenText(JsonNode n) {
        if (n == null || n.isNull()) {
            return null;
        }
        return n.isTextual() ? n.asText() : n.path("content").asText(null);
    }

    private static void ids(JsonNode n, Set<Long> out) {
        if (n == null || n.isNull()) {
            return;
        }
        if (n.isArray()) {
            n.forEach(x -> out.add(x.asLong()));
        } else {
            out.add(n.asLong());
        }
    }

    /** Token text to id: tokenizer.json's added tokens and vocabulary, and tokenizer_config's added_tokens_decoder. */
    private static Map<String, Long> tokenIds(Path dir, JsonNode tokConfig) {
        Map<String, Long> ids = new HashMap<>();
        JsonNode tokenizer = json(dir.resolve(TOKENIZER));
        tokenizer.path("model").path("vocab").properties().forEach(e -> {
            if (e.getValue().canConvertToLong()) {
                ids.put(e.getKey(), e.getValue().asLong());
            }
        });
        tokenizer
                .path("added_tokens")
                .forEach(t -> ids.put(t.path("content").asText(), t.path("id").asLong()));
        tokConfig.path("added_tokens_decoder").properties().forEach(e -> {
            ids.put(e.getValue().path("content").asText(), Long.parseLong(e.getKey()));
        });
        return ids;
    }

    private static JsonNode json(Path file) {
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }
}
