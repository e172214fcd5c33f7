package dev.duoguard.trainer.loop;

import ai.djl.ndarray.types.DataType;
import dev.duoguard.trainer.engine.DjlTransformer;
import dev.duoguard.trainer.engine.LoraConfig;
import dev.duoguard.trainer.hf.TransformerConfig;
import dev.duoguard.trainer.train.TrainPreset;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;

/**
 * Settings of the two-player loop. Build them with {@link #builder()} (or change a copy with {@link #toBuilder()}):
 * the builder names the defaults and {@link Builder#build()} says which value is wrong.
 *
 * @param languages        target languages of generation (en/fr/es/de by default, any list allowed)
 * @param promptsPerIteration (seed, language) requests per iteration, split over languages by {@link #budget}
 * @param samples          n samples per request (DuoGuard: 8)
 * @param temperature      sampling temperature (DuoGuard: 0.9; top_p 1.0)
 * @param beta             DPO β (DuoGuard: 0.01)
 * @param rpoAlpha         weight of the RPO term (DuoGuard: 0.4)
 * @param dpo              false for the control "synthetic data without the DPO update"
 * @param synthetic        false for the control "no synthetic data"
 * @param hardOnly         retrain on the misclassified synthetic samples only (else on every accepted one)
 * @param maxPromptTokens  the longest request the generator sees (a chat request loses the end of its seed text)
 * @param generatorFrom    an instruction-tuned Hugging Face causal LM (Qwen2/Llama) as the generator, or null for
 *                         the from-scratch generator ({@code generatorShape}, ...)
 * @param classifierFrom   a Hugging Face checkpoint the classifier is fine-tuned from every iteration, or null for
 *                         {@code classifier}'s from-scratch model
 * @param lora             LoRA adapters DPO trains on the checkpoint generator (its reference is the base with the
 *                         adapters off), or null for full fine-tuning against a frozen copy
 * @param mergeAdapters    besides the adapters, save each iteration's generator as a merged plain checkpoint
 * @param llmRater         whether the LLM judge ({@link LlmRater}) rates the samples; it runs when there is a judge
 *                         checkpoint, see {@link #judge()}
 * @param raterFrom        the judge's checkpoint, or null for the generator's ({@code generatorFrom})
 * @param raterMin         the lowest expected 1–5 rating a sample keeps (default {@value LlmRater#DEFAULT_MIN_RATING})
 * @param dtype            the type the frozen weights are held and computed in ({@link DjlTransformer#cast}):
 *                         {@code FLOAT32} (default) or {@code FLOAT16} (half their memory). Frozen are the LoRA
 *                         generator's base (the adapters stay fp32) and the judge, so {@code FLOAT16} needs
 *                         {@code lora}: AdamW cannot update fp16 weights, so a generator trained in full stays fp32.
 *                         DPO trains the fp32 adapters through the fp16 base ({@code Gradients.cast} keeps the
 *                         gradient across the types). The classifier is trained in fp32 whatever this says.
 * @param activationCheckpointing the generator's training, and the classifier's when it is a decoder, recompute
 *                         each layer in the backward pass instead of holding its activations
 *                         ({@link GeneratorTrainer#activationCheckpointing}): same gradients, a fraction of the
 *                         memory, about a third more compute per step
 * @param dpoBatchTokens   DPO batches of as many pairs as fit in this many padded tokens (chosen and rejected rows
 *                         at the pair's longer one); 0: {@value #DPO_PAIRS} pairs a batch
 */
public record LoopSettings(
        int iterations,
        List<String> languages,
        int promptsPerIteration,
        int samples,
        float temperature,
        int maxNewTokens,
        float beta,
        float rpoAlpha,
        float dpoLearningRate,
        int dpoEpochs,
        boolean dpo,
        boolean synthetic,
        boolean hardOnly,
        String generatorShape,
        int generatorVocab,
        int generatorEpochs,
        float generatorLearningRate,
        int maxSeedItems,
        TrainPreset classifier,
        long seed,
        int maxPromptTokens,
        Path generatorFrom,
        Path classifierFrom,
        LoraConfig lora,
        boolean mergeAdapters,
        boolean llmRater,
        Path raterFrom,
        double raterMin,
        DataType dtype,
        boolean activationCheckpointing,
        long dpoBatchTokens) {

    /** Preference pairs a DPO batch holds without a token budget. */
    public static final int DPO_PAIRS = 16;

    public static final List<String> DEFAULT_LANGUAGES = List.of("en", "fr", "es", "de");
    /** DuoGuard's sampling and DPO hyperparameters. */
    public static final int DEFAULT_SAMPLES = 8;

    public static final float DEFAULT_TEMPERATURE = 0.9f;
    public static final float DEFAULT_BETA = 0.01f;
    public static final float DEFAULT_RPO_ALPHA = 0.4f;
    /** The generator's budget of the standard study (small CPU models). */
    public static final int DEFAULT_MAX_NEW_TOKENS = 48;

    /** The from-scratch generator's DPO: a small model trained here takes a large rate. */
    public static final float DEFAULT_DPO_LEARNING_RATE = 2e-4f;

    public static final int DEFAULT_DPO_EPOCHS = 2;
    /** The paper's DPO of a checkpoint generator, full fine-tuning: lr 5e-7, one epoch. */
    public static final float CHECKPOINT_DPO_LEARNING_RATE = 5e-7f;

    public static final int CHECKPOINT_DPO_EPOCHS = 1;
    /**
     * LoRA DPO of a checkpoint generator: ten times the paper's full fine-tuning rate. Adapters start with B = 0 and
     * hold a few million weights, so 5e-7 barely moves them in one epoch; LoRA rates are usually set 10x a full
     * fine-tune's, as in the alignment-handbook's Zephyr DPO recipes (full 5e-7, QLoRA 5e-6).
     */
    public static final float LORA_DPO_LEARNING_RATE = 5e-6f;

    public static final String DEFAULT_GENERATOR_SHAPE = "tiny";
    public static final int DEFAULT_GENERATOR_VOCAB = 4096;
    public static final int DEFAULT_GENERATOR_EPOCHS = 4;
    public static final float DEFAULT_GENERATOR_LEARNING_RATE = 2e-3f;
    public static final int DEFAULT_MAX_SEED_ITEMS = 12000;
    public static final long DEFAULT_SEED = 23;
    /** Room for the control header and a seed of the from-scratch generator; a chat template needs more. */
    public static final int DEFAULT_MAX_PROMPT_TOKENS = 96;

    /**
     * The LLM judge's checkpoint: {@code raterFrom}, else the generator's checkpoint; null when {@code llmRater} is
     * off or there is no checkpoint (the from-scratch generator cannot judge).
     */
    public Path judge() {
        if (!llmRater) {
            return null;
        }
        return raterFrom != null ? raterFrom : generatorFrom;
    }

    /**
     * Whether the judge is the LoRA generator's base with the adapters off (its checkpoint is the generator's), so
     * it holds no weights of its own; else a judge is a frozen copy of {@link #judge()}'s checkpoint.
     */
    public boolean judgeOnGeneratorBase() {
        return lora != null
                && judge() != null
                && judge().toAbsolutePath()
                        .normalize()
                        .equals(generatorFrom.toAbsolutePath().normalize());
    }

    /** Tiny models, a few minutes on 2 cores: for CI and a first look. */
    public static LoopSettings quick() {
        return builder()
                .iterations(1)
                .promptsPerIteration(48)
                .classifier(TrainPreset.of("tiny"))
                .samples(4)
                .maxNewTokens(24)
                .dpoLearningRate(5e-4f)
                .generatorVocab(1024)
                .generatorEpochs(3)
                .generatorLearningRate(3e-3f)
                .maxSeedItems(1500)
                .build();
    }

    /** Small CPU models for the study: tens of minutes per iteration on 2 cores. */
    public static LoopSettings standard() {
        return builder()
                .iterations(3)
                .promptsPerIteration(400)
                .classifier(TrainPreset.of("tiny"))
                .build();
    }

    /**
     * Settings with nothing set but the defaults: {@code iterations}, {@code promptsPerIteration} and
     * {@code classifier} are required; everything else defaults to the {@code DEFAULT_*} constants, and the
     * controls to the loop itself ({@code dpo} and {@code synthetic} on, {@code hardOnly} off).
     */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder holding these settings, to change some of them. */
    public Builder toBuilder() {
        return new Builder()
                .iterations(iterations)
                .languages(languages)
                .promptsPerIteration(promptsPerIteration)
                .samples(samples)
                .temperature(temperature)
                .maxNewTokens(maxNewTokens)
                .beta(beta)
                .rpoAlpha(rpoAlpha)
                .dpoLearningRate(dpoLearningRate)
                .dpoEpochs(dpoEpochs)
                .dpo(dpo)
                .synthetic(synthetic)
                .hardOnly(hardOnly)
                .generatorShape(generatorShape)
                .generatorVocab(generatorVocab)
                .generatorEpochs(generatorEpochs)
                .generatorLearningRate(generatorLearningRate)
                .maxSeedItems(maxSeedItems)
                .classifier(classifier)
                .seed(seed)
                .maxPromptTokens(maxPromptTokens)
                .generatorFrom(generatorFrom)
                .classifierFrom(classifierFrom)
                .lora(lora)
                .mergeAdapters(mergeAdapters)
                .llmRater(llmRater)
                .raterFrom(raterFrom)
                .raterMin(raterMin)
                .dtype(dtype)
                .activationCheckpointing(activationCheckpointing)
                .dpoBatchTokens(dpoBatchTokens);
    }

    /** Builds {@link LoopSettings}; see {@link LoopSettings#builder()} for what is required. */
    public static final class Builder {
        private Integer iterations;
        private List<String> languages = DEFAULT_LANGUAGES;
        private Integer promptsPerIteration;
        private int samples = DEFAULT_SAMPLES;
        private float temperature = DEFAULT_TEMPERATURE;
        private int maxNewTokens = DEFAULT_MAX_NEW_TOKENS;
        private float beta = DEFAULT_BETA;
        private float rpoAlpha = DEFAULT_RPO_ALPHA;
        private float dpoLearningRate = DEFAULT_DPO_LEARNING_RATE;
        private int dpoEpochs = DEFAULT_DPO_EPOCHS;
        private boolean dpo = true;
        private boolean synthetic = true;
        private boolean hardOnly;
        private String generatorShape = DEFAULT_GENERATOR_SHAPE;
        private int generatorVocab = DEFAULT_GENERATOR_VOCAB;
        private int generatorEpochs = DEFAULT_GENERATOR_EPOCHS;
        private float generatorLearningRate = DEFAULT_GENERATOR_LEARNING_RATE;
        private int maxSeedItems = DEFAULT_MAX_SEED_ITEMS;
        private TrainPreset classifier;
        private long seed = DEFAULT_SEED;
        private int maxPromptTokens = DEFAULT_MAX_PROMPT_TOKENS;
        private Path generatorFrom;
        private Path classifierFrom;
        private LoraConfig lora;
        private boolean mergeAdapters;
        private boolean llmRater = true;
        private Path raterFrom;
        private double raterMin = LlmRater.DEFAULT_MIN_RATING;
        private DataType dtype = DataType.FLOAT32;
        private boolean activationCheckpointing;
        private long dpoBatchTokens;

        private Builder() {}

        /** Iterations after iteration 0 (which trains the classifier on the seed mix and the generator); required. */
        public Builder iterations(int v) {
            iterations = v;
            return this;
        }

        /** ISO 639-1 codes, at least two (the sample filter identifies the language of each sample). */
        public Builder languages(List<String> v) {
            languages = v;
            return this;
        }

        /** Required. */
        public Builder promptsPerIteration(int v) {
            promptsPerIteration = v;
            return this;
        }

        public Builder samples(int v) {
            samples = v;
            return this;
        }

        public Builder temperature(float v) {
            temperature = v;
            return this;
        }

        public Builder maxNewTokens(int v) {
            maxNewTokens = v;
            return this;
        }

        public Builder beta(float v) {
            beta = v;
            return this;
        }

        public Builder rpoAlpha(float v) {
            rpoAlpha = v;
            return this;
        }

        public Builder dpoLearningRate(float v) {
            dpoLearningRate = v;
            return this;
        }

        public Builder dpoEpochs(int v) {
            dpoEpochs = v;
            return this;
        }

        public Builder dpo(boolean v) {
            dpo = v;
            return this;
        }

        public Builder synthetic(boolean v) {
            synthetic = v;
            return this;
        }

        public Builder hardOnly(boolean v) {
            hardOnly = v;
            return this;
        }

        /** A {@link TransformerConfig#preset} name. */
        public Builder generatorShape(String v) {
            generatorShape = v;
            return this;
        }

        public Builder generatorVocab(int v) {
            generatorVocab = v;
            return this;
        }

        public Builder generatorEpochs(int v) {
            generatorEpochs = v;
            return this;
        }

        public Builder generatorLearningRate(float v) {
            generatorLearningRate = v;
            return this;
        }

        /** At most this many items (a seeded sample) train the generator's tokenizer and its supervised start. */
        public Builder maxSeedItems(int v) {
            maxSeedItems = v;
            return this;
        }

        /** The classifier retrained every iteration; required. */
        public Builder classifier(TrainPreset v) {
            classifier = v;
            return this;
        }

        public Builder seed(long v) {
            seed = v;
            return this;
        }

        public Builder maxPromptTokens(int v) {
            maxPromptTokens = v;
            return this;
        }

        /** A Hugging Face causal LM directory (config.json, model.safetensors, tokenizer files), or null. */
        public Builder generatorFrom(Path v) {
            generatorFrom = v;
            return this;
        }

        /**
         * The generator is the checkpoint in {@code dir}, trained with the paper's DPO recipe: β 0.01, α 0.4, one
         * epoch, at {@link #LORA_DPO_LEARNING_RATE} with {@code lora} adapters or {@link
         * #CHECKPOINT_DPO_LEARNING_RATE} for full fine-tuning ({@code lora} null). Set any of them afterwards to
         * override it.
         */
        public Builder checkpointGenerator(Path dir, LoraConfig lora) {
            return generatorFrom(dir)
                    .lora(lora)
                    .beta(DEFAULT_BETA)
                    .rpoAlpha(DEFAULT_RPO_ALPHA)
                    .dpoEpochs(CHECKPOINT_DPO_EPOCHS)
                    .dpoLearningRate(lora != null ? LORA_DPO_LEARNING_RATE : CHECKPOINT_DPO_LEARNING_RATE);
        }

        /** LoRA adapters for the checkpoint generator's DPO, or null for full fine-tuning. */
        public Builder lora(LoraConfig v) {
            lora = v;
            return this;
        }

        /** Also save each iteration's generator with its adapters merged into a plain checkpoint. */
        public Builder mergeAdapters(boolean v) {
            mergeAdapters = v;
            return this;
        }

        /** A Hugging Face checkpoint directory to fine-tune the classifier from, or null. */
        public Builder classifierFrom(Path v) {
            classifierFrom = v;
            return this;
        }

        /** On by default: the LLM judge rates the samples whenever there is a checkpoint to judge with. */
        public Builder llmRater(boolean v) {
            llmRater = v;
            return this;
        }

        /** A Hugging Face chat checkpoint directory as the judge, or null for the generator's checkpoint. */
        public Builder raterFrom(Path v) {
            raterFrom = v;
            return this;
        }

        /** The lowest expected rating (1–5) a sample keeps. */
        public Builder raterMin(double v) {
            raterMin = v;
            return this;
        }

        /** FLOAT32 or FLOAT16 for the frozen weights: the LoRA generator's base and the judge. */
        public Builder dtype(DataType v) {
            dtype = v;
            return this;
        }

        /** Recompute the generator's layers in its backward pass instead of holding their activations. */
        public Builder activationCheckpointing(boolean v) {
            activationCheckpointing = v;
            return this;
        }

        /** DPO batches by a budget of padded tokens; 0: {@value LoopSettings#DPO_PAIRS} pairs a batch. */
        public Builder dpoBatchTokens(long v) {
            dpoBatchTokens = v;
            return this;
        }

        /** @throws IllegalArgumentException naming every value that is missing or out of range */
        public LoopSettings build() {
            List<String> problems = new ArrayList<>();
            if (iterations == null || iterations < 0) {
                problems.add("iterations is required, at least 0 (got " + iterations + ")");
            }
            if (promptsPerIteration == null || promptsPerIteration < 1) {
                problems.add("promptsPerIteration is required, at least 1 (got " + promptsPerIteration + ")");
            }
            if (classifier == null) {
                problems.add("classifier (the TrainPreset retrained every iteration) is required");
            }
            if (languages == null
                    || new HashSet<>(languages).size() < 2
                    || !languages.stream().allMatch(l -> l != null && l.matches("[a-z]{2}"))) {
                problems.add("languages must be at least 2 distinct lower-case ISO 639-1 codes, e.g. [en, fr] (got "
                        + languages + ")");
            }
            if (samples < 1) {
                problems.add("samples must be at least 1 (got " + samples + ")");
            }
            if (!(temperature > 0) || Float.isInfinite(temperature)) {
                problems.add("temperature must be above 0 (got " + temperature + ")");
            }
            if (maxNewTokens < 1) {
                problems.add("maxNewTokens must be at least 1 (got " + maxNewTokens + ")");
            }
            if (!(beta > 0) || Float.isInfinite(beta)) {
                problems.add("beta must be above 0 (got " + beta + ")");
            }
            if (!(rpoAlpha >= 0) || Float.isInfinite(rpoAlpha)) {
                problems.add("rpoAlpha must be 0 or more (got " + rpoAlpha + ")");
            }
            if (!(dpoLearningRate > 0) || Float.isInfinite(dpoLearningRate)) {
                problems.add("dpoLearningRate must be above 0 (got " + dpoLearningRate + ")");
            }
            if (dpoEpochs < 1) {
                problems.add("dpoEpochs must be at least 1 (got " + dpoEpochs + ")");
            }
            if (hardOnly && !synthetic) {
                problems.add("hardOnly picks which synthetic samples are retrained on, so it needs synthetic");
            }
            if (generatorShape == null) {
                problems.add("generatorShape is required (a TransformerConfig preset: tiny or small)");
            } else {
                try {
                    TransformerConfig.preset(generatorShape, generatorVocab, 0, 0); // the loop's own check
                } catch (IllegalArgumentException e) {
                    problems.add("generatorShape: " + e.getMessage());
                }
            }
            int minVocab = 256 + GeneratorPrompts.SPECIAL_TOKENS.size();
            if (generatorVocab < minVocab) {
                problems.add("generatorVocab must be at least " + minVocab + ", the 256 byte symbols and the prompt's "
                        + "special tokens (got " + generatorVocab + ")");
            }
            if (generatorEpochs < 1) {
                problems.add("generatorEpochs must be at least 1 (got " + generatorEpochs + ")");
            }
            if (!(generatorLearningRate > 0) || Float.isInfinite(generatorLearningRate)) {
                problems.add("generatorLearningRate must be above 0 (got " + generatorLearningRate + ")");
            }
            if (maxPromptTokens < 8) {
                problems.add("maxPromptTokens must be at least 8 (got " + maxPromptTokens + ")");
            }
            if (lora != null && generatorFrom == null) {
                problems.add("LoRA adapters train a checkpoint generator: give generatorFrom (the from-scratch "
                        + "generator trains fully)");
            }
            if (mergeAdapters && lora == null) {
                problems.add("mergeAdapters needs LoRA adapters to merge");
            }
            if (maxSeedItems < 1) {
                problems.add("maxSeedItems must be at least 1 (got " + maxSeedItems + ")");
            }
            if (!(raterMin >= 1 && raterMin <= 5)) {
                problems.add("raterMin must be a rating from 1 to 5 (got " + raterMin + ")");
            }
            if (!llmRater && raterFrom != null) {
                problems.add("raterFrom names a judge but llmRater is off; drop one of them");
            }
            if (dtype != DataType.FLOAT32 && dtype != DataType.FLOAT16) {
                problems.add("dtype must be float32 or float16 (got " + dtype + ")");
            } else if (dtype == DataType.FLOAT16 && lora == null) {
                problems.add("dtype float16 is for frozen weights (a LoRA generator's base, the judge), and a "
                        + "generator trained in full stays float32: AdamW cannot update float16 weights");
            }
            if (dpoBatchTokens < 0) {
                problems.add(
                        "dpoBatchTokens must be 0 (off) or a number of padded tokens (got " + dpoBatchTokens + ")");
            }
            if (!problems.isEmpty()) {
                throw new IllegalArgumentException("invalid loop settings: " + String.join("; ", problems));
            }
            return new LoopSettings(
                    iterations,
                    List.copyOf(languages),
                    promptsPerIteration,
                    samples,
                    temperature,
                    maxNewTokens,
                    beta,
                    rpoAlpha,
                    dpoLearningRate,
                    dpoEpochs,
                    dpo,
                    synthetic,
                    hardOnly,
                    generatorShape,
                    generatorVocab,
                    generatorEpochs,
                    generatorLearningRate,
                    maxSeedItems,
                    classifier,
                    seed,
                    maxPromptTokens,
                    generatorFrom,
                    classifierFrom,
                    lora,
                    mergeAdapters,
                    llmRater,
                    raterFrom,
                    raterMin,
                    dtype,
                    activationCheckpointing,
                    dpoBatchTokens);
        }
    }
}
