package dev.duoguard.trainer.cli;

import dev.duoguard.trainer.data.Example;
import dev.duoguard.trainer.engine.LoraConfig;
import dev.duoguard.trainer.hf.CausalLmCheckpoint;
import dev.duoguard.trainer.loop.LlmRater;
import dev.duoguard.trainer.loop.LoopReport;
import dev.duoguard.trainer.loop.LoopSettings;
import dev.duoguard.trainer.loop.TwoPlayerLoop;
import dev.duoguard.trainer.train.ClassifierTraining;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(
        name = "loop",
        mixinStandardHelpOptions = true,
        description = {
            "Runs DuoGuard's two-player loop offline: generator + classifier, K iterations of",
            "generate -> filter -> score -> DPO -> retrain -> evaluate per language. Every iteration's",
            "generator, classifier bundle and report stay under the work directory (loop-report.json, loop.png).",
            "Both players are trained from scratch on the CPU by default; --generator-from",
            "and --classifier-from start them from Hugging Face checkpoints (the generator",
            "is prompted through its own chat template and trained with LoRA DPO unless --full-dpo)."
        })
final class LoopCommand implements Callable<Integer> {

    @Option(names = "--quick", description = "tiny models and few requests: a few minutes on 2 cores")
    boolean quick;

    @Mixin
    DataOptions data;

    @Mixin
    MemoryCheck memory;

    @Option(names = "--iterations")
    Integer iterations;

    @Option(names = "--languages", split = ",", description = "target languages (default: en,fr,es,de)")
    List<String> languages;

    @Option(names = "--prompts", description = "(seed, language) requests per iteration")
    Integer prompts;

    @Option(names = "--samples", description = "samples per request (default 8; --quick 4)")
    Integer samples;

    @Option(names = "--temperature")
    Float temperature;

    @Option(names = "--no-dpo", description = "control: synthetic data without the DPO update")
    boolean noDpo;

    @Option(names = "--no-synthetic", description = "control: retrain without synthetic data")
    boolean noSynthetic;

    @Option(names = "--hard-only", description = "retrain on misclassified synthetic samples only")
    boolean hardOnly;

    @Option(
            names = "--rater",
            description = "a bundle whose verdict must agree with a sample's label (else labels " + "are unverified)")
    Path rater;

    @Option(
            names = "--max-dev",
            defaultValue = "3000",
            description = "dev items in the target languages evaluated per " + "iteration (seeded sample)")
    int maxDev;

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

    @Option(names = "--seed")
    Long seed;

    @Option(
            names = "--no-rater",
            description = "no LLM judge: keep samples the judge would drop as refusals or off label (the judge is "
                    + "on by default with --generator-from or --rater-from; --rater BUNDLE is a different check)")
    boolean noRater;

    @Option(
            names = "--rater-from",
            description = "a Hugging Face chat checkpoint directory as the LLM judge that rates every sample 1-5 "
                    + "(default: the --generator-from checkpoint, its own frozen copy)")
    Path raterFrom;

    @Option(
            names = "--rater-min",
            description = "the lowest expected 1-5 rating a sample keeps (default " + LlmRater.DEFAULT_MIN_RATING + ")")
    Double raterMin;

    @Option(names = "--work", description = "default: runs/loop (runs/loop-quick with --quick)")
    Path work;

    @Override
    public Integer call() throws Exception {
        LoopSettings b = quick ? LoopSettings.quick() : LoopSettings.standard();
        boolean loraOptions = loraRank != null || loraAlpha != null || loraDropout != 0 || loraTargets != null;
        if (generatorFrom == null && (loraOptions || fullDpo || mergeAdapters)) {
            throw new IllegalArgumentException(
                    "--lora-*, --full-dpo and --merge-adapters are for a --generator-from checkpoint");
        }
        if (fullDpo && (loraOptions || mergeAdapters)) {
            throw new IllegalArgumentException("--full-dpo trains no adapters: drop --lora-* and --merge-adapters");
        }
        LoopSettings.Builder builder = b.toBuilder();
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
        LoopSettings s = builder.iterations(or(iterations, b.iterations()))
                .languages(or(languages, b.languages()))
                .promptsPerIteration(or(prompts, b.promptsPerIteration()))
                .samples(or(samples, b.samples()))
                .temperature(or(temperature, b.temperature()))
                .dpo(!noDpo)
                .synthetic(!noSynthetic)
                .hardOnly(hardOnly)
                .seed(or(seed, b.seed()))
                .maxNewTokens(or(maxNewTokens, b.maxNewTokens()))
                .maxPromptTokens(or(maxPromptTokens, b.maxPromptTokens()))
                .mergeAdapters(mergeAdapters)
                .classifierFrom(classifierFrom)
                .llmRater(!noRater)
                .raterFrom(raterFrom)
                .raterMin(or(raterMin, b.raterMin()))
                .build();
        if (generatorFrom != null) {
            CausalLmCheckpoint.read(generatorFrom); // a wrong directory fails here, before hours of training
        }
        if (s.judge() != null) {
            LlmRater.check(s.judge()); // so does a judge that cannot rate
        }
        if (classifierFrom != null && !Files.isRegularFile(classifierFrom.resolve("config.json"))) {
            throw new IllegalArgumentException("--classifier-from " + classifierFrom + " has no config.json: give a "
                    + "Hugging Face checkpoint directory (config.json, model.safetensors, tokenizer.json)");
        }
        Path home = Path.of(System.getenv().getOrDefault("DUOGUARD_HOME", "."));
        Path dir = work != null ? work : home.resolve(quick ? "runs/loop-quick" : "runs/loop");
        Path dataDir = data.dataDir();
        if (dataDir == null && data.inputs.isEmpty()) {
            System.err.println("no seeds: give --data (normalized JSONL, e.g. ../shared/data) or --input files");
            return 2;
        }
        memory.loop(s, System.out); // refuses a run that cannot fit, before any data is read
        ClassifierTraining.Prepared p = ClassifierTraining.builder()
                .preset(s.classifier())
                .dataDir(dataDir)
                .inputs(data.inputs)
                .mappings(data.mappings)
                .work(dir.resolve("mix"))
                .build()
                .prepare(System.out);
        List<Example> dev = new ArrayList<>(
                p.dev().stream().filter(e -> s.languages().contains(e.lang())).toList());
        if (dev.size() > maxDev) {
            Collections.shuffle(dev, new Random(s.seed()));
            dev = dev.subList(0, maxDev);
        }
        List<TwoPlayerLoop.Iteration> result =
                new TwoPlayerLoop(s, dir, rater, System.out).run(p.train(), p.train(), dev);
        System.out.println();
        LoopReport.print(result, System.out);
        System.out.println(
                "reports: " + dir.resolve("loop-report.json").toAbsolutePath().normalize() + ", loop.png");
        return 0;
    }

    private static <T> T or(T value, T fallback) {
        return value != null ? value : fallback;
    }
}
