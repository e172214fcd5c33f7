package dev.duoguard.trainer.export;

import ai.onnx.proto.OnnxMl.TensorProto;
import dev.duoguard.runtime.onnx.IncrementalDecoder;
import dev.duoguard.runtime.onnx.OnnxGraphBuilder;
import dev.duoguard.trainer.hf.Qwen2Weights;
import dev.duoguard.trainer.hf.TransformerConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * Writes a Qwen2/Llama-family sequence classifier as an ONNX graph with the bundle's contract: int64
 * {@code input_ids}/{@code attention_mask} [batch, tokens] (both dynamic) → float {@code logits} [batch, labels].
 * It computes exactly what {@code ReferenceClassifier} computes (positions from the mask, causal + padding mask,
 * last real token). Initializers of 1 MiB and more go to {@code model.onnx.data} (ONNX external data), so
 * 0.5B-parameter models stay under protobuf's 2 GB limit.
 *
 * <p>{@link #exportIncremental} writes the same classifier as an <b>incremental decoder</b> (a second graph, not
 * part of the bundle contract): it takes a reply's new tokens plus the key/value cache of the tokens before them and
 * returns the score of every new prefix. {@link IncrementalDecoder} documents its inputs and outputs.
 *
 * <p>Legend: B batch, T tokens, D hidden, H heads, Hkv key/value heads, G = H/Hkv, Dh head dim, I intermediate,
 * P past tokens, N new tokens.
 */
public final class OnnxClassifierExporter {

    public static final String DATA_FILE = "model.onnx.data";
    private static final long EXTERNAL_THRESHOLD = 1 << 20;

    private final Qwen2Weights w;
    private final TransformerConfig c;
    private final boolean fp16Weights;
    private final boolean incremental;
    private final OnnxGraphBuilder g;

    private OnnxClassifierExporter(Qwen2Weights w, boolean fp16Weights, boolean incremental) {
        this.w = w;
        this.c = w.config;
        this.fp16Weights = fp16Weights;
        this.incremental = incremental;
        this.g = new OnnxGraphBuilder(incremental ? "qwen2_incremental_classifier" : "qwen2_sequence_classifier");
    }

    public static void export(Qwen2Weights weights, Path modelFile, Map<String, String> metadata) throws IOException {
        export(weights, modelFile, metadata, false);
    }

    /**
     * @param fp16Weights store the weight matrices and embedding in FLOAT16 (half the file size, widened to fp32 by
     *                    Cast nodes at load; compute stays fp32), e.g. for a 0.5B model on a GPU
     */
    public static void export(Qwen2Weights weights, Path modelFile, Map<String, String> metadata, boolean fp16Weights)
            throws IOException {
        OnnxClassifierExporter e = new OnnxClassifierExporter(weights, fp16Weights, false);
        e.g.externalData(modelFile.resolveSibling(DATA_FILE), EXTERNAL_THRESHOLD);
        e.buildGraph();
        OnnxGraphBuilder.write(
                e.g.build("duoguard trainer " + OnnxClassifierExporter.class.getSimpleName(), metadata), modelFile);
    }

    /**
     * Writes the incremental-decoder variant to {@code modelFile} (by convention {@link
     * IncrementalDecoder#MODEL_FILE} next to a bundle's model.onnx), its large initializers to {@code modelFile}'s
     * name + ".data" so it never overwrites the bundle's {@link #DATA_FILE}. The metadata gets {@link
     * IncrementalDecoder#MAX_POSITIONS}: the rotary tables' length, the most tokens one reply can hold.
     */
    public static void exportIncremental(
            Qwen2Weights weights, Path modelFile, Map<String, String> metadata, boolean fp16Weights)
            throws IOException {
        OnnxClassifierExporter e = new OnnxClassifierExporter(weights, fp16Weights, true);
        e.g.externalData(modelFile.resolveSibling(modelFile.getFileName() + ".data"), EXTERNAL_THRESHOLD);
        e.buildIncrementalGraph();
        Map<String, String> meta = new HashMap<>(metadata);
        meta.put(IncrementalDecoder.MAX_POSITIONS, Integer.toString(weights.config.tabulatedPositions()));
        OnnxGraphBuilder.write(
                e.g.build("duoguard trainer " + OnnxClassifierExporter.class.getSimpleName(), meta), modelFile);
    }

    private void buildGraph() {
        int d = c.hiddenSize();
        int dh = c.headDim();
        g.input("input_ids", TensorProto.DataType.INT64, "batch", "tokens");
        g.input("attention_mask", TensorProto.DataType.INT64, "batch", "tokens");
        g.output("logits", TensorProto.DataType.FLOAT, "batch", (long) c.numLabels());

        constants();

        // positions = max(cumsum(mask) - 1, 0): real tokens count from 0 whatever the padding side     (B, T)
        g.node("CumSum", "mask_cumsum", "attention_mask", "i_one");
        g.node("Sub", "pos_raw", "mask_cumsum", "i_one");
        g.node("Max", "positions", "pos_raw", "i_zero");

        // rotary tables gathered by position, broadcast over heads                                     (B, T, 1, Dh)
        int tab = c.tabulatedPositions();
        float[][] cs = c.ropeTables(tab);
        g.floatInitializer("rope_cos", cs[0], tab, dh);
        g.floatInitializer("rope_sin", cs[1], tab, dh);
        g.node("Gather", "cos_bt", Map.of("axis", 0L), "rope_cos", "positions");
        g.node("Gather", "sin_bt", Map.of("axis", 0L), "rope_sin", "positions");
        g.node("Unsqueeze", "cos", "cos_bt", "ax2");
        g.node("Unsqueeze", "sin", "sin_bt", "ax2");

        // attention bias: 0 where the key is visible (causal and not padding), -1e9 elsewhere            (B, 1, T, T)
        g.node("Shape", "ids_shape", "input_ids");
        g.node("Gather", "seq_len", Map.of("axis", 0L), "ids_shape", "i_one"); // scalar T
        g.node("Range", "arange", "i_zero", "seq_len", "i_one"); // (T)
        g.node("Unsqueeze", "arange_col", "arange", "ax_last"); // (T, 1)
        g.node("LessOrEqual", "causal", "arange", "arange_col"); // (T, T): key <= query
        g.node("Cast", "key_ok_b", Map.of("to", (long) TensorProto.DataType.BOOL.getNumber()), "attention_mask");
        g.longInitializer("ax12", new long[] {1, 2}, 2);
        g.node("Unsqueeze", "key_ok", "key_ok_b", "ax12"); // (B, 1, 1, T)
        g.node("And", "visible", "causal", "key_ok"); // (B, 1, T, T)
        g.node("Where", "attn_bias", "visible", "f_zero", "f_neg_big");

        weight("embed", w.embed, c.vocabSize(), d);
        String x = g.node("Gather", "x0", Map.of("axis", 0L), "embed", "input_ids"); // (B, T, D)
        for (int i = 0; i < w.layers.length; i++) {
            x = layer(i, w.layers[i], x);
        }
        String hN = rmsNorm("final_norm", x, w.finalNorm);

        // hidden state of the last real token: one-hot over T of argmax(arange * mask)                 (B, D)
        g.node("Mul", "pos_masked", "arange", "attention_mask"); // (B, T)
        g.node("Cast", "pos_masked_f", Map.of("to", (long) TensorProto.DataType.FLOAT.getNumber()), "pos_masked");
        g.node("ArgMax", "last_idx", Map.of("axis", 1L, "keepdims", 1L), "pos_masked_f"); // (B, 1)
        g.node("Equal", "is_last_b", "arange", "last_idx"); // (B, T)
        g.node("Cast", "is_last", Map.of("to", (long) TensorProto.DataType.FLOAT.getNumber()), "is_last_b");
        g.node("Unsqueeze", "is_last_3d", "is_last", "ax_last"); // (B, T, 1)
        g.node("Mul", "last_only", hN, "is_last_3d");
        g.node("ReduceSum", "h_last", Map.of("keepdims", 0L), "last_only", "ax1"); // (B, D)
        weight("score_t", transpose(w.score, c.numLabels(), d), d, c.numLabels());
        g.node("MatMul", "logits", "h_last", "score_t"); // (B, L)
    }

    private void constants() {
        g.longInitializer("i_zero", new long[] {0});
        g.longInitializer("i_one", new long[] {1});
        g.longInitializer("ax1", new long[] {1}, 1);
        g.longInitializer("ax2", new long[] {2}, 1);
        g.longInitializer("ax_last", new long[] {-1}, 1);
        g.floatInitializer("f_eps", new float[] {(float) c.rmsNormEps()});
        g.floatInitializer("f_two", new float[] {2f});
        g.floatInitializer("f_neg_big", new float[] {-1e9f});
        g.floatInitializer("f_zero", new float[] {0f});
        g.floatInitializer("f_scale", new float[] {(float) (1 / Math.sqrt(c.headDim()))});
    }

    /**
     * The incremental graph: the same layers, with each layer's rotated keys and values appended to the past ones
     * ({@code present.N.*} = past ++ new), queries of the N new tokens against all P+N keys, positions P..P+N-1 taken
     * from the mask (so they continue from the past length), and the head applied at every new position. It is
     * written for any batch (padding only in the past, marked by the mask), but {@link IncrementalDecoder} runs one
     * reply per call, and batch 1 is what is tested.
     */
    private void buildIncrementalGraph() {
        int dh = c.headDim();
        g.input("input_ids", TensorProto.DataType.INT64, "batch", "new_tokens");
        g.input("attention_mask", TensorProto.DataType.INT64, "batch", "total_tokens");
        for (int i = 0; i < w.layers.length; i++) {
            for (String past : new String[] {IncrementalDecoder.pastKey(i), IncrementalDecoder.pastValue(i)}) {
                g.input(past, TensorProto.DataType.FLOAT, "batch", (long) c.kvHeads(), "past_tokens", (long) dh);
            }
        }
        g.output("logits", TensorProto.DataType.FLOAT, "batch", (long) c.numLabels());
        g.output(IncrementalDecoder.POSITION_LOGITS, TensorProto.DataType.FLOAT, "batch", "new_tokens", (long)
                c.numLabels());
        for (int i = 0; i < w.layers.length; i++) {
            for (String present : new String[] {IncrementalDecoder.presentKey(i), IncrementalDecoder.presentValue(i)}) {
                g.output(present, TensorProto.DataType.FLOAT, "batch", (long) c.kvHeads(), "total_tokens", (long) dh);
            }
        }
        constants();
        g.longInitializer("ax0", new long[] {0}, 1);
        g.longInitializer("i_last", new long[] {-1});

        // lengths: N new, P+N total, P = total - new                                                    (scalars)
        g.node("Shape", "ids_shape", "input_ids");
        g.node("Gather", "new_len", Map.of("axis", 0L), "ids_shape", "i_one");
        g.node("Shape", "mask_shape", "attention_mask");
        g.node("Gather", "total_len", Map.of("axis", 0L), "mask_shape", "i_one");
        g.node("Sub", "past_len", "total_len", "new_len");

        // positions of the new tokens: max(cumsum(mask) - 1, 0) over all tokens, the last N columns         (B, N)
        g.node("CumSum", "mask_cumsum", "attention_mask", "i_one");
        g.node("Sub", "pos_raw", "mask_cumsum", "i_one");
        g.node("Max", "positions_all", "pos_raw", "i_zero");
        g.node("Unsqueeze", "past_len_1d", "past_len", "ax0");
        g.node("Unsqueeze", "total_len_1d", "total_len", "ax0");
        g.node("Slice", "positions", "positions_all", "past_len_1d", "total_len_1d", "ax1");
        int tab = c.tabulatedPositions();
        float[][] cs = c.ropeTables(tab);
        g.floatInitializer("rope_cos", cs[0], tab, dh);
        g.floatInitializer("rope_sin", cs[1], tab, dh);
        g.node("Gather", "cos_bt", Map.of("axis", 0L), "rope_cos", "positions");
        g.node("Gather", "sin_bt", Map.of("axis", 0L), "rope_sin", "positions");
        g.node("Unsqueeze", "cos", "cos_bt", "ax2"); // (B, N, 1, Dh)
        g.node("Unsqueeze", "sin", "sin_bt", "ax2");

        // attention bias: new query q (absolute index P+q) sees key k when k <= P+q and k is not padding (B, 1, N, P+N)
        g.node("Range", "query_abs", "past_len", "total_len", "i_one"); // (N)
        g.node("Range", "key_idx", "i_zero", "total_len", "i_one"); // (P+N)
        g.node("Unsqueeze", "query_col", "query_abs", "ax_last"); // (N, 1)
        g.node("LessOrEqual", "causal", "key_idx", "query_col"); // (N, P+N)
        g.node("Cast", "key_ok_b", Map.of("to", (long) TensorProto.DataType.BOOL.getNumber()), "attention_mask");
        g.longInitializer("ax12", new long[] {1, 2}, 2);
        g.node("Unsqueeze", "key_ok", "key_ok_b", "ax12"); // (B, 1, 1, P+N)
        g.node("And", "visible", "causal", "key_ok");
        g.node("Where", "attn_bias", "visible", "f_zero", "f_neg_big");

        weight("embed", w.embed, c.vocabSize(), c.hiddenSize());
        String x = g.node("Gather", "x0", Map.of("axis", 0L), "embed", "input_ids"); // (B, N, D)
        for (int i = 0; i < w.layers.length; i++) {
            x = layer(i, w.layers[i], x);
        }
        String hN = rmsNorm("final_norm", x, w.finalNorm);
        weight("score_t", transpose(w.score, c.numLabels(), c.hiddenSize()), c.hiddenSize(), c.numLabels());
        g.node("MatMul", IncrementalDecoder.POSITION_LOGITS, hN, "score_t"); // (B, N, L)
        g.node("Gather", "logits", Map.of("axis", 1L), IncrementalDecoder.POSITION_LOGITS, "i_last"); // (B, L)
    }

    private String layer(int i, Qwen2Weights.Layer l, String x) {
        int d = c.hiddenSize();
        int dh = c.headDim();
        int qDim = c.heads() * dh;
        int kvDim = c.kvHeads() * dh;
        String p = "l" + i + "_";
        String h = rmsNorm(p + "in_norm", x, l.inputNorm); // (B, T, D)
        String q = linear(p + "q", h, l.q, l.qBias, qDim, d); // (B, T, H*Dh)
        String k = linear(p + "k", h, l.k, l.kBias, kvDim, d); // (B, T, Hkv*Dh)
        String v = linear(p + "v", h, l.v, l.vBias, kvDim, d);
        g.longInitializer(p + "q_shape", new long[] {0, 0, c.heads(), dh}, 4);
        g.longInitializer(p + "kv_shape", new long[] {0, 0, c.kvHeads(), dh}, 4);
        String q4 = g.node("Reshape", p + "q4", q, p + "q_shape"); // (B, T, H, Dh)
        String k4 = g.node("Reshape", p + "k4", k, p + "kv_shape"); // (B, T, Hkv, Dh)
        String v4 = g.node("Reshape", p + "v4", v, p + "kv_shape");
        String qr = rope(p + "q", q4);
        String kr = rope(p + "k", k4);
        long[] bhtd = {0, 2, 1, 3};
        String qt = g.node("Transpose", p + "qt", Map.of("perm", bhtd), qr); // (B, H, T, Dh)
        String kt = g.node("Transpose", p + "kt", Map.of("perm", bhtd), kr); // (B, Hkv, T, Dh)
        String vt = g.node("Transpose", p + "vt", Map.of("perm", bhtd), v4);
        if (incremental) { // the cache holds rotated keys and values before the GQA repeat      (B, Hkv, P+N, Dh)
            kt = g.node(
                    "Concat", IncrementalDecoder.presentKey(i), Map.of("axis", 2L), IncrementalDecoder.pastKey(i), kt);
            vt = g.node(
                    "Concat",
                    IncrementalDecoder.presentValue(i),
                    Map.of("axis", 2L),
                    IncrementalDecoder.pastValue(i),
                    vt);
        }
        if (c.kvGroups() > 1) { // GQA: repeat each KV head G times
            kt = repeatKv(p + "k", kt);
            vt = repeatKv(p + "v", vt); // (B, H, T, Dh)
        }
        String kT = g.node("Transpose", p + "kT", Map.of("perm", new long[] {0, 1, 3, 2}), kt); // (B, H, Dh, T)
        String scores = g.node("MatMul", p + "scores_raw", qt, kT); // (B, H, T, T)
        g.node("Mul", p + "scores_scaled", scores, "f_scale");
        g.node("Add", p + "scores", p + "scores_scaled", "attn_bias");
        g.node("Softmax", p + "probs", Map.of("axis", -1L), p + "scores");
        g.node("MatMul", p + "ctx", p + "probs", vt); // (B, H, T, Dh)
        g.node("Transpose", p + "ctx_t", Map.of("perm", bhtd), p + "ctx"); // (B, T, H, Dh)
        g.longInitializer(p + "ctx_shape", new long[] {0, 0, qDim}, 3);
        g.node("Reshape", p + "ctx_flat", p + "ctx_t", p + "ctx_shape"); // (B, T, H*Dh)
        String attn = linear(p + "o", p + "ctx_flat", l.o, null, d, qDim);
        String x1 = g.node("Add", p + "resid1", x, attn); // residual
        String h2 = rmsNorm(p + "post_norm", x1, l.postNorm);
        String gate = linear(p + "gate", h2, l.gate, null, c.intermediateSize(), d); // (B, T, I)
        String up = linear(p + "up", h2, l.up, null, c.intermediateSize(), d);
        g.node("Sigmoid", p + "gate_sig", gate);
        g.node("Mul", p + "gate_silu", gate, p + "gate_sig"); // SiLU
        g.node("Mul", p + "swiglu", p + "gate_silu", up);
        String down = linear(p + "down", p + "swiglu", l.down, null, d, c.intermediateSize());
        return g.node("Add", p + "resid2", x1, down); // residual
    }

    /** A weight matrix: fp32, or fp16 widened by a Cast when exporting with fp16 weights. */
    private void weight(String name, float[] values, long... dims) {
        if (fp16Weights) {
            g.float16Initializer(name, values, dims);
        } else {
            g.floatInitializer(name, values, dims);
        }
    }

    /** x / sqrt(mean(x²) + eps) * weight over the last axis. */
    private String rmsNorm(String name, String x, float[] weight) {
        g.floatInitializer(name + "_w", weight, weight.length);
        g.node("Pow", name + "_sq", x, "f_two");
        g.node("ReduceMean", name + "_ms", Map.of("axes", new long[] {-1}, "keepdims", 1L), name + "_sq");
        g.node("Add", name + "_mse", name + "_ms", "f_eps");
        g.node("Sqrt", name + "_rms", name + "_mse");
        g.node("Div", name + "_normed", x, name + "_rms");
        return g.node("Mul", name, name + "_normed", name + "_w");
    }

    /** x W^T (+ b), with W in Hugging Face's [out, in] layout stored transposed for MatMul. */
    private String linear(String name, String x, float[] weight, float[] bias, int out, int in) {
        weight(name + "_wt", transpose(weight, out, in), in, out);
        String y = g.node("MatMul", bias == null ? name + "_out" : name + "_mm", x, name + "_wt");
        if (bias == null) {
            return y;
        }
        g.floatInitializer(name + "_b", bias, out);
        return g.node("Add", name + "_out", y, name + "_b");
    }

    /** Rotate-half RoPE on (B, T, heads, Dh): x cos + rotate_half(x) sin, rotate_half(x) = [-x2, x1]. */
    private String rope(String name, String x) {
        int dh = c.headDim();
        g.longInitializer(name + "_lo", new long[] {0}, 1);
        g.longInitializer(name + "_mid", new long[] {dh / 2}, 1);
        g.longInitializer(name + "_hi", new long[] {dh}, 1);
        g.longInitializer(name + "_axis", new long[] {3}, 1);
        g.node("Slice", name + "_x1", x, name + "_lo", name + "_mid", name + "_axis");
        g.node("Slice", name + "_x2", x, name + "_mid", name + "_hi", name + "_axis");
        g.node("Neg", name + "_nx2", name + "_x2");
        g.node("Concat", name + "_rot", Map.of("axis", 3L), name + "_nx2", name + "_x1");
        g.node("Mul", name + "_xcos", x, "cos");
        g.node("Mul", name + "_rsin", name + "_rot", "sin");
        return g.node("Add", name + "_rope", name + "_xcos", name + "_rsin");
    }

    /** (B, Hkv, T, Dh) → (B, Hkv*G, T, Dh), each KV head repeated G times in place (Hugging Face's repeat_kv). */
    private String repeatKv(String name, String x) {
        int dh = c.headDim();
        g.node("Unsqueeze", name + "_5d", x, "ax2"); // (B, Hkv, 1, T, Dh)
        g.longInitializer(name + "_reps", new long[] {1, 1, c.kvGroups(), 1, 1}, 5);
        g.node("Tile", name + "_tiled", name + "_5d", name + "_reps"); // (B, Hkv, G, T, Dh)
        g.longInitializer(name + "_rep_shape", new long[] {0, c.heads(), -1, dh}, 4);
        return g.node("Reshape", name + "_rep", name + "_tiled", name + "_rep_shape");
    }

    static float[] transpose(float[] m, int rows, int cols) {
        float[] t = new float[m.length];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                t[c * rows + r] = m[r * cols + c];
            }
        }
        return t;
    }
}
