package dev.duoguard.trainer.cli;

import dev.duoguard.trainer.data.Example;
import dev.duoguard.trainer.loop.LoopReport;
import dev.duoguard.trainer.loop.LoopSettings;
import dev.duoguard.trainer.loop.TwoPlayerLoop;
import dev.duoguard.trainer.train.ClassifierTraining;
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
            description = "a bundle whose verdict must agree with a sample's label (else labels are unverified); not "
                    + "the LLM judge (--rater-from)")
    Path rater;

    @Option(
            names = "--max-dev",
            defaultValue = "3000",
            description = "dev items in the target languages evaluated per " + "iteration (seeded sample)")
    int maxDev;

    @Option(names = "--seed")
    Long seed;

    @Mixin
    PlayerOptions players;

    @Option(names = "--work", description = "default: runs/loop (runs/loop-quick with --quick)")
    Path work;

    @Override
    public Integer call() throws Exception {
        LoopSettings b = quick ? LoopSettings.quick() : LoopSettings.standard();
        LoopSettings s = players.apply(b)
                .iterations(or(iterations, b.iterations()))
                .languages(or(languages, b.languages()))
                .promptsPerIteration(or(prompts, b.promptsPerIteration()))
                .samples(or(samples, b.samples()))
                .temperature(or(temperature, b.temperature()))
                .dpo(!noDpo)
                .synthetic(!noSynthetic)
                .hardOnly(hardOnly)
                .seed(or(seed, b.seed()))
                .build();
        players.check(s);
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
