package dev.duoguard.dev.cli;

import dev.duoguard.dev.bench.ClientBench;
import dev.duoguard.runtime.baseline.LexiconBaseline;
import dev.duoguard.streams.app.ModelLocator;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
        name = "client-bench",
        mixinStandardHelpOptions = true,
        description = {
            "Inline latency: p50/p99 from ModerationClient.moderate() to its verdict at several offered loads,",
            "exactly-once and at-least-once, through the embedded broker, registry and streams app.",
            "Prints a table and writes JSON."
        })
final class ClientBenchCommand implements Callable<Integer> {

    @Option(names = "--model", description = "bundle directory (default: the project's default model)")
    Path model;

    @Option(names = "--lexicon", description = "score with the lexicon baseline (the pipeline's own latency)")
    boolean lexicon;

    @Option(
            names = "--loads",
            split = ",",
            defaultValue = "10,25,50",
            description = "offered loads in msg/s (default: ${DEFAULT-VALUE}: up to about half of what the"
                    + " default model scores on 2 cores)")
    List<Integer> loads;

    @Option(
            names = "--seconds",
            defaultValue = "10",
            description = "measured seconds per load, after 2 s of warm-up (default: ${DEFAULT-VALUE})")
    int seconds;

    @Option(
            names = "--out",
            defaultValue = "bench-results/client-bench.json",
            description = "JSON output (default: ${DEFAULT-VALUE})")
    Path out;

    @Override
    public Integer call() throws Exception {
        if (loads.stream().anyMatch(l -> l < 1) || seconds < 1) {
            throw new IllegalArgumentException("--loads and --seconds must be positive");
        }
        Path bundle;
        if (lexicon) {
            bundle = Files.createTempDirectory("duoguard-client-bench-").resolve("lexicon");
            LexiconBaseline.build(bundle);
        } else {
            bundle = ModelLocator.resolve(model);
        }
        return new ClientBench(System.out, bundle, loads, seconds, out).run();
    }
}
