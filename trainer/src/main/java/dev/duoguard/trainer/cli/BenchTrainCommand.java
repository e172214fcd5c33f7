package dev.duoguard.trainer.cli;

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
            "tokens/s and MFU against the measured fp32 GEMM peak of this machine. Prints a table, writes JSON."
        })
final class BenchTrainCommand implements Callable<Integer> {

    @Option(
            names = "--out",
            defaultValue = "bench-results/train-bench.json",
            description = "JSON output (default: ${DEFAULT-VALUE})")
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

    @Override
    public Integer call() throws Exception {
        return new TrainBench(System.out, out, batch, tokens, seconds).run();
    }
}
