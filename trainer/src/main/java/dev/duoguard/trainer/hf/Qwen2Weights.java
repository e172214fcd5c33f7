package dev.duoguard.trainer.hf;

import java.util.Arrays;
import java.util.Map;

/**
 * The weights of a Qwen2/Llama-family sequence classifier, looked up by their Hugging Face names in one place
 * and checked against the config. Linear weights keep Hugging Face's [out, in] layout.
 *
 * <p>Legend: V vocab, D hidden, H heads, Hkv key/value heads, Dh head dim, I intermediate, L labels.
 */
public final class Qwen2Weights {

    public final TransformerConfig config;
    public final float[] embed; // (V, D)
    public final Layer[] layers;
    public final float[] finalNorm; // (D)
    public final float[] score; // (L, D), bias-free

    public static final class Layer {
        public float[] inputNorm; // (D)
        public float[] q, qBias; // (H*Dh, D), (H*Dh) or null
        public float[] k, kBias; // (Hkv*Dh, D), (Hkv*Dh) or null
        public float[] v, vBias; // (Hkv*Dh, D), (Hkv*Dh) or null
        public float[] o; // (D, H*Dh)
        public float[] postNorm; // (D)
        public float[] gate, up; // (I, D)
        public float[] down; // (D, I)
    }

    public Qwen2Weights(TransformerConfig c, Map<String, Tensor> t) {
        if (c.numLabels() <= 0) {
            throw new IllegalArgumentException(
                    "the config has no num_labels/id2label: not a sequence-classification checkpoint");
        }
        this.config = c;
        int d = c.hiddenSize();
        int qDim = c.heads() * c.headDim();
        int kvDim = c.kvHeads() * c.headDim();
        embed = get(t, "model.embed_tokens.weight", c.vocabSize(), d);
        finalNorm = get(t, "model.norm.weight", d);
        score = get(t, "score.weight", c.numLabels(), d);
        layers = new Layer[c.layers()];
        for (int i = 0; i < c.layers(); i++) {
            String p = "model.layers." + i + ".";
            Layer l = new Layer();
            l.inputNorm = get(t, p + "input_layernorm.weight", d);
            l.q = get(t, p + "self_attn.q_proj.weight", qDim, d);
            l.k = get(t, p + "self_attn.k_proj.weight", kvDim, d);
            l.v = get(t, p + "self_attn.v_proj.weight", kvDim, d);
            if (c.attentionBias()) {
                l.qBias = get(t, p + "self_attn.q_proj.bias", qDim);
                l.kBias = get(t, p + "self_attn.k_proj.bias", kvDim);
                l.vBias = get(t, p + "self_attn.v_proj.bias", kvDim);
            }
            l.o = get(t, p + "self_attn.o_proj.weight", d, qDim);
            l.postNorm = get(t, p + "post_attention_layernorm.weight", d);
            l.gate = get(t, p + "mlp.gate_proj.weight", c.intermediateSize(), d);
            l.up = get(t, p + "mlp.up_proj.weight", c.intermediateSize(), d);
            l.down = get(t, p + "mlp.down_proj.weight", d, c.intermediateSize());
            layers[i] = l;
        }
    }

    private static float[] get(Map<String, Tensor> tensors, String name, long... shape) {
        Tensor t = tensors.get(name);
        if (t == null) {
            throw new IllegalArgumentException(
                    "checkpoint is missing tensor " + name + " (expected shape " + Arrays.toString(shape) + ")");
        }
        return t.requireShape(shape).data();
    }
}
