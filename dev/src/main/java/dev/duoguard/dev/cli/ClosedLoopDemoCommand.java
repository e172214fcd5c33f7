package dev.duoguard.dev.cli;

import dev.duoguard.dev.demo.ClosedLoopDemo;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
        name = "demo",
        mixinStandardHelpOptions = true,
        description = {
            "The closed loop on this machine, no Docker, no GPU: an in-process Kafka (KRaft),",
            "a schema registry, two streams-app instances serving the default model (v1), the",
            "trainer service. Multilingual traffic is scored; reviewers' labels and uncertain",
            "items become seeds; one two-player iteration makes v2; the gate and shadow scoring",
            "promote it; both instances swap; v1 and v2 are compared per language on held-out",
            "traffic. Ends with a clean shutdown."
        })
final class ClosedLoopDemoCommand implements Callable<Integer> {

    @Option(
            names = "--quick",
            description = "CI size: fewer generator requests, fewer classifier epochs, fewer shadow samples")
    boolean quick;

    @Option(
            names = "--iterations",
            defaultValue = "1",
            description =
                    "rounds of the loop (v2, v3, ...); the live traffic is split between them (default: ${DEFAULT-VALUE})")
    int iterations;

    @Option(
            names = "--rate",
            defaultValue = "60",
            description = "messages per second replayed (default: ${DEFAULT-VALUE})")
    int rate;

    @Option(names = "--prompts", description = "generator requests in the iteration (default 96; --quick 32)")
    Integer prompts;

    @Option(names = "--epochs", description = "classifier epochs in the iteration (default 12; --quick 6)")
    Integer epochs;

    @Option(
            names = "--shadow-samples",
            description = "items each instance compares before it decides (default 300; --quick 120)")
    Long shadowSamples;
    // v1 misses most unsafe items of the demo's traffic, so a v2 that fixes that must disagree with it often: the
    // demo's bounds only stop a broken candidate (one that flags everything or nothing); the streams app's own
    // defaults (0.9 and 0.05) suit incremental updates of a model that is already good
    @Option(
            names = "--min-agreement",
            defaultValue = "0.4",
            description = "shadow bound: share of items where v2 and v1 decide alike (default: ${DEFAULT-VALUE})")
    double minAgreement;

    @Option(
            names = "--max-unsafe-delta",
            defaultValue = "0.45",
            description = "shadow bound: largest unsafe-rate difference in any language (default: ${DEFAULT-VALUE})")
    double maxUnsafeDelta;

    @Option(names = "--model", description = "v1's bundle (default: the project's models/default)")
    Path model;

    @Option(names = "--results", description = "where summary.json goes (default: runs/demo, runs/demo-quick)")
    Path results;

    @Option(names = "--keep", description = "keep the temporary directory (broker data, trainer home, artifacts)")
    boolean keep;

    @Override
    public Integer call() throws Exception {
        Path home = Path.of(System.getenv().getOrDefault("DUOGUARD_HOME", "."));
        ClosedLoopDemo.Options o = new ClosedLoopDemo.Options(
                quick,
                iterations,
                rate,
                or(epochs, quick ? 6 : 12),
                or(prompts, quick ? 32 : 96),
                shadowSamples != null ? shadowSamples : quick ? 120 : 300,
                minAgreement,
                maxUnsafeDelta,
                model,
                results != null ? results : home.resolve(quick ? "runs/demo-quick" : "runs/demo"),
                keep);
        return new ClosedLoopDemo(System.out, o).run();
    }

    private static int or(Integer v, int fallback) {
        return v != null ? v : fallback;
    }
}
