package dev.duoguard.trainer.export;

import ai.onnx.proto.OnnxMl.TensorProto;
import dev.duoguard.runtime.onnx.OnnxGraphBuilder;
import dev.duoguard.trainer.hf.EncoderConfig;
import dev.duoguard.trainer.hf.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes a BERT-family sequence classifier ({@link EncoderConfig}: BERT, MiniLM, RoBERTa, XLM-R) as an ONNX graph
 * with the bundle's contract: int64 {@code input_ids}/{@code attention_mask} [batch, tokens] (both dynamic) → float
 * {@code logits} [batch, labels]. It computes Hugging Face's {@code BertForSequenceClassification} /
 * {@code XLMRobertaForSequenceClassification} forward pass (eval mode): embeddings + LayerNorm, post-LN blocks with
 * exact (erf) GELU, then the head of {@link EncoderConfig.Pooling}. Initializers of 1 MiB and more go to
 * {@code model.onnx.data} (ONNX external data).
 *
 * <p>Rows are expected right-padded, as the scorer builds them: positions are {@code offset .. offset + T - 1}
 * for every row. Hugging Face derives RoBERTa positions from the non-pad tokens, which gives the same numbers for
 * the real tokens of a right-padded row; padded positions never reach a real token (they are masked as keys).
 *
 * <p>Legend: B batch, T tokens, D hidden, H heads, Dh head dim, I intermediate, L labels.
 */
public final class OnnxEncoderExporter {

    public static final String DATA_FILE = OnnxClassifierExporter.DATA_FILE;
    private static final long EXTERNAL_THRESHOLD = 1 << 20;
    /**
     * Added to attention scores of padded keys. -1e4 (BERT's original value) rather than float's lowest: after
     * softmax's max-subtraction exp(-1e4 + s) underflows to exactly 0 in fp32 for any realistic score, so the
     * result equals Hugging Face's finfo.min masking, while it stays finite under further additions and is
     * representable in fp16, should the graph ever compute in half precision.
     */
    static final float MASK_VALUE = -1e4f;

    private final EncoderConfig c;
    private final Map<String, Tensor> w;
    private final boolean fp16Weights;
    private final OnnxGraphBuilder g = new OnnxGraphBuilder("bert_sequence_classifier");

    private OnnxEncoderExporter(EncoderConfig c, Map<String, Tensor> weights, boolean fp16Weights) {
        this.c = c;
        this.w = weights;
        this.fp16Weights = fp16Weights;
    }

    /**
     * @param weights     every tensor of {@link EncoderConfig#layout()} by Hugging Face name (extra tensors, such as
     *                    a pre-training head, are ignored); checked by name and shape before anything is written
     * @param fp16Weights store embeddings and weight matrices in FLOAT16 (widened to fp32 by Cast nodes at load;
     *                    compute stays fp32); biases and LayerNorms stay fp32
     */
    public static void export(
            EncoderConfig config,
            Map<String, Tensor> weights,
            Path modelFile,
            Map<String, String> metadata,
            boolean fp16Weights)
            throws IOException {
        if (config.numLabels() <= 0) {
            throw new IllegalArgumentException("the encoder config has no num_labels/id2label: not a sequence-"
                    + "classification checkpoint (add a classifier head first)");
        }
        Map<String, Tensor> resolved = resolve(config, weights);
        OnnxEncoderExporter e = new OnnxEncoderExporter(config, resolved, fp16Weights);
        e.g.externalData(modelFile.resolveSibling(DATA_FILE), EXTERNAL_THRESHOLD);
        e.buildGraph();
        OnnxGraphBuilder.write(
                e.g.build("duoguard trainer " + OnnxEncoderExporter.class.getSimpleName(), metadata), modelFile);
    }

    /**
     * Looks up every tensor the config needs, checking shapes. Two spellings that Hugging Face itself accepts on
     * load are accepted too: encoder tensors without the {@code bert.}/{@code roberta.} prefix (a bare
     * {@code BertModel} save) and TF-era LayerNorm {@code gamma}/{@code beta} names.
     */
    static Map<String, Tensor> resolve(EncoderConfig c, Map<String, Tensor> weights) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        String prefix = c.prefix() + ".";
        for (Map.Entry<String, long[]> e : c.layout().entrySet()) {
            String name = e.getKey();
            Tensor t = weights.get(name);
            if (t == null && name.startsWith(prefix)) {
                t = weights.get(name.substring(prefix.length()));
            }
            if (t == null && name.contains("LayerNorm.")) {
                String tf =
                        name.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta");
                t = weights.get(tf);
            }
            if (t == null) {
                throw new IllegalArgumentException("checkpoint is missing tensor " + name + " (expected shape "
                        + Arrays.toString(e.getValue()) + ") for a " + c.modelType() + " encoder with a "
                        + c.pooling() + " head");
            }
            if (!Arrays.equals(t.shape(), e.getValue())) {
                throw new IllegalArgumentException("tensor " + name + " has shape " + Arrays.toString(t.shape())
                        + " but config.json implies " + Arrays.toString(e.getValue()));
            }
            out.put(name, t);
        }
        return out;
    }

    private float[] get(String name) {
        return w.get(name).data();
    }

    private void buildGraph() {
        int d = c.hiddenSize();
        g.input("input_ids", TensorProto.DataType.INT64, "batch", "tokens");
        g.input("attention_mask", TensorProto.DataType.INT64, "batch", "tokens");
        g.output("logits", TensorProto.DataType.FLOAT, "batch", (long) c.numLabels());

        g.longInitializer("i_one", new long[] {1});
        g.longInitializer("ax12", new long[] {1, 2}, 2);
        g.floatInitializer("f_one", new float[] {1f});
        g.floatInitializer("f_half", new float[] {0.5f});
        g.floatInitializer("f_sqrt2", new float[] {(float) Math.sqrt(2)});
        g.floatInitializer("f_mask_value", new float[] {MASK_VALUE});
        g.floatInitializer("f_scale", new float[] {(float) (1 / Math.sqrt(c.headDim()))});

        // additive attention mask: 0 for real keys, MASK_VALUE for padding                               (B, 1, 1, T)
        g.node("Cast", "mask_f", Map.of("to", (long) TensorProto.DataType.FLOAT.getNumber()), "attention_mask");
        g.node("Sub", "mask_inv", "f_one", "mask_f");
        g.node("Mul", "mask_add_bt", "mask_inv", "f_mask_value");
        g.node("Unsqueeze", "mask_add", "mask_add_bt", "ax12");

        // embeddings: word + token type 0 + absolute position (offset .. offset + T - 1), then LayerNorm   (B, T, D)
        String e = c.prefix() + ".embeddings.";
        weight("word_emb", get(e + "word_embeddings.weight"), c.vocabSize(), d);
        weight("pos_emb", get(e + "position_embeddings.weight"), c.maxPositions(), d);
        g.floatInitializer("type0_emb", Arrays.copyOf(get(e + "token_type_embeddings.weight"), d), d);
        g.longInitializer("pos_start", new long[] {c.positionOffset()});
        g.node("Shape", "ids_shape", "input_ids");
        g.node("Gather", "seq_len", Map.of("axis", 0L), "ids_shape", "i_one"); // scalar T
        g.node("Add", "pos_end", "pos_start", "seq_len");
        g.node("Range", "positions", "pos_start", "pos_end", "i_one"); // (T)
        g.node("Gather", "pos_vecs", Map.of("axis", 0L), "pos_emb", "positions"); // (T, D)
        g.node("Gather", "word_vecs", Map.of("axis", 0L), "word_emb", "input_ids"); // (B, T, D)
        g.node("Add", "emb_wt", "word_vecs", "type0_emb"); // HF's order: word + type, then + position
        g.node("Add", "emb_sum", "emb_wt", "pos_vecs");
        String x = layerNorm("emb_ln", "emb_sum", e + "LayerNorm");

        for (int i = 0; i < c.layers(); i++) {
            x = layer(i, x);
        }

        String pooled;
        if (c.pooling() == EncoderConfig.Pooling.CLS) {
            // first token ([CLS] / <s>) → dense → tanh → output layer
            g.longInitializer("i_zero_scalar", new long[] {0});
            g.node("Gather", "h_first", Map.of("axis", 1L), x, "i_zero_scalar"); // (B, D)
            String[] head = c.clsHeadNames();
            String dense = linear("head_dense", "h_first", head[0], d, d);
            pooled = g.node("Tanh", "head_tanh", dense);
        } else {
            // masked mean: sum(h * mask) / max(sum(mask), 1)                                             (B, D)
            g.longInitializer("ax1", new long[] {1}, 1);
            g.longInitializer("ax_last", new long[] {-1}, 1);
            g.node("Unsqueeze", "mask_3d", "mask_f", "ax_last"); // (B, T, 1)
            g.node("Mul", "h_masked", x, "mask_3d");
            g.node("ReduceSum", "h_sum", Map.of("keepdims", 0L), "h_masked", "ax1"); // (B, D)
            g.node("ReduceSum", "mask_count", Map.of("keepdims", 1L), "mask_f", "ax1"); // (B, 1)
            g.node("Max", "mask_count_safe", "mask_count", "f_one");
            pooled = g.node("Div", "h_mean", "h_sum", "mask_count_safe");
        }
        String logits = linear("head_out", pooled, c.outputLayer(), c.numLabels(), d);
        g.node("Identity", "logits", logits);
    }

    /** One post-LN BERT block. */
    private String layer(int i, String x) {
        int d = c.hiddenSize();
        int dh = c.headDim();
        String hf = c.prefix() + ".encoder.layer." + i + ".";
        String p = "l" + i + "_";
        String q = linear(p + "q", x, hf + "attention.self.query", d, d); // (B, T, D)
        String k = linear(p + "k", x, hf + "attention.self.key", d, d);
        String v = linear(p + "v", x, hf + "attention.self.value", d, d);
        g.longInitializer(p + "heads_shape", new long[] {0, 0, c.heads(), dh}, 4);
        g.node("Reshape", p + "q4", q, p + "heads_shape"); // (B, T, H, Dh)
        g.node("Reshape", p + "k4", k, p + "heads_shape");
        g.node("Reshape", p + "v4", v, p + "heads_shape");
        g.node("Transpose", p + "qt", Map.of("perm", new long[] {0, 2, 1, 3}), p + "q4"); // (B, H, T, Dh)
        g.node("Transpose", p + "kT", Map.of("perm", new long[] {0, 2, 3, 1}), p + "k4"); // (B, H, Dh, T)
        g.node("Transpose", p + "vt", Map.of("perm", new long[] {0, 2, 1, 3}), p + "v4"); // (B, H, T, Dh)
        g.node("MatMul", p + "scores_raw", p + "qt", p + "kT"); // (B, H, T, T)
        g.node("Mul", p + "scores_scaled", p + "scores_raw", "f_scale");
        g.node("Add", p + "scores", p + "scores_scaled", "mask_add");
        g.node("Softmax", p + "probs", Map.of("axis", -1L), p + "scores");
        g.node("MatMul", p + "ctx", p + "probs", p + "vt"); // (B, H, T, Dh)
        g.node("Transpose", p + "ctx_t", Map.of("perm", new long[] {0, 2, 1, 3}), p + "ctx"); // (B, T, H, Dh)
        g.longInitializer(p + "ctx_shape", new long[] {0, 0, d}, 3);
        g.node("Reshape", p + "ctx_flat", p + "ctx_t", p + "ctx_shape"); // (B, T, D)
        String attn = linear(p + "attn_out", p + "ctx_flat", hf + "attention.output.dense", d, d);
        g.node("Add", p + "resid1", attn, x);
        String x1 = layerNorm(p + "ln1", p + "resid1", hf + "attention.output.LayerNorm");

        String inter = linear(p + "inter", x1, hf + "intermediate.dense", c.intermediateSize(), d); // (B, T, I)
        // exact GELU: 0.5 x (1 + erf(x / sqrt 2)); a Div, not a Mul by 1/sqrt 2: ONNX Runtime fuses this form
        // (with the bias Add before it) into one BiasGelu kernel
        g.node("Div", p + "gelu_scaled", inter, "f_sqrt2");
        g.node("Erf", p + "gelu_erf", p + "gelu_scaled");
        g.node("Add", p + "gelu_1p", p + "gelu_erf", "f_one");
        g.node("Mul", p + "gelu_x", inter, p + "gelu_1p");
        g.node("Mul", p + "gelu", p + "gelu_x", "f_half");
        String out = linear(p + "ffn_out", p + "gelu", hf + "output.dense", d, c.intermediateSize());
        g.node("Add", p + "resid2", out, x1);
        return layerNorm(p + "ln2", p + "resid2", hf + "output.LayerNorm");
    }

    /** x W^T + b for the Hugging Face linear layer {@code hfName} ([out, in] weight, stored transposed). */
    private String linear(String name, String x, String hfName, int out, int in) {
        weight(name + "_wt", OnnxClassifierExporter.transpose(get(hfName + ".weight"), out, in), in, out);
        g.floatInitializer(name + "_b", get(hfName + ".bias"), out);
        g.node("MatMul", name + "_mm", x, name + "_wt");
        return g.node("Add", name + "_out", name + "_mm", name + "_b");
    }

    private String layerNorm(String name, String x, String hfName) {
        g.floatInitializer(name + "_w", get(hfName + ".weight"), c.hiddenSize());
        g.floatInitializer(name + "_b", get(hfName + ".bias"), c.hiddenSize());
        return g.node(
                "LayerNormalization",
                name,
                Map.of("axis", -1L, "epsilon", (float) c.layerNormEps()),
                x,
                name + "_w",
                name + "_b");
    }

    /** A weight matrix: fp32, or fp16 widened by a Cast when exporting with fp16 weights. */
    private void weight(String name, float[] values, long... dims) {
        if (fp16Weights) {
            g.float16Initializer(name, values, dims);
        } else {
            g.floatInitializer(name, values, dims);
        }
    }
}
