package dev.duoguard.trainer.hf;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The shape of a BERT-family encoder (BERT, MiniLM, RoBERTa, XLM-RoBERTa), parsed from a Hugging Face
 * {@code config.json} and checked once: post-LN blocks, exact (erf) GELU, learned absolute positions, token types.
 *
 * <p>Parameter names are Hugging Face's ({@code bert.encoder.layer.0.attention.self.query.weight}, ...), under the
 * prefix {@link #prefix()} ({@code bert} or {@code roberta}); {@link #layout} lists them with their shapes.
 *
 * <p>Heads ({@link Pooling}):
 * <ul>
 *   <li>{@code CLS}: Hugging Face's own sequence classifiers. BERT: {@code bert.pooler.dense} + tanh on the first
 *       token, then {@code classifier}; RoBERTa/XLM-R: {@code classifier.dense} + tanh on the first token, then
 *       {@code classifier.out_proj} (the same computation under other names);</li>
 *   <li>{@code MEAN}: mean of the last hidden states over real tokens, then {@code classifier} — how sentence
 *       encoders such as all-MiniLM-L6-v2 were trained, so the project's fine-tunes of them use it. Stored in
 *       {@code config.json} as {@code "duoguard_pooling": "mean"} (Hugging Face's own classes do not read it).</li>
 * </ul>
 *
 * @param modelType      "bert" or "xlm-roberta" / "roberta"
 * @param layerNormEps   LayerNorm epsilon
 * @param padTokenId     pad id; RoBERTa positions start at {@code padTokenId + 1}
 * @param typeVocabSize  token types (inputs here are always type 0)
 * @param numLabels      classification outputs (0: encoder only)
 */
public record EncoderConfig(
        String modelType,
        int vocabSize,
        int hiddenSize,
        int layers,
        int heads,
        int intermediateSize,
        int maxPositions,
        int typeVocabSize,
        double layerNormEps,
        long padTokenId,
        Pooling pooling,
        int numLabels) {

    public enum Pooling {
        CLS,
        MEAN
    }

    public EncoderConfig {
        require(
                modelType != null && (isBert(modelType) || isRoberta(modelType)),
                "model_type must be bert, roberta or xlm-roberta but is " + modelType);
        require(vocabSize > 0, "vocab_size must be positive but is " + vocabSize);
        require(hiddenSize > 0, "hidden_size must be positive but is " + hiddenSize);
        require(layers > 0, "num_hidden_layers must be positive but is " + layers);
        require(
                heads > 0 && hiddenSize % heads == 0,
                "hidden_size (" + hiddenSize + ") must be divisible by num_attention_heads (" + heads + ")");
        require(intermediateSize > 0, "intermediate_size must be positive but is " + intermediateSize);
        require(maxPositions > 0, "max_position_embeddings must be positive but is " + maxPositions);
        require(typeVocabSize > 0, "type_vocab_size must be positive but is " + typeVocabSize);
        require(layerNormEps > 0 && layerNormEps < 1, "layer_norm_eps must be in (0, 1) but is " + layerNormEps);
        require(padTokenId >= 0 && padTokenId < vocabSize, "pad_token_id must be a token id but is " + padTokenId);
        require(pooling != null, "pooling must be set");
        require(numLabels >= 0, "num_labels must not be negative but is " + numLabels);
        // Fields are assigned after a compact constructor's body, so the check cannot call maxUsableTokens().
        require(
                maxPositions - (isBert(modelType) ? 0 : padTokenId + 1) > 0,
                "max_position_embeddings " + maxPositions + " leaves no position for tokens");
    }

    private static boolean isBert(String t) {
        return t.equals("bert");
    }

    private static boolean isRoberta(String t) {
        return t.equals("roberta") || t.equals("xlm-roberta");
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException("invalid encoder config: " + message);
        }
    }

    /** Parameter-name prefix of the encoder: {@code bert} or {@code roberta}. */
    public String prefix() {
        return isBert(modelType) ? "bert" : "roberta";
    }

    /** Position id of the first token: 0 for BERT, {@code pad + 1} for RoBERTa (Hugging Face's convention). */
    public int positionOffset() {
        return isBert(modelType) ? 0 : (int) padTokenId + 1;
    }

    /** Longest row (special tokens included) the position table can hold. */
    public int maxUsableTokens() {
        return maxPositions - (isBert(modelType) ? 0 : (int) padTokenId + 1);
    }

    public int headDim() {
        return hiddenSize / heads;
    }

    /** This config with a {@code labels}-way head pooled by {@code pooling}. */
    public EncoderConfig withClassifierHead(int labels, Pooling pooling) {
        return new EncoderConfig(
                modelType,
                vocabSize,
                hiddenSize,
                layers,
                heads,
                intermediateSize,
                maxPositions,
                typeVocabSize,
                layerNormEps,
                padTokenId,
                pooling,
                labels);
    }

    /** True when {@code config.json} describes a BERT-family encoder (its {@code model_type}). */
    public static boolean isEncoder(JsonNode json) {
        String t = json.path("model_type").asText("").toLowerCase(Locale.ROOT);
        return isBert(t) || isRoberta(t);
    }

    public static EncoderConfig read(Path configJson) throws IOException {
        return parse(new ObjectMapper().readTree(configJson.toFile()));
    }

    /** Parses a Hugging Face config; refuses options the engine does not implement, by key. */
    public static EncoderConfig parse(JsonNode j) {
        String type = j.path("model_type").asText("").toLowerCase(Locale.ROOT);
        String act = j.path("hidden_act").asText("gelu");
        require(act.equals("gelu"), "hidden_act '" + act + "' is not supported (only exact gelu)");
        String positions = j.path("position_embedding_type").asText("absolute");
        require(positions.equals("absolute"), "position_embedding_type '" + positions + "' is not supported");
        int labels = j.has("id2label")
                ? j.get("id2label").size()
                : j.path("num_labels").asInt(0);
        Pooling pooling =
                j.path("duoguard_pooling").asText("cls").equalsIgnoreCase("mean") ? Pooling.MEAN : Pooling.CLS;
        return new EncoderConfig(
                type,
                need(j, "vocab_size"),
                need(j, "hidden_size"),
                need(j, "num_hidden_layers"),
                need(j, "num_attention_heads"),
                need(j, "intermediate_size"),
                need(j, "max_position_embeddings"),
                j.path("type_vocab_size").asInt(2),
                j.path("layer_norm_eps").asDouble(1e-12),
                j.path("pad_token_id").asLong(isBert(type) ? 0 : 1),
                pooling,
                labels);
    }

    private static int need(JsonNode j, String key) {
        require(j.hasNonNull(key) && j.get(key).canConvertToInt(), "config.json has no integer '" + key + "'");
        return j.get(key).asInt();
    }

    /** A Hugging Face {@code config.json} for this encoder (with DuoGuard's 12 labels when it has a head). */
    public ObjectNode toJson() {
        ObjectMapper om = new ObjectMapper();
        ObjectNode o = om.createObjectNode();
        String arch = (isBert(modelType) ? "Bert" : modelType.equals("roberta") ? "Roberta" : "XLMRoberta")
                + (numLabels > 0 ? "ForSequenceClassification" : "Model");
        o.putArray("architectures").add(arch);
        o.put("model_type", modelType);
        o.put("vocab_size", vocabSize);
        o.put("hidden_size", hiddenSize);
        o.put("num_hidden_layers", layers);
        o.put("num_attention_heads", heads);
        o.put("intermediate_size", intermediateSize);
        o.put("hidden_act", "gelu");
        o.put("max_position_embeddings", maxPositions);
        o.put("type_vocab_size", typeVocabSize);
        o.put("layer_norm_eps", layerNormEps);
        o.put("pad_token_id", padTokenId);
        o.put("position_embedding_type", "absolute");
        if (numLabels > 0) {
            o.put("problem_type", "multi_label_classification");
            o.put("duoguard_pooling", pooling.name().toLowerCase(Locale.ROOT));
            ObjectNode id2label = o.putObject("id2label");
            ObjectNode label2id = o.putObject("label2id");
            for (int i = 0; i < numLabels; i++) {
                String name =
                        numLabels == SafetyCategory.COUNT ? SafetyCategory.values()[i].displayName() : "LABEL_" + i;
                id2label.put(Integer.toString(i), name);
                label2id.put(name, i);
            }
        }
        return o;
    }

    /** Every parameter's Hugging Face name and shape ({@code out, in} for linear weights), head included if any. */
    public Map<String, long[]> layout() {
        long d = hiddenSize;
        Map<String, long[]> m = new LinkedHashMap<>();
        String e = prefix() + ".embeddings.";
        m.put(e + "word_embeddings.weight", new long[] {vocabSize, d});
        m.put(e + "position_embeddings.weight", new long[] {maxPositions, d});
        m.put(e + "token_type_embeddings.weight", new long[] {typeVocabSize, d});
        m.put(e + "LayerNorm.weight", new long[] {d});
        m.put(e + "LayerNorm.bias", new long[] {d});
        for (int i = 0; i < layers; i++) {
            String l = prefix() + ".encoder.layer." + i + ".";
            for (String p : new String[] {
                "attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"
            }) {
                m.put(l + p + ".weight", new long[] {d, d});
                m.put(l + p + ".bias", new long[] {d});
            }
            m.put(l + "attention.output.LayerNorm.weight", new long[] {d});
            m.put(l + "attention.output.LayerNorm.bias", new long[] {d});
            m.put(l + "intermediate.dense.weight", new long[] {intermediateSize, d});
            m.put(l + "intermediate.dense.bias", new long[] {intermediateSize});
            m.put(l + "output.dense.weight", new long[] {d, intermediateSize});
            m.put(l + "output.dense.bias", new long[] {d});
            m.put(l + "output.LayerNorm.weight", new long[] {d});
            m.put(l + "output.LayerNorm.bias", new long[] {d});
        }
        if (numLabels > 0) {
            m.putAll(headLayout());
        }
        return m;
    }

    /** The classification head's parameters: see {@link Pooling}. */
    public Map<String, long[]> headLayout() {
        long d = hiddenSize;
        Map<String, long[]> m = new LinkedHashMap<>();
        if (pooling == Pooling.CLS && isBert(modelType)) {
            m.put("bert.pooler.dense.weight", new long[] {d, d});
            m.put("bert.pooler.dense.bias", new long[] {d});
        } else if (pooling == Pooling.CLS) {
            m.put("classifier.dense.weight", new long[] {d, d});
            m.put("classifier.dense.bias", new long[] {d});
            m.put("classifier.out_proj.weight", new long[] {numLabels, d});
            m.put("classifier.out_proj.bias", new long[] {numLabels});
            return m;
        }
        m.put("classifier.weight", new long[] {numLabels, d});
        m.put("classifier.bias", new long[] {numLabels});
        return m;
    }

    /** Names of the (dense, output) pair of the CLS head, or null for MEAN pooling's single output layer. */
    public String[] clsHeadNames() {
        if (pooling != Pooling.CLS) {
            return null;
        }
        return isBert(modelType)
                ? new String[] {"bert.pooler.dense", "classifier"}
                : new String[] {"classifier.dense", "classifier.out_proj"};
    }

    /** The output layer's name: {@code classifier} or {@code classifier.out_proj}. */
    public String outputLayer() {
        return pooling == Pooling.CLS && !isBert(modelType) ? "classifier.out_proj" : "classifier";
    }
}
