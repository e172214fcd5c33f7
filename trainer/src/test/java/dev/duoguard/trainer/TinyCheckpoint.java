package dev.duoguard.trainer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.duoguard.runtime.baseline.LexiconBaseline;
import dev.duoguard.trainer.hf.DType;
import dev.duoguard.trainer.hf.Safetensors;
import dev.duoguard.trainer.hf.Tensor;
import dev.duoguard.trainer.hf.TransformerConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/** Test fixture: a random Qwen2-style sequence classifier written as a Hugging Face checkpoint directory. */
public final class TinyCheckpoint {

    private TinyCheckpoint() {}

    /** config.json of a Qwen2 sequence classifier with DuoGuard's 12 labels and pad id 0. */
    public static ObjectNode configJson(
            int hidden, int layers, int heads, int kvHeads, int inter, int vocab, boolean bias, boolean tied) {
        return new TransformerConfig(
                        hidden, layers, heads, kvHeads, inter, 10000.0, 1e-6, vocab, tied, bias, 1024, 0, 12, "qwen2")
                .toJson();
    }

    /** A Llama-3.2-style config at toy size: no biases, untied head, llama3 rope scaling, theta 500000. */
    public static ObjectNode llama32Like() {
        ObjectNode n = new ObjectMapper().createObjectNode();
        n.put("model_type", "llama");
        n.put("hidden_size", 64);
        n.put("num_hidden_layers", 2);
        n.put("num_attention_heads", 4);
        n.put("num_key_value_heads", 2);
        n.put("head_dim", 16);
        n.put("intermediate_size", 128);
        n.put("vocab_size", 300);
        n.put("rope_theta", 500000.0);
        n.put("rms_norm_eps", 1e-5);
        n.put("max_position_embeddings", 131072);
        n.put("tie_word_embeddings", false);
        n.put("hidden_act", "silu");
        ObjectNode rs = n.putObject("rope_scaling");
        rs.put("rope_type", "llama3");
        rs.put("factor", 32.0);
        rs.put("low_freq_factor", 1.0);
        rs.put("high_freq_factor", 4.0);
        rs.put("original_max_position_embeddings", 8192);
        return n;
    }

    /** Random weights with Hugging Face names and shapes for {@code c}. */
    public static Map<String, Tensor> randomWeights(TransformerConfig c, long seed) {
        Random r = new Random(seed);
        Map<String, Tensor> t = new LinkedHashMap<>();
        int d = c.hiddenSize();
        int qDim = c.heads() * c.headDim();
        int kvDim = c.kvHeads() * c.headDim();
        put(t, "model.embed_tokens.weight", r, 0.5f, 0f, c.vocabSize(), d);
        for (int i = 0; i < c.layers(); i++) {
            String p = "model.layers." + i + ".";
            put(t, p + "input_layernorm.weight", r, 0.1f, 1f, d);
            put(t, p + "self_attn.q_proj.weight", r, 0.3f, 0f, qDim, d);
            put(t, p + "self_attn.k_proj.weight", r, 0.3f, 0f, kvDim, d);
            put(t, p + "self_attn.v_proj.weight", r, 0.3f, 0f, kvDim, d);
            if (c.attentionBias()) {
                put(t, p + "self_attn.q_proj.bias", r, 0.1f, 0f, qDim);
                put(t, p + "self_attn.k_proj.bias", r, 0.1f, 0f, kvDim);
                put(t, p + "self_attn.v_proj.bias", r, 0.1f, 0f, kvDim);
            }
            put(t, p + "self_attn.o_proj.weight", r, 0.3f, 0f, d, qDim);
            put(t, p + "post_attention_layernorm.weight", r, 0.1f, 1f, d);
            put(t, p + "mlp.gate_proj.weight", r, 0.3f, 0f, c.intermediateSize(), d);
            put(t, p + "mlp.up_proj.weight", r, 0.3f, 0f, c.intermediateSize(), d);
            put(t, p + "mlp.down_proj.weight", r, 0.3f, 0f, d, c.intermediateSize());
        }
        put(t, "model.norm.weight", r, 0.1f, 1f, d);
        put(t, "score.weight", r, 0.5f, 0f, c.numLabels(), d);
        return t;
    }

    private static void put(Map<String, Tensor> t, String name, Random r, float scale, float offset, long... shape) {
        float[] v = new float[(int) Tensor.numel(shape)];
        for (int i = 0; i < v.length; i++) {
            v[i] = offset + (r.nextFloat() * 2 - 1) * scale;
        }
        t.put(name, new Tensor(name, shape, v));
    }

    /** Writes config.json, model.safetensors (or two shards + index) and the baseline's tokenizer.json into dir. */
    public static void write(Path dir, ObjectNode config, Map<String, Tensor> weights, DType dtype, boolean sharded)
            throws IOException {
        Files.createDirectories(dir);
        new ObjectMapper().writeValue(dir.resolve("config.json").toFile(), config);
        if (!sharded) {
            Safetensors.write(dir.resolve(Safetensors.SINGLE_FILE), weights.values(), dtype, Map.of("format", "pt"));
        } else {
            List<Tensor> all = new ArrayList<>(weights.values());
            List<Tensor> a = all.subList(0, all.size() / 2);
            List<Tensor> b = all.subList(all.size() / 2, all.size());
            Safetensors.write(dir.resolve("model-00001-of-00002.safetensors"), a, dtype, Map.of());
            Safetensors.write(dir.resolve("model-00002-of-00002.safetensors"), b, dtype, Map.of());
            ObjectNode index = new ObjectMapper().createObjectNode();
            ObjectNode map = index.putObject("weight_map");
            a.forEach(x -> map.put(x.name(), "model-00001-of-00002.safetensors"));
            b.forEach(x -> map.put(x.name(), "model-00002-of-00002.safetensors"));
            new ObjectMapper().writeValue(dir.resolve(Safetensors.INDEX_FILE).toFile(), index);
        }
        Path tok = Files.createTempDirectory("tok");
        LexiconBaseline.build(tok);
        Files.copy(tok.resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
    }
}
