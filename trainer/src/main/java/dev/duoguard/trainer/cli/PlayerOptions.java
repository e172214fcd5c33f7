package dev.duoguard.trainer.cli;

import ai.djl.ndarray.types.DataType;
import dev.duoguard.trainer.engine.DjlTransformer;
import dev.duoguard.trainer.engine.LoraConfig;
import dev.duoguard.trainer.hf.CausalLmCheckpoint;
import dev.duoguard.trainer.loop.LlmRater;
import dev.duoguard.trainer.loop.LoopSettings;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Option;
import picocli.CommandLine.TypeConversionException;

/**
 * Where the two players come from and how the generator is trained and judged: the options {@code loop} and the
 * trainer service share, with one meaning and one validation. Apply them with {@link #apply}, then {@link #check}
 * the built settings before any work starts.
 */
final class PlayerOptions {

    @Option(
            names = "--generator-from",
            description = "an instruction-tuned Hugging Face causal LM directory (Qwen2 or Llama: config.json, "
                    + "model.safetensors, tokenizer.json, tokenizer_config.json with a chat_template, "
                    + "generation_config.json) as the generator; default: a small generator trained from scratch")
    Path generatorFrom;

    @Option(
            names = "--classifier-from",
            description = "a Hugging Face checkpoint directory the classifier is fine-tuned from every iteration "
                    + "(as train --from); default: the preset's model from scratch")
    Path classifierFrom;

    @Option(
            names = "--max-new-tokens",
            description = "longest generated sample in tokens (default "
                    + LoopSettings.DEFAULT_MAX_NEW_TOKENS
                    + "; --quick 24)")
    Integer maxNewTokens;

    @Option(
            names = "--max-prompt-tokens",
            description = "longest request the generator sees, in tokens; a longer seed is cut (default "
                    + LoopSettings.DEFAULT_MAX_PROMPT_TOKENS
                    + ", enough for the from-scratch generator; a chat template needs ~512)")
    Integer maxPromptTokens;

    @Option(
            names = "--lora-rank",
            description = "rank r of the LoRA adapters DPO trains on a --generator-from checkpoint (default "
                    + LoraConfig.DEFAULT_RANK
                    + "); the base weights stay frozen and are DPO's reference")
    Integer loraRank;

    @Option(
            names = "--lora-alpha",
            description = "LoRA alpha: the adapters add (alpha / r) B A x (default " + LoraConfig.DEFAULT_ALPHA + ")")
    Float loraAlpha;

    @Option(names = "--lora-dropout", defaultValue = "0", description = "dropout on the adapters' input in training")
    float loraDropout;

    @Option(
            names = "--lora-targets",
            split = ",",
            description = "projections adapted in every layer, of q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,"
                    + "down_proj (default q_proj,v_proj)")
    List<String> loraTargets;

    @Option(
            names = "--full-dpo",
            description = "with --generator-from: train every weight against a frozen full copy (twice the "
                    + "generator's memory) instead of LoRA adapters")
    boolean fullDpo;

    @Option(
            names = "--merge-adapters",
            description = "also save each iteration's generator with its adapters merged (iter-K/generator-merged, "
                    + "a plain checkpoint); iter-K/generator always holds the adapters (PEFT layout)")
    boolean mergeAdapters;

    @Option(
            names = "--dpo-lr",
            description = "DPO learning rate (default: " + LoopSettings.LORA_DPO_LEARNING_RATE + " with LoRA, "
                    + LoopSettings.CHECKPOINT_DPO_LEARNING_RATE + " with --full-dpo, "
                    + LoopSettings.DEFAULT_DPO_LEARNING_RATE + " for the from-scratch generator)")
    Float dpoLearningRate;

    @Option(
            names = "--no-rater",
            description = "no LLM judge: keep samples the judge would drop as refusals or off label (the judge is "
                    + "on by default with --generator-from or --rater-from)")
    boolean noRater;

    @Option(
            names = "--rater-from",
            description = "a Hugging Face chat checkpoint directory as the LLM judge that rates every sample 1-5 "
                    + "(default: the --generator-from checkpoint: with LoRA its base with the adapters off, with "
                    + "--full-dpo a frozen copy of its own)")
    Path raterFrom;

    @Option(
            names = "--rater-min",
            description = "the lowest expected 1-5 rating a sample keeps (default " + LlmRater.DEFAULT_MIN_RATING + ")")
    Double raterMin;

    @Option(
            names = "--dtype",
            paramLabel = "float32|float16",
            defaultValue = "float32",
            converter = WeightType.class,
            description = "the type the frozen weights are held and computed in: the --generator-from base under "
                    + "its LoRA adapters (the adapters train in float32) and the judge (its own checkpoint, or the "
                    + "generator's base); float16 halves their memory. A generator trained in full (--full-dpo, "
                    + "from scratch) stays float32, and the classifier always trains in float32 (default: float32)")
    DataType dtype;

    @Option(
            names = "--activation-checkpointing",
            description = "the generator's training (DPO, and the from-scratch generator's supervised start) and a"
                    + " decoder classifier's keep only each layer's input and recompute the layer in the backward"
                    + " pass, and the LM head runs a few rows at a time: the same gradients in a fraction of the memory"
                    + " (the memory estimate shows how much), for about a third more compute per step")
    boolean activationCheckpointing;

    @Option(
            names = "--dpo-batch-tokens",
            paramLabel = "N",
            defaultValue = "0",
            description = "DPO batches of as many preference pairs as fit in N padded tokens (chosen and rejected rows"
                    + " counted at the pair's longer one; a longer pair trains alone) instead of "
                    + LoopSettings.DPO_PAIRS + " pairs a batch (default: 0, off)")
    long dpoBatchTokens;

    /** {@code float32} or {@code float16}, the types {@link DjlTransformer#cast} takes. */
    static final class WeightType implements ITypeConverter<DataType> {
        @Override
        public DataType convert(String value) {
            return switch (value) {
                case "float32" -> DataType.FLOAT32;
                case "float16" -> DataType.FLOAT16;
                default ->
                    throw new TypeConversionException("'" + value + "' is not float32 or float16"
                            + (value.equals("bfloat16") ? " (DJL 0.36 aborts the JVM on bfloat16)" : ""));
            };
        }
    }

    /**
     * {@code defaults} (a preset's settings) with these options applied; the caller sets the rest and builds.
     *
     * @throws IllegalArgumentException for LoRA options without a checkpoint generator or with {@code --full-dpo}, and
     *     for {@code --dtype float16} with a generator trained in full
     */
    LoopSettings.Builder apply(LoopSettings defaults) {
        boolean loraOptions = loraRank != null || loraAlpha != null || loraDropout != 0 || loraTargets != null;
        if (generatorFrom == null && (loraOptions || fullDpo || mergeAdapters)) {
            throw new IllegalArgumentException(
                    "--lora-*, --full-dpo and --merge-adapters are for a --generator-from checkpoint");
        }
        if (fullDpo && (loraOptions || mergeAdapters)) {
            throw new IllegalArgumentException("--full-dpo trains no adapters: drop --lora-* and --merge-adapters");
        }
        if (dtype == DataType.FLOAT16 && (generatorFrom == null || fullDpo)) {
            throw new IllegalArgumentException("--dtype float16 is for frozen weights, and "
                    + (fullDpo ? "--full-dpo" : "the from-scratch generator") + " trains every weight of the "
                    + "generator, which AdamW cannot update in float16: drop --dtype float16, or train LoRA adapters "
                    + "on a --generator-from checkpoint");
        }
        LoopSettings.Builder builder = defaults.toBuilder();
        if (generatorFrom != null) {
            builder.checkpointGenerator(
                    generatorFrom,
                    fullDpo
                            ? null
                            : new LoraConfig(
                                    or(loraRank, LoraConfig.DEFAULT_RANK),
                                    or(loraAlpha, LoraConfig.DEFAULT_ALPHA),
                                    loraDropout,
                                    or(loraTargets, LoraConfig.DEFAULT_TARGETS)));
        }
        if (dpoLearningRate != null) {
            builder.dpoLearningRate(dpoLearningRate);
        }
        return builder.maxNewTokens(or(maxNewTokens, defaults.maxNewTokens()))
                .maxPromptTokens(or(maxPromptTokens, defaults.maxPromptTokens()))
                .mergeAdapters(mergeAdapters)
                .classifierFrom(classifierFrom)
                .llmRater(!noRater)
                .raterFrom(raterFrom)
                .raterMin(or(raterMin, defaults.raterMin()))
                .dtype(dtype)
                .activationCheckpointing(activationCheckpointing)
                .dpoBatchTokens(dpoBatchTokens);
    }

    /**
     * Checks what {@code s} names on disk, without loading weights, so that a wrong directory fails before hours of
     * training: the generator checkpoint, the judge, the classifier checkpoint; and that {@code --rater-min} has a
     * judge to apply to.
     *
     * @throws IllegalArgumentException in one line, naming the file or the option and the fix
     */
    void check(LoopSettings s) {
        if (raterMin != null && s.judge() == null) {
            throw new IllegalArgumentException(
                    "--rater-min is the LLM judge's threshold and there is no judge" + (noRater ? " (--no-rater)" : "")
                            + ": give --generator-from or --rater-from, or drop --rater-min");
        }
        if (s.generatorFrom() != null) {
            CausalLmCheckpoint.read(s.generatorFrom());
        }
        if (s.judge() != null) {
            LlmRater.check(s.judge());
        }
        if (s.classifierFrom() != null
                && !Files.isRegularFile(s.classifierFrom().resolve("config.json"))) {
            throw new IllegalArgumentException("--classifier-from " + s.classifierFrom() + " has no config.json: give "
                    + "a Hugging Face checkpoint directory (config.json, model.safetensors, tokenizer.json)");
        }
    }

    private static <T> T or(T value, T fallback) {
        return value != null ? value : fallback;
    }
}
