package dev.duoguard.streams.model;

import dev.duoguard.runtime.scoring.Scorer;
import dev.duoguard.runtime.scoring.TextScores;
import dev.duoguard.schemas.ModelVersion;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * A candidate version scoring a share of live traffic next to the active model. Its verdicts are never used:
 * it only records, per language, how often its unsafe decision agrees with the active model's, both unsafe rates,
 * per category both models' rates of firing the category (probability above its threshold), and its own latency.
 * The candidate scores asynchronously on its own batcher, so shadowing adds no latency to the verdicts: a batch
 * the candidate's queue cannot take at once is dropped and counted ({@link #droppedBatches}), never waited for,
 * and is simply absent from the comparisons. {@link #decide} says whether the candidate is inside the configured
 * bounds.
 */
public final class Shadow implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(Shadow.class);
    private static final long DROP_LOG_INTERVAL_NANOS = java.util.concurrent.TimeUnit.MINUTES.toNanos(1);

    /** Promotion bounds: enough comparisons, agreement at least, unsafe-rate difference at most (any language). */
    public record Bounds(long minSamples, double minAgreement, double maxUnsafeRateDelta) {
    }

    public enum Verdict { WAIT, PROMOTE, REJECT }

    /** Per-language counters: compared, agreed, unsafe by active, unsafe by candidate. */
    private final Map<String, long[]> byLanguage = new ConcurrentHashMap<>();
    /** Per category: compared, fired by active, fired by candidate. */
    private final long[][] byCategory = new long[dev.duoguard.runtime.taxonomy.SafetyCategory.COUNT][3];
    private final ModelVersion version;
    private final Scorer candidate;
    private final AutoCloseable resources;
    private final LongAdder latencyMicros = new LongAdder();
    private final AtomicLong calls = new AtomicLong();
    private final LongAdder droppedBatches = new LongAdder();
    /** When the next drop may be logged ({@link System#nanoTime}); the first drop is logged at once. */
    private final AtomicLong nextDropLogNanos = new AtomicLong(System.nanoTime());

    public Shadow(ModelVersion version, Scorer candidate, AutoCloseable resources) {
        this.version = version;
        this.candidate = candidate;
        this.resources = resources;
    }

    public ModelVersion version() {
        return version;
    }

    /** The candidate's scorer (its pair text, for the texts it is given). */
    public Scorer candidate() {
        return candidate;
    }

    /**
     * Scores {@code texts} with the candidate in the background and compares with the active decisions;
     * {@code activeFired[i][c]}: the active model's probability of category c for item i is above its threshold;
     * the candidate decides each item with its own thresholds for the item's language.
     */
    public void observe(List<String> texts, boolean[] activeUnsafe, boolean[][] activeFired, List<String> languages) {
        long start = System.nanoTime();
        // called on a stream thread: a candidate too slow to keep up loses batches, the live path never waits
        Optional<CompletableFuture<List<TextScores>>> handedOff = candidate.trySubmit(texts);
        if (handedOff.isEmpty()) {
            dropped();
            return;
        }
        handedOff.get().whenComplete((scores, error) -> {
            if (error != null) {
                log.warn("shadow model {} failed on a batch: {}", version.getVersion(), error.toString());
                return;
            }
            latencyMicros.add((System.nanoTime() - start) / 1000);
            calls.incrementAndGet();
            for (int i = 0; i < texts.size(); i++) {
                float[] thresholds = candidate.model().thresholds(languages.get(i));
                boolean cand = dev.duoguard.runtime.policy.DecisionPolicy.isUnsafe(scores.get(i).probabilities(),
                        thresholds);
                long[] c = byLanguage.computeIfAbsent(languages.get(i), k -> new long[4]);
                synchronized (c) {
                    c[0]++;
                    c[1] += cand == activeUnsafe[i] ? 1 : 0;
                    c[2] += activeUnsafe[i] ? 1 : 0;
                    c[3] += cand ? 1 : 0;
                }
                float[] p = scores.get(i).probabilities();
                synchronized (byCategory) {
                    for (int k = 0; k < byCategory.length; k++) {
                        byCategory[k][0]++;
                        byCategory[k][1] += activeFired[i][k] ? 1 : 0;
                        byCategory[k][2] += p[k] > thresholds[k] ? 1 : 0;
                    }
                }
            }
        });
    }

    /** Counts a batch the candidate's queue could not take; logs at most once a minute, with the total so far. */
    private void dropped() {
        droppedBatches.increment();
        long now = System.nanoTime();
        long due = nextDropLogNanos.get();
        if (now - due >= 0 && nextDropLogNanos.compareAndSet(due, now + DROP_LOG_INTERVAL_NANOS)) {
            log.warn("shadow model {} cannot keep up: {} batches dropped so far (not compared; they do not count)",
                    version.getVersion(), droppedBatches.sum());
        }
    }

    /** Batches not compared because the candidate could not take them without making the live path wait. */
    public long droppedBatches() {
        return droppedBatches.sum();
    }

    /** Counters per language: n, agreement, active unsafe rate, candidate unsafe rate. */
    public Map<String, double[]> stats() {
        Map<String, double[]> out = new TreeMap<>();
        byLanguage.forEach((lang, c) -> {
            synchronized (c) {
                out.put(lang, new double[]{c[0], c[1] / (double) c[0], c[2] / (double) c[0], c[3] / (double) c[0]});
            }
        });
        return out;
    }

    /** Per category (lower case): the active model's and the candidate's firing rates; empty before any item. */
    public Map<String, double[]> categoryStats() {
        Map<String, double[]> out = new TreeMap<>();
        synchronized (byCategory) {
            for (dev.duoguard.runtime.taxonomy.SafetyCategory c : dev.duoguard.runtime.taxonomy.SafetyCategory.ordered()) {
                long[] v = byCategory[c.ordinal()];
                if (v[0] > 0) {
                    out.put(c.name().toLowerCase(java.util.Locale.ROOT), new double[]{v[1] / (double) v[0], v[2] / (double) v[0]});
                }
            }
        }
        return out;
    }

    public long compared() {
        return stats().values().stream().mapToLong(v -> (long) v[0]).sum();
    }

    public double meanLatencyMs() {
        long n = calls.get();
        return n == 0 ? Double.NaN : latencyMicros.sum() / 1000.0 / n;
    }

    /** PROMOTE when enough items were compared and every language is inside the bounds; REJECT when one is not. */
    public Verdict decide(Bounds b) {
        Map<String, double[]> s = stats();
        long n = s.values().stream().mapToLong(v -> (long) v[0]).sum();
        if (n < b.minSamples()) {
            return Verdict.WAIT;
        }
        long agreed = 0;
        for (Map.Entry<String, double[]> e : s.entrySet()) {
            double[] v = e.getValue();
            agreed += Math.round(v[0] * v[1]);
            if (v[0] >= b.minSamples() / 10.0 && Math.abs(v[3] - v[2]) > b.maxUnsafeRateDelta()) {
                return Verdict.REJECT;
            }
        }
        return agreed / (double) n >= b.minAgreement() ? Verdict.PROMOTE : Verdict.REJECT;
    }

    /** Why {@link #decide} decided, for the models topic and the log. */
    public String summary() {
        long n = compared();
        double agreement = stats().values().stream().mapToDouble(v -> v[0] * v[1]).sum() / Math.max(1, n);
        StringBuilder cats = new StringBuilder("{");
        categoryStats().forEach((c, v) -> {
            if (v[0] > 0 || v[1] > 0) {
                cats.append(String.format("%s %.3f->%.3f; ", c, v[0], v[1]));
            }
        });
        return String.format("shadow: %d items, agreement %.3f, mean candidate latency %.1f ms, per language %s, "
                + "categories fired %s}", n, agreement, meanLatencyMs(), describe(), cats);
    }

    private String describe() {
        StringBuilder b = new StringBuilder("{");
        stats().forEach((lang, v) -> b.append(String.format("%s: n=%d agree=%.3f unsafe %.3f->%.3f; ", lang,
                (long) v[0], v[1], v[2], v[3])));
        return b.append("}").toString();
    }

    @Override
    public void close() {
        try {
            resources.close();
        } catch (Exception e) {
            log.warn("closing shadow model {} failed: {}", version.getVersion(), e.toString());
        }
    }
}
