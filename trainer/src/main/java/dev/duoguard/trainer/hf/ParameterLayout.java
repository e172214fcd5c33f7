package dev.duoguard.trainer.hf;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Every parameter of a Qwen2/Llama-family model by its Hugging Face name, with its shape, in checkpoint order:
 * the one place that maps names, so loading, saving and initialising agree.
 */
public final class ParameterLayout {

    private ParameterLayout() {}

    /**
     * @param classifier include {@code score.weight} [labels, D]
     * @param lmHead     include {@code lm_head.weight} [V, D] unless the config ties it to the embedding
     */
    public static Map<String, long[]> of(TransformerConfig c, boolean classifier, boolean lmHead) {
        Map<String, long[]> p = new LinkedHashMap<>();
        long d = c.hiddenSize();
        long qDim = (long) c.heads() * c.headDim();
        long kvDim = (long) c.kvHeads() * c.headDim();
        long inter = c.intermediateSize();
        p.put("model.embed_tokens.weight", new long[] {c.vocabSize(), d});
        for (int i = 0; i < c.layers(); i++) {
            String l = "model.layers." + i + ".";
            p.put(l + "input_layernorm.weight", new long[] {d});
            p.put(l + "self_attn.q_proj.weight", new long[] {qDim, d});
            p.put(l + "self_attn.k_proj.weight", new long[] {kvDim, d});
            p.put(l + "self_attn.v_proj.weight", new long[] {kvDim, d});
            if (c.attentionBias()) {
                p.put(l + "self_attn.q_proj.bias", new long[] {qDim});
                p.put(l + "self_attn.k_proj.bias", new long[] {kvDim});
                p.put(l + "self_attn.v_proj.bias", new long[] {kvDim});
            }
            p.put(l + "self_attn.o_proj.weight", new long[] {d, qDim});
            p.put(l + "post_attention_layernorm.weight", new long[] {d});
            p.put(l + "mlp.gate_proj.weight", new long[] {inter, d});
            p.put(l + "mlp.up_proj.weight", new long[] {inter, d});
            p.put(l + "mlp.down_proj.weight", new long[] {d, inter});
        }
        p.put("model.norm.weight", new long[] {d});
        if (classifier) {
            p.put("score.weight", new long[] {c.numLabels(), d});
        }
        if (lmHead && !c.tieWordEmbeddings()) {
            p.put("lm_head.weight", new long[] {c.vocabSize(), d});
        }
        return p;
    }
}
