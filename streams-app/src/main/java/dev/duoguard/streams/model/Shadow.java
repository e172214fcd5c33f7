package dev.duoguard.streams.model;

import dev.duoguard.lifecycle.ShadowStats;
import dev.duoguard.runtime.policy.DecisionPolicy;
import dev.duoguard.runtime.scoring.Scorer;
import dev.duoguard.runtime.scoring.TextScores;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import dev.duoguard.schemas.ModelVersion;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A candidate version scoring a share of live traffic next to the active model. Its verdicts are never used:
 * it only records, per language, how often its unsafe decision agrees with the active model's, both unsafe rates,
 * per category both models' rates of firing the category (probability above its threshold), and its own latency.
 * The candidate scores asynchronously on its own batcher, so shadowing adds no latency to the verdicts: a batch
 * the candidate's queue cannot take at once is dropped and counted, never waited for, and is simply absent from
 * the comparisons. {@link #stats} gives all of it as a {@link ShadowStats}, which decides promotion.
 */
public final class Shadow implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(Shadow.class);
    private static final long DROP_LOG_INTERVAL_NANOS = TimeUnit.MINUTES.toNanos(1);

    /** Per-language counters: compared, agreed, unsafe by active, unsafe by candidate. */
    private final Map<String, long[]> byLanguage = new ConcurrentHashMap<>();
    /** Per category: compared, fired by active, fired by candidate. */
    private final long[][] byCategory = new long[SafetyCategory.COUNT][3];

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
                boolean cand = DecisionPolicy.isUnsafe(scores.get(i).probabilities(), thresholds);
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
            log.warn(
                    "shadow model {} cannot keep up: {} batches dropped so far (not compared; they do not count)",
                    version.getVersion(),
                    droppedBatches.sum());
        }
    }

    /** What the comparisons have measured so far (decides promotion, and feeds the shadow metrics). */
    public ShadowStats stats() {
        Map<String, ShadowStats.Language> languages = new HashMap<>();
        byLanguage.forEach((lang, c) -> {
            synchronized (c) {
                languages.put(lang, new ShadowStats.Language(c[0], c[1], c[2], c[3]));
            }
        });
        Map<String, ShadowStats.Category> categories = new HashMap<>();
        synchronized (byCategory) {
            for (SafetyCategory c : SafetyCategory.ordered()) {
                long[] v = byCategory[c.ordinal()];
                if (v[0] > 0) {
                    categories.put(c.name().toLowerCase(Locale.ROOT), new ShadowStats.Category(v[0], v[1], v[2]));
                }
            }
        }
        long n = calls.get();
        double meanLatencyMs = n == 0 ? Double.NaN : latencyMicros.sum() / 1000.0 / n;
        return new ShadowStats(languages, categories, meanLatencyMs, droppedBatches.sum());
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
