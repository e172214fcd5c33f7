package dev.duoguard.trainer.loop;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.duoguard.runtime.tokenizer.GuardrailTokenizer;
import dev.duoguard.trainer.data.Example;
import dev.duoguard.trainer.engine.DjlTransformer;
import dev.duoguard.trainer.engine.Generator;
import dev.duoguard.trainer.engine.Sampler;
import dev.duoguard.trainer.hf.CausalLmCheckpoint;
import dev.duoguard.trainer.hf.ChatTemplate;
import dev.duoguard.trainer.hf.DType;
import dev.duoguard.trainer.hf.Safetensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * An instruction-tuned Hugging Face causal LM (Qwen2 or Llama, tied or untied head) as the loop's generator: the
 * paper's system and user prompts ({@link GeneratorPrompts#chat}) rendered by the checkpoint's own chat template,
 * sampled until one of the checkpoint's stop ids. A request longer than {@code maxPromptTokens} loses the end of
 * its seed text, never the instructions or the template's markup.
 */
public final class ChatGenerator implements AutoCloseable {

    private final CausalLmCheckpoint checkpoint;
    private final DjlTransformer model;
    private final GuardrailTokenizer tokenizer;
    private final ChatTemplate template;
    private final int maxPromptTokens;

    private ChatGenerator(
            CausalLmCheckpoint checkpoint,
            DjlTransformer model,
            GuardrailTokenizer tokenizer,
            ChatTemplate template,
            int maxPromptTokens) {
        this.checkpoint = checkpoint;
        this.model = model;
        this.tokenizer = tokenizer;
        this.template = template;
        this.maxPromptTokens = maxPromptTokens;
    }

    /** Loads the checkpoint in {@code dir} in fp32; the model's arrays belong to a child of {@code manager}. */
    public static ChatGenerator load(Path dir, NDManager manager, int maxPromptTokens, Clock clock) {
        return load(dir, dir, DataType.FLOAT32, manager, maxPromptTokens, clock);
    }

    /**
     * Loads the checkpoint in {@code dir} with the weights of {@code weights} instead of its own (the same model
     * fine-tuned and {@link #save saved}), held in {@code type} ({@link DjlTransformer#cast}: FLOAT32 or FLOAT16, for
     * weights that stay frozen); configs, tokenizer and template stay those of {@code dir}.
     */
    public static ChatGenerator load(
            Path dir, Path weights, DataType type, NDManager manager, int maxPromptTokens, Clock clock) {
        CausalLmCheckpoint c = CausalLmCheckpoint.read(dir);
        ChatTemplate template = new ChatTemplate(c.chatTemplate(), c.bosToken(), c.eosToken(), clock);
        DjlTransformer model = DjlTransformer.fromTensors(
                c.config(), Safetensors.readCheckpoint(weights), manager, false, true); // the LM head: tied or own
        GuardrailTokenizer tokenizer;
        try {
            model.cast(type);
            tokenizer = GuardrailTokenizer.load(dir.resolve(CausalLmCheckpoint.TOKENIZER));
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
        return new ChatGenerator(c, model, tokenizer, template, maxPromptTokens);
    }

    public CausalLmCheckpoint checkpoint() {
        return checkpoint;
    }

    public DjlTransformer model() {
        return model;
    }

    public GuardrailTokenizer tokenizer() {
        return tokenizer;
    }

    /**
     * The request for {@code seed} in {@code targetLang} as the model sees it: the chat template's rendering of the
     * paper's prompts, ending where the assistant's reply begins, at most {@code maxPromptTokens} tokens.
     */
    public String prompt(Example seed, String targetLang) {
        String full = render(seed, targetLang);
        int length = tokenizer.encode(full).length;
        if (length <= maxPromptTokens) {
            return full;
        }
        long[] seedIds = tokenizer.encode(seed.text());
        int keep = maxPromptTokens - (length - seedIds.length);
        // token boundaries may move where the cut seed meets the template: cut further until it fits
        for (; keep > 0; keep--) {
            String cut = tokenizer.decode(Arrays.copyOf(seedIds, keep));
            String text = render(withText(seed, cut), targetLang);
            if (tokenizer.encode(text).length <= maxPromptTokens) {
                return text;
            }
        }
        throw new IllegalArgumentException("max prompt tokens " + maxPromptTokens + " leaves no room for the seed: the "
                + "chat template and the instructions alone take " + (length - seedIds.length) + " tokens; raise it");
    }

    private String render(Example seed, String targetLang) {
        return template.render(GeneratorPrompts.chat(seed, targetLang), true);
    }

    private static Example withText(Example e, String text) {
        return new Example(e.id(), text, e.lang(), e.unsafe(), e.categories(), e.source(), e.split(), e.groupKey());
    }

    /**
     * {@code samples} replies to each prompt text (from {@link #prompt}), decoded without the stop token: the
     * paper's sampling (top_p 1.0) at {@code temperature}, at most {@code maxNewTokens} each; seeded.
     */
    public List<List<String>> generate(
            List<String> prompts, float temperature, int samples, int maxNewTokens, long seed) {
        Generator g = new Generator(model);
        List<List<String>> out = new ArrayList<>();
        int chunk = Math.max(1, 64 / samples); // rows per batch: prompts x samples
        for (int start = 0; start < prompts.size(); start += chunk) {
            List<long[]> ids = new ArrayList<>();
            for (String p : prompts.subList(start, Math.min(prompts.size(), start + chunk))) {
                ids.add(tokenizer.encode(p));
            }
            Sampler sampler =
                    new Sampler(temperature, 1.0f, samples, maxNewTokens, checkpoint.stopIds(), seed * 31 + start);
            for (List<long[]> perPrompt : g.generate(ids, sampler)) {
                List<String> texts = new ArrayList<>();
                perPrompt.forEach(x -> texts.add(tokenizer.decode(x).strip()));
                out.add(texts);
            }
        }
        return out;
    }

    /**
     * Writes the generator as a checkpoint directory like the one it came from: its current weights
     * (model.safetensors, F32) and the source's config, tokenizer and generation files, so it loads again with
     * {@code --generator-from}.
     */
    public void save(Path dir) throws IOException {
        Files.createDirectories(dir);
        Safetensors.write(
                dir.resolve(Safetensors.SINGLE_FILE), model.toTensors().values(), DType.F32, Map.of());
        for (String f : List.of(
                "config.json",
                CausalLmCheckpoint.TOKENIZER,
                CausalLmCheckpoint.TOKENIZER_CONFIG,
                CausalLmCheckpoint.GENERATION_CONFIG,
                CausalLmCheckpoint.CHAT_TEMPLATE_FILE)) {
            Path source = checkpoint.dir().resolve(f);
            if (Files.isRegularFile(source)) {
                Files.copy(source, dir.resolve(f), StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }

    @Override
    public void close() {
        tokenizer.close();
        model.close();
    }
}
