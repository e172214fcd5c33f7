package dev.duoguard.trainer.hf;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;

/**
 * The shape of a Qwen2/Llama-family decoder, parsed from a Hugging Face {@code config.json} and checked once.
 * Derived values (head dim, KV groups) are computed here so no other class re-derives them.
 *
 * @param hiddenSize          D, model width
 * @param layers              number of decoder blocks
 * @param heads               H, query heads
 * @param kvHeads             Hkv, key/value heads (grouped-query attention when &lt; H)
 * @param intermediateSize    SwiGLU inner width
 * @param ropeTheta           RoPE base
 * @param rmsNormEps          RMSNorm epsilon
 * @param vocabSize           V
 * @param tieWordEmbeddings   LM head shares the embedding matrix
 * @param attentionBias       q/k/v projections have biases (Qwen2: yes, Llama: no)
 * @param maxPositions        longest supported sequence
 * @param padTokenId          pad id (DuoGuard: pad = eos), -1 when unset
 * @param numLabels           outputs of a sequence-classification head (0 when the checkpoint has none)
 * @param modelType           "qwen2", "llama", ...
 * @param ropeScaling         Llama 3's frequency scaling, or null for plain RoPE
 */
public record TransformerConfig(
        int hiddenSize,
        int layers,
        int heads,
        int kvHeads,
        int intermediateSize,
        double ropeTheta,
        double rmsNormEps,
        int vocabSize,
        boolean tieWordEmbeddings,
        boolean attentionBias,
        int maxPositions,
        long padTokenId,
        int numLabels,
        String modelType,
        RopeScaling ropeScaling) {

    /** Llama 3.x {@code rope_scaling} ("rope_type": "llama3"): long wavelengths slowed by {@code factor}, smoothly. */
    public record RopeScaling(double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions) {}

    public TransformerConfig(
            int hiddenSize,
            int layers,
            int heads,
            int kvHeads,
            int intermediateSize,
            double ropeTheta,
            double rmsNormEps,
            int vocabSize,
            boolean tieWordEmbeddings,
            boolean attentionBias,
            int maxPositions,
            long padTokenId,
            int numLabels,
            String modelType) {
        this(
                hiddenSize,
                layers,
                heads,
                kvHeads,
                intermediateSize,
                ropeTheta,
                rmsNormEps,
                vocabSize,
                tieWordEmbeddings,
                attentionBias,
                maxPositions,
                padTokenId,
                numLabels,
                modelType,
                null);
    }

    public TransformerConfig {
        require(hiddenSize > 0, "hidden_size must be positive but is " + hiddenSize);
        require(layers > 0, "num_hidden_layers must be positive but is " + layers);
        require(heads > 0, "num_attention_heads must be positive but is " + heads);
        require(
                kvHeads > 0 && heads % kvHeads == 0,
                "num_key_value_heads (" + kvHeads + ") must divide num_attention_heads (" + heads + ")");
        require(
                hiddenSize % heads == 0,
                "hidden_size (" + hiddenSize + ") must be divisible by num_attention_heads (" + heads + ")");
        require(
                (hiddenSize / heads) % 2 == 0,
                "head dim " + hiddenSize / heads + " must be even for rotary embeddings");
        require(intermediateSize > 0, "intermediate_size must be positive but is " + intermediateSize);
        require(ropeTheta > 0, "rope_theta must be positive but is " + ropeTheta);
        require(rmsNormEps > 0 && rmsNormEps < 1, "rms_norm_eps must be in (0, 1) but is " + rmsNormEps);
        require(vocabSize > 0, "vocab_size must be positive but is " + vocabSize);
        require(maxPositions > 0, "max_position_embeddings must be positive but is " + maxPositions);
        require(numLabels >= 0, "num_labels must not be negative but is " + numLabels);
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException("invalid transformer config: " + message);
        }
    }

    /** This config with a {@code labels}-way classification head and padding id {@code padId} (e.g. a base LM made a guardrail). */
    public TransformerConfig withClassifierHead(int labels, long padId) {
        return new TransformerConfig(
                hiddenSize,
                layers,
                heads,
                kvHeads,
                intermediateSize,
                ropeTheta,
                rmsNormEps,
                vocabSize,
                tieWordEmbeddings,
                attentionBias,
                maxPositions,
                padId,
                labels,
                modelType,
                ropeScaling);
    }

    /** Dh, the per-head width. */
    public int headDim() {
        return hiddenSize / heads;
    }

    /** Query heads per key/value head. */
    public int kvGroups() {
        return heads / kvHeads;
    }

    /**
     * Shapes for training from scratch on a CPU, in the Qwen2 family (q/k/v biases, GQA, tied embeddings):
     * {@code tiny} (~0.1M parameters besides the embedding: tests, the quick loop) and {@code small} (~4.7M: the
     * default model on 2 cores). Any other shape comes from a config.json.
     */
    public static TransformerConfig preset(String name, int vocabSize, int numLabels, long padTokenId) {
        return switch (name) {
            case "tiny" ->
                new TransformerConfig(
                        64, 2, 4, 2, 192, 10000.0, 1e-6, vocabSize, true, true, 512, padTokenId, numLabels, "qwen2");
            case "small" ->
                new TransformerConfig(
                        256, 6, 8, 4, 768, 10000.0, 1e-6, vocabSize, true, true, 1024, padTokenId, numLabels, "qwen2");
            default -> throw new IllegalArgumentException("unknown preset '" + name + "'; presets are tiny and small");
        };
    }

    /**
     * Rotary tables in Hugging Face's rotate-half layout: cos/sin [positions, Dh] row-major, where column j and
     * j + Dh/2 share the angle pos / theta^(2j/Dh).
     */
    public float[][] ropeTables(int positions) {
        int dh = headDim();
        float[] cos = new float[positions * dh];
        float[] sin = new float[positions * dh];
        int half = dh / 2;
        double[] inv = inverseFrequencies();
        for (int pos = 0; pos < positions; pos++) {
            for (int j = 0; j < half; j++) {
                double angle = pos * inv[j];
                cos[pos * dh + j] = cos[pos * dh + j + half] = (float) Math.cos(angle);
                sin[pos * dh + j] = sin[pos * dh + j + half] = (float) Math.sin(angle);
            }
        }
        return new float[][] {cos, sin};
    }

    /** Rotary positions that get tables: all of max_position_embeddings up to 32,768 (two tables of P x Dh floats). */
    public int tabulatedPositions() {
        return Math.min(maxPositions, 32768);
    }

    /** This config as a Hugging Face config.json (Qwen2ForSequenceClassification when it has labels). */
    public ObjectNode toJson() {
        var n = new ObjectMapper().createObjectNode();
        n.put("model_type", modelType.isEmpty() ? "qwen2" : modelType);
        if (numLabels > 0) {
            n.putArray("architectures").add("Qwen2ForSequenceClassification");
            var labels = n.putObject("id2label");
            for (int i = 0; i < numLabels; i++) {
                labels.put(Integer.toString(i), "LABEL_" + i);
            }
        }
        n.put("hidden_size", hiddenSize);
        n.put("num_hidden_layers", layers);
        n.put("num_attention_heads", heads);
        n.put("num_key_value_heads", kvHeads);
        n.put("intermediate_size", intermediateSize);
        n.put("rope_theta", ropeTheta);
        n.put("rms_norm_eps", rmsNormEps);
        n.put("vocab_size", vocabSize);
        n.put("tie_word_embeddings", tieWordEmbeddings);
        n.put("attention_bias", attentionBias);
        n.put("max_position_embeddings", maxPositions);
        n.put("hidden_act", "silu");
        if (padTokenId >= 0) {
            n.put("pad_token_id", padTokenId);
        }
        if (ropeScaling != null) {
            var rs = n.putObject("rope_scaling");
            rs.put("rope_type", "llama3");
            rs.put("factor", ropeScaling.factor());
            rs.put("low_freq_factor", ropeScaling.lowFreqFactor());
            rs.put("high_freq_factor", ropeScaling.highFreqFactor());
            rs.put("original_max_position_embeddings", ropeScaling.originalMaxPositions());
        }
        return n;
    }

    public static TransformerConfig read(Path configJson) {
        try {
            return parse(new ObjectMapper().readTree(configJson.toFile()));
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + configJson + ": " + e.getMessage(), e);
        }
    }

    public static TransformerConfig parse(JsonNode n) {
        String type = n.path("model_type").asText("");
        int hidden = required(n, "hidden_size");
        int heads = required(n, "num_attention_heads");
        String act = n.path("hidden_act").asText("silu");
        if (!act.equals("silu")) {
            throw new IllegalArgumentException(
                    "invalid transformer config: hidden_act '" + act + "' is not supported; Qwen2/Llama use silu");
        }
        int labels = n.has("num_labels")
                ? n.get("num_labels").asInt()
                : n.has("id2label") ? n.get("id2label").size() : 0;
        boolean bias = n.has("attention_bias") ? n.get("attention_bias").asBoolean() : type.equals("qwen2");
        // what the decoder here does not compute is refused, not silently ignored
        if (type.equals("llama") && bias) {
            throw new IllegalArgumentException("invalid transformer config: attention_bias true (Llama puts a bias on "
                    + "o_proj too) is not supported");
        }
        if (n.path("mlp_bias").asBoolean(false)) {
            throw new IllegalArgumentException("invalid transformer config: mlp_bias true is not supported");
        }
        if (n.path("use_sliding_window").asBoolean(false)) {
            throw new IllegalArgumentException(
                    "invalid transformer config: use_sliding_window true is not supported (full attention only)");
        }
        if (n.hasNonNull("head_dim") && n.get("head_dim").asInt() != hidden / heads) {
            throw new IllegalArgumentException("invalid transformer config: head_dim "
                    + n.get("head_dim").asInt() + " differs from hidden_size / num_attention_heads = " + hidden / heads
                    + "; not supported");
        }
        return new TransformerConfig(
                hidden,
                required(n, "num_hidden_layers"),
                heads,
                n.path("num_key_value_heads").asInt(heads),
                required(n, "intermediate_size"),
                n.path("rope_theta").asDouble(10000.0),
                n.path("rms_norm_eps").asDouble(1e-6),
                required(n, "vocab_size"),
                n.path("tie_word_embeddings").asBoolean(false),
                bias,
                n.path("max_position_embeddings").asInt(32768),
                n.hasNonNull("pad_token_id") ? n.get("pad_token_id").asLong() : -1,
                labels,
                type,
                ropeScaling(n.get("rope_scaling")));
    }

    private static RopeScaling ropeScaling(JsonNode s) {
        if (s == null || s.isNull()) {
            return null;
        }
        String type = s.path("rope_type").asText(s.path("type").asText("default"));
        return switch (type) {
            case "default" -> null;
            case "llama3" ->
                new RopeScaling(
                        s.path("factor").asDouble(8.0),
                        s.path("low_freq_factor").asDouble(1.0),
                        s.path("high_freq_factor").asDouble(4.0),
                        s.path("original_max_position_embeddings").asInt(8192));
            default ->
                throw new IllegalArgumentException("invalid transformer config: rope_scaling type '" + type
                        + "' is not supported; supported: default, llama3");
        };
    }

    /**
     * RoPE inverse frequencies, one per rotated pair: theta^(-2j/Dh), with Llama 3 scaling when configured
     * (wavelengths above original/low_freq_factor divided by factor, below original/high_freq_factor kept,
     * interpolated in between), as Hugging Face computes them.
     */
    public double[] inverseFrequencies() {
        int half = headDim() / 2;
        double[] inv = new double[half];
        for (int j = 0; j < half; j++) {
            inv[j] = 1 / Math.pow(ropeTheta, 2.0 * j / headDim());
            if (ropeScaling != null) {
                RopeScaling r = ropeScaling;
                double wavelen = 2 * Math.PI / inv[j];
                double lowFreqWavelen = r.originalMaxPositions() / r.lowFreqFactor();
                double highFreqWavelen = r.originalMaxPositions() / r.highFreqFactor();
                if (wavelen > lowFreqWavelen) {
                    inv[j] = inv[j] / r.factor();
                } else if (wavelen >= highFreqWavelen) {
                    double smooth = (r.originalMaxPositions() / wavelen - r.lowFreqFactor())
                            / (r.highFreqFactor() - r.lowFreqFactor());
                    inv[j] = (1 - smooth) * inv[j] / r.factor() + smooth * inv[j];
                }
            }
        }
        return inv;
    }

    private static int required(JsonNode n, String key) {
        JsonNode v = n.get(key);
        if (v == null || !v.canConvertToInt()) {
            throw new IllegalArgumentException(
                    "invalid transformer config: '" + key + "' is missing or not an integer");
        }
        return v.asInt();
    }
}
