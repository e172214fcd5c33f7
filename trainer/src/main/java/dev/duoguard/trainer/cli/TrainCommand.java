package dev.duoguard.trainer.cli;

import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.trainer.train.ClassifierTraining;
import dev.duoguard.trainer.train.TrainPreset;
import dev.duoguard.trainer.train.TrainSettings;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(
        name = "train",
        mixinStandardHelpOptions = true,
        description = {
            "Trains the guardrail classifier (DuoGuard's multi-label loss, AdamW, cosine schedule) and",
            "writes a bundle the streams app serves, evaluated on the benchmarks found in --data.",
            "From scratch with a CPU preset, or fine-tuning a Hugging Face checkpoint (--from)."
        })
final class TrainCommand implements Callable<Integer> {

    @Option(
            names = "--preset",
            defaultValue = "default",
            description = "default | minilm-en | scratch | tiny (default: ${DEFAULT-VALUE})")
    String preset;

    @Mixin
    DataOptions data;

    @Mixin
    MemoryCheck memory;

    @Option(
            names = "--from",
            description = "Hugging Face checkpoint directory to fine-tune (config.json, "
                    + "safetensors, tokenizer.json); a base LM gets a fresh 12-way score head")
    Path from;

    @Option(
            names = "--out",
            description =
                    "bundle directory (default: models/default for the default preset, " + "else runs/<preset>/bundle)")
    Path out;

    @Option(names = "--work", description = "checkpoints, tokenizer and reports (default: runs/<preset>)")
    Path work;

    @Option(names = "--resume", description = "continue from the checkpoint in the work directory")
    boolean resume;

    @Option(
            names = "--model-version",
            defaultValue = "1",
            description = "model version in the manifest (default: ${DEFAULT-VALUE})")
    String version;

    @Option(names = "--no-eval", description = "skip the benchmark evaluation after training")
    boolean noEval;

    @Option(
            names = "--activation-checkpointing",
            description = "a decoder classifier (Qwen2/Llama --from, the from-scratch presets) keeps only each layer's"
                    + " input and recomputes the layer in the backward pass: the same gradients in a fraction of the"
                    + " activation memory, about a third more compute; a BERT-family encoder trains without it")
    boolean activationCheckpointing;

    @Option(
            names = "--fp16",
            negatable = true,
            description = "store the bundle's weight matrices in fp16 (half the "
                    + "size; default: on for the default preset)")
    Boolean fp16;

    @Option(names = "--epochs")
    Integer epochs;

    @Option(names = "--batch")
    Integer batch;

    @Option(
            names = "--batch-tokens",
            paramLabel = "N",
            description = "token-budget batches: as many items as fit in N padded tokens (rows x longest row; an "
                    + "item larger than that trains alone), instead of --batch items; 0 = off (default: the preset's)")
    Integer batchTokens;

    @Option(names = "--lr")
    Float lr;

    @Option(names = "--max-tokens")
    Integer maxTokens;

    @Option(names = "--seed")
    Long seed;

    @Option(names = "--cap", description = "DATASET=N: use at most N training items of DATASET; repeatable")
    Map<String, Integer> caps = new LinkedHashMap<>();

    @Option(names = "--max-train", description = "use a seeded sample of at most N training items")
    Integer maxTrain;

    @Override
    public Integer call() throws Exception {
        if (batchTokens != null && batchTokens < 0) {
            throw new IllegalArgumentException(
                    "--batch-tokens must be 0 (off: --batch items a batch) or a number of padded tokens (got "
                            + batchTokens + ")");
        }
        TrainPreset p = TrainPreset.of(preset);
        TrainSettings s = p.settings();
        TrainSettings settings = new TrainSettings(
                or(epochs, s.epochs()),
                or(batch, s.batchSize()),
                or(lr, s.learningRate()),
                s.warmupRatio(),
                s.weightDecay(),
                s.clipNorm(),
                or(maxTokens, s.maxTokens()),
                or(seed, s.seed()),
                s.logEvery(),
                s.checkpointEvery(),
                or(batchTokens, s.batchTokens()));
        Map<String, Integer> allCaps = new LinkedHashMap<>(p.caps());
        allCaps.putAll(caps);
        p = p.with(settings, allCaps, or(maxTrain, p.maxTrainItems()), or(fp16, p.fp16Bundle()));
        if (from != null) {
            memory.train(
                    from,
                    p,
                    activationCheckpointing,
                    System.out); // refuses a run that cannot fit, before any data is read
        }
        Path home = Path.of(System.getenv().getOrDefault("DUOGUARD_HOME", "."));
        Path workDir = work != null ? work : home.resolve("runs").resolve(preset);
        Path outDir = out != null
                ? out
                : preset.equals("default") ? home.resolve("models/default") : workDir.resolve("bundle");
        ModelBundle bundle = ClassifierTraining.builder()
                .preset(p)
                .dataDir(data.dataDir())
                .inputs(data.inputs)
                .mappings(data.mappings)
                .from(from)
                .work(workDir)
                .out(outDir)
                .version(version)
                .resume(resume)
                .evaluate(!noEval)
                .activationCheckpointing(activationCheckpointing)
                .fp16(p.fp16Bundle())
                .build()
                .run(System.out);
        System.out.println("bundle: " + bundle.directory().toAbsolutePath().normalize());
        return 0;
    }

    private static <T> T or(T value, T fallback) {
        return value != null ? value : fallback;
    }
}
