package dev.duoguard.trainer.cli;

import dev.duoguard.trainer.bench.CheckpointBench;
import dev.duoguard.trainer.bench.TrainBench;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
        name = "bench-train",
        mixinStandardHelpOptions = true,
        description = {
            "Training throughput of the DJL engine for the CPU presets (forward + backward + update):",
            "tokens/s and MFU against the measured fp32 GEMM peak of this machine. Prints a table, writes JSON.",
            "With --checkpointing: the memory and time of a LoRA DPO step with and without activation checkpointing."
        })
final class BenchTrainCommand implements Callable<Integer> {

    @Option(
            names = "--out",
            description = "JSON output (default: bench-results/train-bench.json, with --checkpointing"
                    + " bench-results/checkpoint-bench.json)")
    Path out;

    @Option(names = "--batch", defaultValue = "8", description = "sequences per step (default: ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--tokens", defaultValue = "128", description = "tokens per sequence (default: ${DEFAULT-VALUE})")
    int tokens;

    @Option(
            names = "--seconds",
            defaultValue = "15",
            description = "measured seconds per preset (default: ${DEFAULT-VALUE})")
    double seconds;

    @Option(
            names = "--checkpointing",
            description = "measure a LoRA DPO step's memory and time with and without activation checkpointing, each"
                    + " in a JVM of its own (--pairs, --tokens, --steps; JSON to bench-results/checkpoint-bench.json"
                    + " unless --out)")
    boolean checkpointing;

    @Option(names = "--pairs", defaultValue = "8", description = "with --checkpointing: preference pairs per step")
    int pairs;

    @Option(names = "--steps", defaultValue = "2", description = "with --checkpointing: measured steps per mode")
    int steps;

    @Override
    public Integer call() throws Exception {
        if (checkpointing) {
            if (tokens < 4 || pairs < 1 || steps < 1) {
                throw new IllegalArgumentException("--checkpointing needs --tokens of at least 4 (a quarter are the"
                        + " completion), --pairs and --steps of at least 1 (got " + tokens + ", " + pairs + ", "
                        + steps + ")");
            }
            Path json = out != null ? out : Path.of("bench-results/checkpoint-bench.json");
            return new CheckpointBench(System.out, json, pairs, tokens, steps).run();
        }
        return new TrainBench(
                        System.out,
                        out != null ? out : Path.of("bench-results/train-bench.json"),
                        batch,
                        tokens,
                        seconds)
                .run();
    }
}
