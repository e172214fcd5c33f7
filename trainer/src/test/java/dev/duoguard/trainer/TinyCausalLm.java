package dev.duoguard.trainer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.duoguard.trainer.hf.DType;
import dev.duoguard.trainer.hf.Safetensors;
import dev.duoguard.trainer.hf.Tensor;
import dev.duoguard.trainer.hf.TransformerConfig;
import dev.duoguard.trainer.tokenizer.ByteLevelBpeTrainer;
import dev.duoguard.trainer.tokenizer.TokenizerJson;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Test fixture: tiny instruction-tuned causal LMs written as Hugging Face directories (config.json,
 * model.safetensors, tokenizer.json, tokenizer_config.json with a chat template, generation_config.json), in the
 * two families the generator loads: Qwen2 (ChatML, q/k/v biases, stop ids as a list) and Llama 3 (header tokens,
 * no biases, llama3 rope scaling, a BOS token, one stop id).
 */
public final class TinyCausalLm {

    private TinyCausalLm() {}

    /** A ChatML template in the style of Qwen's: a default system message, roles between im_start and im_end. */
    public static final String CHATML = """
            {%- if messages[0]['role'] == 'system' %}
            {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
            {%- else %}
            {{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}
            {%- endif %}
            {%- for message in messages %}
                {%- if message.role == 'system' and not loop.first %}
                    {{- raise_exception('a system message must come first') }}
                {%- elif message.role != 'system' %}
                    {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
                {%- endif %}
            {%- endfor %}
            {%- if add_generation_prompt %}
                {{- '<|im_start|>assistant\\n' }}
            {%- endif %}
            """;

    /** A Llama-3.x-style template: BOS, a dated system header, strict user/assistant alternation, trimmed content. */
    public static final String LLAMA3 = """
            {{- bos_token }}
            {%- if messages[0]['role'] == 'system' %}
                {%- set system_message = messages[0]['content']|trim %}
                {%- set messages = messages[1:] %}
            {%- else %}
                {%- set system_message = "" %}
            {%- endif %}
            {%- set date_string = strftime_now("%d %b %Y") %}
            {{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
            {{- "Today Date: " + date_string + "\\n\\n" }}
            {{- system_message }}
            {{- "<|eot_id|>" }}
            {%- for message in messages %}
                {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
                    {{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}
                {%- endif %}
                {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}
            {%- endfor %}
            {%- if add_generation_prompt %}
                {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
            {%- endif %}
            """;

    public enum Family {
        QWEN2,
        LLAMA
    }

    static final List<String> QWEN_SPECIALS = List.of("<|endoftext|>", "<|im_start|>", "<|im_end|>");
    static final List<String> LLAMA_SPECIALS =
            List.of("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>");

    /** The id of a special token in the fixture's tokenizer (special tokens come first). */
    public static long id(Family f, String special) {
        int i = (f == Family.QWEN2 ? QWEN_SPECIALS : LLAMA_SPECIALS).indexOf(special);
        if (i < 0) {
            throw new IllegalArgumentException(special);
        }
        return i;
    }

    /** Writes a checkpoint of {@code family} with random weights into {@code dir} and returns its config. */
    public static TransformerConfig write(Path dir, Family family, boolean tied, long seed) throws IOException {
        return write(dir, family, tied, seed, -1);
    }

    /**
     * As {@link #write(Path, Family, boolean, long)}; with {@code forced} ≥ 0 (untied only) the weights are
     * crafted so that token {@code forced} is the next token by a wide margin at every step: the final norm keeps
     * one dimension, which the embeddings set to 1 and no layer writes to, and the LM head reads only that
     * dimension, for {@code forced} alone.
     */
    public static TransformerConfig write(Path dir, Family family, boolean tied, long seed, long forced)
            throws IOException {
        Files.createDirectories(dir);
        boolean qwen = family == Family.QWEN2;
        List<String> specials = qwen ? QWEN_SPECIALS : LLAMA_SPECIALS;
        Path tokenizer = dir.resolve("tokenizer.json");
        ByteLevelBpeTrainer.write(new ByteLevelBpeTrainer(320, 2, specials).train(corpus()), tokenizer);
        int vocab = TokenizerJson.vocabularySize(tokenizer);

        ObjectMapper json = new ObjectMapper();
        ObjectNode config = json.createObjectNode();
        config.putArray("architectures").add(qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM");
        config.put("model_type", qwen ? "qwen2" : "llama");
        config.put("hidden_size", 32);
        config.put("num_hidden_layers", 2);
        config.put("num_attention_heads", 4);
        config.put("num_key_value_heads", 2);
        config.put("intermediate_size", 64);
        config.put("vocab_size", vocab);
        config.put("hidden_act", "silu");
        config.put("max_position_embeddings", 2048);
        config.put("tie_word_embeddings", tied);
        if (qwen) {
            config.put("rope_theta", 1000000.0);
            config.put("rms_norm_eps", 1e-6);
            config.put("use_sliding_window", false);
            config.put("eos_token_id", id(family, "<|endoftext|>"));
        } else {
            config.put("head_dim", 8);
            config.put("attention_bias", false);
            config.put("mlp_bias", false);
            config.put("rope_theta", 500000.0);
            config.put("rms_norm_eps", 1e-5);
            ObjectNode rs = config.putObject("rope_scaling");
            rs.put("rope_type", "llama3");
            rs.put("factor", 32.0);
            rs.put("low_freq_factor", 1.0);
            rs.put("high_freq_factor", 4.0);
            rs.put("original_max_position_embeddings", 8192);
            config.put("bos_token_id", id(family, "<|begin_of_text|>"));
        }
        json.writeValue(dir.resolve("config.json").toFile(), config);
        TransformerConfig c = TransformerConfig.parse(config);

        ObjectNode gen = json.createObjectNode();
        if (qwen) { // Qwen2.5-Instruct lists two: im_end and endoftext
            gen.putArray("eos_token_id").add(id(family, "<|im_end|>")).add(id(family, "<|endoftext|>"));
        } else {
            gen.put("eos_token_id", id(family, "<|eot_id|>"));
        }
        gen.put("temperature", 0.7);
        json.writeValue(dir.resolve("generation_config.json").toFile(), gen);

        ObjectNode tok = json.createObjectNode();
        tok.put("chat_template", qwen ? CHATML : LLAMA3);
        if (qwen) {
            tok.putNull("bos_token");
            tok.put("eos_token", "<|im_end|>");
        } else {
            tok.putObject("bos_token").put("content", "<|begin_of_text|>");
            tok.put("eos_token", "<|eot_id|>");
        }
        ObjectNode decoder = tok.putObject("added_tokens_decoder");
        for (int i = 0; i < specials.size(); i++) {
            decoder.putObject(Integer.toString(i))
                    .put("content", specials.get(i))
                    .put("special", true);
        }
        json.writeValue(dir.resolve("tokenizer_config.json").toFile(), tok);

        Map<String, Tensor> weights = TinyCheckpoint.randomWeights(c, seed);
        weights.remove("score.weight");
        if (!tied) {
            weights.put("lm_head.weight", random("lm_head.weight", seed + 1, vocab, c.hiddenSize()));
        }
        if (forced >= 0) {
            force(weights, c, forced);
        }
        Safetensors.write(dir.resolve(Safetensors.SINGLE_FILE), weights.values(), DType.F32, Map.of("format", "pt"));
        return c;
    }

    private static void force(Map<String, Tensor> w, TransformerConfig c, long forced) {
        int d = c.hiddenSize();
        if (c.tieWordEmbeddings()) {
            throw new IllegalArgumentException("a forced token needs an untied head");
        }
        for (int v = 0; v < c.vocabSize(); v++) {
            w.get("model.embed_tokens.weight").data()[v * d] = 1f;
        }
        for (int i = 0; i < c.layers(); i++) {
            String p = "model.layers." + i + ".";
            float[] o = w.get(p + "self_attn.o_proj.weight").data(); // (D, H*Dh): row 0 writes dimension 0
            float[] down = w.get(p + "mlp.down_proj.weight").data(); // (D, I)
            Arrays.fill(o, 0, c.heads() * c.headDim(), 0f);
            Arrays.fill(down, 0, c.intermediateSize(), 0f);
        }
        float[] norm = w.get("model.norm.weight").data();
        Arrays.fill(norm, 0f);
        norm[0] = 1f;
        float[] head = w.get("lm_head.weight").data();
        Arrays.fill(head, 0f);
        head[(int) forced * d] = 100f;
    }

    /** Text the fixture's byte-level BPE learns its merges from: the toy items and the generator's request words. */
    private static List<String> corpus() {
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            texts.addAll(List.of(ToyData.SAFE));
            texts.addAll(List.of(ToyData.UNSAFE));
            texts.add("You are an English-French toxic prompt creator. Write one new prompt with the same label.");
        }
        return texts;
    }

    private static Tensor random(String name, long seed, int rows, int cols) {
        Random r = new Random(seed);
        float[] v = new float[rows * cols];
        for (int i = 0; i < v.length; i++) {
            v[i] = (r.nextFloat() * 2 - 1) * 0.5f;
        }
        return new Tensor(name, new long[] {rows, cols}, v);
    }
}
