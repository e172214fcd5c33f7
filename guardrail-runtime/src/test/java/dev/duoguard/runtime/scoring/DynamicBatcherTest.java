package dev.duoguard.runtime.scoring;

import dev.duoguard.runtime.taxonomy.SafetyCategory;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class DynamicBatcherTest {

    /** Scores a text by its length, records every call's size, optionally blocks or fails. */
    static final class RecordingScorer implements Scorer {
        final List<Integer> calls = Collections.synchronizedList(new ArrayList<>());
        volatile CountDownLatch gate = new CountDownLatch(0);
        volatile String poison;

        @Override
        public List<TextScores> score(List<String> texts) {
            try {
                gate.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            calls.add(texts.size());
            List<TextScores> out = new ArrayList<>();
            for (String t : texts) {
                if (t.equals(poison)) {
                    throw new ScoringException("poisoned batch");
                }
                float[] p = new float[SafetyCategory.COUNT];
                p[0] = t.length() / 100f;
                out.add(new TextScores(p, 1));
            }
            return out;
        }

        @Override
        public ModelIdentity model() {
            return new ModelIdentity("recording", "1", new float[SafetyCategory.COUNT], "test");
        }
    }

    @Test
    void concurrentRequestsAreCoalescedIntoFewerModelCalls() throws Exception {
        RecordingScorer delegate = new RecordingScorer();
        delegate.gate = new CountDownLatch(1);
        try (DynamicBatcher batcher = new DynamicBatcher(delegate, 16, Duration.ofMillis(50), Duration.ofSeconds(10))) {
            ExecutorService pool = Executors.newFixedThreadPool(8);
            List<Future<List<TextScores>>> results = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                String text = "x".repeat(i + 1);
                results.add(pool.submit(() -> batcher.score(List.of(text))));
            }
            Thread.sleep(200); // all 8 requests are queued while the first model call is held at the gate
            delegate.gate.countDown();
            for (int i = 0; i < 8; i++) {
                assertThat(results.get(i).get().get(0).probabilities()[0]).isEqualTo((i + 1) / 100f);
            }
            pool.shutdown();
            assertThat(delegate.calls.stream().mapToInt(Integer::intValue).sum()).isEqualTo(8);
            assertThat(delegate.calls.size()).isLessThan(8);
            assertThat(delegate.calls).allMatch(n -> n <= 16);
        }
    }

    @Test
    void maxBatchSizeIsRespected() {
        RecordingScorer delegate = new RecordingScorer();
        try (DynamicBatcher batcher = new DynamicBatcher(delegate, 3, Duration.ofMillis(20), Duration.ofSeconds(10))) {
            List<String> texts = new ArrayList<>();
            for (int i = 0; i < 10; i++) {
                texts.add("t" + i);
            }
            assertThat(batcher.score(texts)).hasSize(10);
            assertThat(delegate.calls).allMatch(n -> n <= 3);
            assertThat(delegate.calls.stream().mapToInt(Integer::intValue).sum()).isEqualTo(10);
        }
    }

    @Test
    void modelFailureFailsTheCallerWithTheCause() {
        RecordingScorer delegate = new RecordingScorer();
        delegate.poison = "bad";
        try (DynamicBatcher batcher = new DynamicBatcher(delegate, 8, Duration.ofMillis(5), Duration.ofSeconds(10))) {
            assertThatThrownBy(() -> batcher.score(List.of("good", "bad")))
                    .isInstanceOf(ScoringException.class).hasMessageContaining("poisoned");
            assertThat(batcher.score(List.of("good"))).hasSize(1);
        }
    }

    @Test
    void waitIsBoundedWhenTheModelHangs() {
        RecordingScorer delegate = new RecordingScorer();
        delegate.gate = new CountDownLatch(1);
        try (DynamicBatcher batcher = new DynamicBatcher(delegate, 8, Duration.ofMillis(1), Duration.ofMillis(300))) {
            assertThatThrownBy(() -> batcher.score(List.of("stuck")))
                    .isInstanceOf(ScoringException.class).hasMessageContaining("did not finish within 300 ms");
            delegate.gate.countDown();
        }
    }
}
