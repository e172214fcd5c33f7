package dev.duoguard.dev.cli;

import dev.duoguard.dev.bench.Bench;
import dev.duoguard.dev.bench.SwapBench;
import dev.duoguard.streams.app.ModelLocator;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
        name = "bench",
        mixinStandardHelpOptions = true,
        description = {
            "Measures, in one run on one machine and model: raw scoring throughput (ONNX Runtime, no Kafka,",
            "several batch sizes), end-to-end pipeline throughput through the embedded broker with exactly-once",
            "and at-least-once, end-to-end latency p50/p99 at a fixed offered load, and pipeline/raw ratios;",
            "the anchors in the same run: an Avro passthrough and a bytes passthrough Kafka Streams app with the",
            "pipeline's topics and settings, and the naive one-model-call-per-message peer; each app's cost per",
            "message. Prints a table and writes JSON and a chart."
        })
final class BenchCommand implements Callable<Integer> {

    @Option(
            names = "--messages",
            defaultValue = "20000",
            description = "messages per pipeline run (default: ${DEFAULT-VALUE})")
    int messages;

    @Option(
            names = "--out",
            defaultValue = "bench-results/streams-bench.json",
            description = "JSON output (default: ${DEFAULT-VALUE})")
    Path out;

    @Option(names = "--model", description = "bundle directory (default: the project's default model)")
    Path model;

    @Option(
            names = "--cost-layers",
            defaultValue = "12",
            description = {
                "also measure a benchmark-only variant of the "
                        + "baseline with this many dense layers per token (same scores, transformer-like cost); 0 = skip",
                "(default: ${DEFAULT-VALUE})"
            })
    int costLayers;

    @Option(
            names = "--cost-width",
            defaultValue = "768",
            description = "width of those layers (default: ${DEFAULT-VALUE})")
    int costWidth;

    @Option(
            names = "--skip",
            split = ",",
            paramLabel = "PART",
            description = {
                "parts not to run, comma-separated: ${COMPLETION-CANDIDATES} (raw scoring and pipeline capacity",
                "always run; the passthroughs run once, not per model)"
            })
    Set<Bench.Part> skip = EnumSet.noneOf(Bench.Part.class);

    @Option(
            names = "--guarantees",
            split = ",",
            defaultValue = "exactly_once_v2,at_least_once",
            description = "processing guarantees to measure (default: ${DEFAULT-VALUE})")
    List<String> guarantees;

    @Option(
            names = "--profile",
            arity = "0..1",
            fallbackValue = "bench-results/pipeline-profile.jfr",
            paramLabel = "JFR",
            description = {
                "record the first model's exactly-once pipeline capacity run with JFR (CPU samples every 10 ms),",
                "write it here and a summary of the stream thread's samples by category next to it",
                "(default with no value: ${FALLBACK-VALUE})"
            })
    Path profile;

    @Option(
            names = "--set",
            paramLabel = "KEY=VALUE",
            description = {
                "a streams app setting for every app the bench starts (repeatable), e.g. --set language.detect=false",
                "--profile to profile without language detection; recorded in the JSON"
            })
    Map<String, String> settings = new LinkedHashMap<>();

    @Option(
            names = "--summarise-profile",
            paramLabel = "JFR",
            description = "instead: print the summary --profile prints, of this JFR recording")
    Path summariseProfile;

    @Option(
            names = "--swap",
            description = "instead: how long a model swap pauses scoring (writes bench-results/swap-pause.json)")
    boolean swap;

    @Option(
            names = "--swaps",
            defaultValue = "20",
            description = "with --swap: swaps to measure (default: ${DEFAULT-VALUE})")
    int swaps;

    @Override
    public Integer call() throws Exception {
        if (summariseProfile != null) {
            Bench.summariseProfile(summariseProfile, System.out);
            return 0;
        }
        if (swap) {
            Path bundle = ModelLocator.resolve(model);
            Path json = out.toString().equals("bench-results/streams-bench.json")
                    ? Path.of("bench-results/swap-pause.json")
                    : out;
            return new SwapBench(System.out, bundle, swaps, Duration.ofMillis(500), 2, 16, json).run();
        }
        Set<Bench.Part> parts = EnumSet.allOf(Bench.Part.class);
        parts.removeAll(skip);
        return new Bench(System.out, messages, out, model, costLayers, costWidth, parts, guarantees, profile, settings)
                .run();
    }
}
