package dev.duoguard.streams.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.duoguard.lifecycle.ShadowStats;
import dev.duoguard.runtime.scoring.DynamicBatcher;
import dev.duoguard.runtime.scoring.Scorer;
import dev.duoguard.runtime.scoring.ScoringException;
import dev.duoguard.runtime.scoring.TextScores;
import dev.duoguard.schemas.ModelStatus;
import dev.duoguard.schemas.ModelVersion;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Shadow comparisons and the promotion bounds. */
class ShadowTest {

    /** Flags a text as unsafe iff it contains "bad". */
    static Scorer keyword(String word) {
        return new Scorer() {
            @Override
            public List<TextScores> score(List<String> texts) {
                List<TextScores> out = new ArrayList<>();
                for (String t : texts) {
                    float[] p = new float[12];
                    p[3] = t.contains(word) ? 0.9f : 0.1f;
                    out.add(new TextScores(p, 1));
                }
                return out;
            }

            @Override
            public ModelIdentity model() {
                float[] t = new float[12];
                Arrays.fill(t, 0.5f);
                return new ModelIdentity("m", "2", t, "test");
            }
        };
    }

    static ModelVersion version() {
        return ModelVersion.newBuilder()
                .setModelName("m")
                .setVersion("2")
                .setArtifactUri("file:/x")
                .setSha256("0")
                .setCategories(List.of())
                .setThresholds(List.of())
                .setStatus(ModelStatus.CANDIDATE)
                .setCreatedAt(Instant.now())
                .build();
    }

    static void feed(Shadow s, int batches) {
        for (int b = 0; b < batches; b++) {
            List<String> texts = List.of("bad thing", "good thing", "schlecht bad", "gut");
            boolean[] active = {true, false, true, false}; // the active model flags "bad"
            boolean[][] fired = new boolean[4][12];
            for (int i = 0; i < 4; i++) {
                fired[i][3] = active[i]; // in the category the test scorer uses
            }
            s.observe(texts, active, fired, List.of("en", "en", "de", "de"));
        }
    }

    /** The active model's and the candidate's firing rates of {@code category}. */
    static double[] rates(ShadowStats stats, String category) {
        ShadowStats.Category c = stats.categories().get(category);
        return new double[] {c.activeRate(), c.candidateRate()};
    }

    @Test
    void anAgreeingCandidateWaitsForEnoughItemsThenPasses() {
        Shadow s = new Shadow(version(), keyword("bad"), () -> {});
        ShadowStats.Bounds bounds = new ShadowStats.Bounds(100, 0.95, 0.05);
        feed(s, 10);
        assertThat(s.stats().decide(bounds)).isEqualTo(ShadowStats.Verdict.WAIT);
        feed(s, 20);
        ShadowStats stats = s.stats();
        assertThat(stats.compared()).isEqualTo(120);
        assertThat(stats.decide(bounds)).isEqualTo(ShadowStats.Verdict.PROMOTE);
        assertThat(stats.languages().get("de").agreement()).as("agreement").isEqualTo(1.0);
        assertThat(stats.languages().get("en").activeUnsafeRate())
                .as("active unsafe rate")
                .isCloseTo(0.5, within(1e-9));
        assertThat(stats.summary()).contains("agreement 1.000").contains("child_sexual_exploitation 0.500->0.500");
        assertThat(rates(stats, "child_sexual_exploitation")).containsExactly(0.5, 0.5);
        assertThat(rates(stats, "hate")).containsExactly(0.0, 0.0);
    }

    @Test
    void aCandidateThatFlagsDifferentlyIsRejected() {
        Shadow s = new Shadow(version(), keyword("thing"), () -> {}); // flags "good thing", misses "schlecht bad"
        feed(s, 30);
        ShadowStats stats = s.stats();
        ShadowStats.Verdict v = stats.decide(new ShadowStats.Bounds(100, 0.5, 1.0));
        assertThat(v)
                .as("agreement 0.5 passes a 0.5 bound when unsafe rates may differ")
                .isEqualTo(ShadowStats.Verdict.PROMOTE);
        assertThat(stats.decide(new ShadowStats.Bounds(100, 0.9, 1.0))).isEqualTo(ShadowStats.Verdict.REJECT);
        assertThat(stats.decide(new ShadowStats.Bounds(100, 0.0, 0.05)))
                .as("de unsafe rate 0.5 -> 0.0")
                .isEqualTo(ShadowStats.Verdict.REJECT);
        assertThat(rates(stats, "child_sexual_exploitation"))
                .as("active 2 of 4, candidate 2 of 4 (other items)")
                .containsExactly(0.5, 0.5);
    }

    /**
     * The candidate's model is blocked at a gate this thread holds, so an observe that waited for queue space would
     * wait for itself (the call timeout is longer than the hang guard): returning at all proves it did not wait.
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS) // hang guard only, not a performance bound
    void aBatchTheBlockedCandidateCannotTakeIsDroppedWithoutWaiting() throws Exception {
        Scorer agreeing = keyword("bad");
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch gate = new CountDownLatch(1);
        Scorer blocked = new Scorer() {
            @Override
            public List<TextScores> score(List<String> texts) {
                entered.countDown();
                try {
                    gate.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new ScoringException("interrupted at the gate", e);
                }
                return agreeing.score(texts);
            }

            @Override
            public ModelIdentity model() {
                return agreeing.model();
            }
        };
        // one model call takes a whole fed batch (4 texts, and a minute to collect them), the queue holds one more
        try (DynamicBatcher candidate = new DynamicBatcher(
                blocked, 4, Duration.ofMinutes(1), Duration.ofMinutes(10), 4, Duration.ofMinutes(20))) {
            Shadow s = new Shadow(version(), candidate, () -> {});
            feed(s, 1);
            entered.await(); // the model holds the first batch at the gate
            feed(s, 1); // fills the queue
            feed(s, 1); // finds it full
            assertThat(s.stats().droppedBatches()).isEqualTo(1);

            gate.countDown();
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (s.stats().compared() < 8 && System.nanoTime() < deadline) {
                LockSupport.parkNanos(1_000_000);
            }
            ShadowStats stats = s.stats();
            assertThat(stats.compared())
                    .as("the two batches handed off, nothing of the dropped one")
                    .isEqualTo(8);
            assertThat(stats.droppedBatches()).isEqualTo(1);
            assertThat(stats.languages().get("en")).isEqualTo(new ShadowStats.Language(4, 4, 2, 2));
            assertThat(stats.languages().get("de")).isEqualTo(new ShadowStats.Language(4, 4, 2, 2));
            assertThat(rates(stats, "child_sexual_exploitation")).containsExactly(0.5, 0.5);
        }
    }
}
