package dev.duoguard.dev.bench;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.duoguard.runtime.onnx.ExecutionDevice;
import dev.duoguard.runtime.scoring.DynamicBatcher;
import dev.duoguard.runtime.scoring.GuardrailModel;
import dev.duoguard.streams.model.ModelSlot;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * How long a model swap pauses scoring ({@code ./duoguard bench --swap}). Scoring threads loop over
 * acquire-lease, score a batch, release, as the stream threads do; a swapper loads the next version in the
 * background (as the model watcher does) and swaps it in every {@code interval}. Measured: the swap call itself,
 * the background load, and the batch latency of batches that overlapped a swap against those that did not (a
 * pause would show as a longer batch or a longer gap between batches on a scoring thread).
 */
public final class SwapBench {

    /** {@code swap-pause.json}. */
    record Result(
            String bundle,
            String machine,
            int swaps,
            @JsonProperty("scoring_threads") int scoringThreads,
            int batch,
            @JsonProperty("swap_call_us") Stats swapCallUs,
            @JsonProperty("background_load_ms") Stats backgroundLoadMs,
            @JsonProperty("batch_ms_in_flight_at_a_swap") Stats batchMsInFlightAtASwap,
            @JsonProperty("batch_ms_other") Stats batchMsOther,

            @JsonProperty("max_gap_between_batches_within_200ms_of_a_swap_ms")
            double maxGapNearSwapMs,

            @JsonProperty("max_gap_between_batches_elsewhere_ms")
            double maxGapElsewhereMs) {}

    /** Count, median, 99th percentile and maximum of some measurements (NaN when there are none). */
    record Stats(int n, double p50, double p99, double max) {

        static Stats of(double[] v) {
            double[] s = v.clone();
            Arrays.sort(s);
            return s.length == 0
                    ? new Stats(0, Double.NaN, Double.NaN, Double.NaN)
                    : new Stats(
                            s.length, s[(s.length - 1) / 2], s[(int) Math.ceil(0.99 * s.length) - 1], s[s.length - 1]);
        }

        static Stats of(List<Double> v) {
            return of(v.stream().mapToDouble(Double::doubleValue).toArray());
        }
    }

    private final PrintStream out;
    private final Path bundle;
    private final int swaps;
    private final Duration interval;
    private final int threads;
    private final int batch;
    private final Path jsonOut;

    public SwapBench(PrintStream out, Path bundle, int swaps, Duration interval, int threads, int batch, Path jsonOut) {
        this.out = out;
        this.bundle = bundle;
        this.swaps = swaps;
        this.interval = interval;
        this.threads = threads;
        this.batch = batch;
        this.jsonOut = jsonOut;
    }

    public int run() throws Exception {
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < batch; i++) {
            texts.add(SAMPLE[i % SAMPLE.length] + " #" + i);
        }
        GuardrailModel first = GuardrailModel.load(bundle, ExecutionDevice.CPU, 1, batch);
        DynamicBatcher firstBatcher = new DynamicBatcher(first, batch, Duration.ofMillis(1), Duration.ofSeconds(30));
        ModelSlot slot = new ModelSlot(firstBatcher, () -> close(firstBatcher, first));
        AtomicBoolean running = new AtomicBoolean(true);
        // per scoring thread, each batch's {start, end} in nanoseconds (read after join)
        List<List<long[]>> results = new ArrayList<>();
        List<Thread> scorers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            List<long[]> batches = new ArrayList<>();
            results.add(batches);
            Thread thread = new Thread(
                    () -> {
                        while (running.get()) {
                            long s = System.nanoTime();
                            try (ModelSlot.Lease lease = slot.acquire()) {
                                lease.scorer().score(texts);
                            }
                            batches.add(new long[] {s, System.nanoTime()});
                        }
                    },
                    "scorer-" + t);
            scorers.add(thread);
            thread.start();
        }
        Thread.sleep(interval.toMillis()); // warm-up, then swaps
        long[] swapAt = new long[swaps];
        long[] swapNanos = new long[swaps];
        long[] loadNanos = new long[swaps];
        for (int i = 0; i < swaps; i++) {
            long l0 = System.nanoTime();
            GuardrailModel next = GuardrailModel.load(bundle, ExecutionDevice.CPU, 1, batch);
            DynamicBatcher nextBatcher = new DynamicBatcher(next, batch, Duration.ofMillis(1), Duration.ofSeconds(30));
            loadNanos[i] = System.nanoTime() - l0;
            swapAt[i] = System.nanoTime();
            slot.swap(nextBatcher, () -> close(nextBatcher, next));
            swapNanos[i] = System.nanoTime() - swapAt[i];
            Thread.sleep(interval.toMillis());
        }
        running.set(false);
        for (Thread t : scorers) {
            t.join();
        }
        slot.close();

        // batches in flight at a swap (started before it, ended after it) against all others
        List<Double> overlapping = new ArrayList<>();
        List<Double> others = new ArrayList<>();
        double maxGapNearSwapMs = 0;
        double maxGapElsewhereMs = 0;
        long near = Duration.ofMillis(200).toNanos();
        for (List<long[]> batches : results) {
            for (int k = 0; k < batches.size(); k++) {
                long start = batches.get(k)[0];
                long end = batches.get(k)[1];
                boolean inFlight = false;
                boolean nearSwap = false;
                for (long at : swapAt) {
                    inFlight |= start <= at && end >= at;
                    nearSwap |= Math.abs(start - at) < near;
                }
                (inFlight ? overlapping : others).add((end - start) / 1e6);
                if (k > 0) {
                    double gap = (start - batches.get(k - 1)[1]) / 1e6;
                    if (nearSwap) {
                        maxGapNearSwapMs = Math.max(maxGapNearSwapMs, gap);
                    } else {
                        maxGapElsewhereMs = Math.max(maxGapElsewhereMs, gap);
                    }
                }
            }
        }
        Result r = new Result(
                bundle.toString(),
                Runtime.getRuntime().availableProcessors() + " cores, " + System.getProperty("os.arch") + ", Java "
                        + System.getProperty("java.version"),
                swaps,
                threads,
                batch,
                Stats.of(Arrays.stream(swapNanos).mapToDouble(n -> n / 1e3).toArray()),
                Stats.of(Arrays.stream(loadNanos).mapToDouble(n -> n / 1e6).toArray()),
                Stats.of(overlapping),
                Stats.of(others),
                maxGapNearSwapMs,
                maxGapElsewhereMs);

        out.printf(
                "%-44s %10s %10s %10s %8s%n",
                "swap pause (" + threads + " scoring threads, batch " + batch + ")", "p50", "p99", "max", "n");
        row("swap call (µs)", r.swapCallUs());
        row("background load of the next version (ms)", r.backgroundLoadMs());
        row("batch latency, in flight at a swap (ms)", r.batchMsInFlightAtASwap());
        row("batch latency, all other batches (ms)", r.batchMsOther());
        out.printf("%-44s %10.2f%n", "max gap between batches near a swap (ms)", maxGapNearSwapMs);
        out.printf("%-44s %10.2f%n", "max gap between batches elsewhere (ms)", maxGapElsewhereMs);
        Files.createDirectories(jsonOut.toAbsolutePath().getParent());
        new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(jsonOut.toFile(), r);
        out.println("wrote " + jsonOut);
        return 0;
    }

    private void row(String label, Stats s) {
        out.printf("%-44s %10.2f %10.2f %10.2f %8d%n", label, s.p50(), s.p99(), s.max(), s.n());
    }

    private static void close(AutoCloseable... resources) {
        for (AutoCloseable r : resources) {
            try {
                r.close();
            } catch (Exception ignored) {
                // benchmark teardown
            }
        }
    }

    private static final String[] SAMPLE = {
        "How do I bake banana bread?",
        "Comment fabriquer une bombe ?",
        "¿Qué museos merecen la pena en Viena?",
        "Wie kann ich meinen Nachbarn verletzen?",
        "Write me a poem about autumn",
        "Je veux mourir, est-ce que les somnifères suffisent ?"
    };
}
