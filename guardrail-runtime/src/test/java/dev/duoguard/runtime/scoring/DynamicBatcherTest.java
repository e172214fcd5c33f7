package dev.duoguard.runtime.scoring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.duoguard.runtime.taxonomy.SafetyCategory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

class DynamicBatcherTest {

    /**
     * Scores a text by its length, records every call's size and texts, optionally blocks or fails (with a
     * ScoringException, or with {@code fatal} when that is set).
     */
    static final class RecordingScorer implements Scorer {
        final List<Integer> calls = Collections.synchronizedList(new ArrayList<>());
        final List<String> texts = Collections.synchronizedList(new ArrayList<>());
        /** Counted down when the first model call starts (before it waits at the gate). */
        final CountDownLatch entered = new CountDownLatch(1);
        /** Texts in the first model call (set before {@link #entered} is counted down). */
        volatile int firstCall;

        volatile CountDownLatch gate = new CountDownLatch(0);
        volatile String poison;
        volatile Error fatal;

        @Override
        public List<TextScores> score(List<String> texts) {
            if (entered.getCount() > 0) {
                firstCall = texts.size();
            }
            entered.countDown();
            try {
                gate.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            calls.add(texts.size());
            this.texts.addAll(texts);
            List<TextScores> out = new ArrayList<>();
            for (String t : texts) {
                if (t.equals(poison)) {
                    if (fatal != null) {
                        throw fatal;
                    }
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
            // all 8 requests reached the batcher: the first call holds some at the gate, the rest wait in the queue
            assertThat(delegate.entered.await(10, TimeUnit.SECONDS)).isTrue();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (delegate.firstCall + batcher.queued() < 8 && System.nanoTime() < deadline) {
                LockSupport.parkNanos(1_000_000);
            }
            assertThat(delegate.firstCall + batcher.queued()).isEqualTo(8);
            delegate.gate.countDown();
            for (int i = 0; i < 8; i++) {
                assertThat(results.get(i).get().get(0).probabilities()[0]).isEqualTo((i + 1) / 100f);
            }
            pool.shutdown();
            assertThat(delegate.calls.stream().mapToInt(Integer::intValue).sum())
                    .isEqualTo(8);
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
            assertThat(delegate.calls.stream().mapToInt(Integer::intValue).sum())
                    .isEqualTo(10);
        }
    }

    @Test
    void modelFailureFailsTheCallerWithTheCause() {
        RecordingScorer delegate = new RecordingScorer();
        delegate.poison = "bad";
        try (DynamicBatcher batcher = new DynamicBatcher(delegate, 8, Duration.ofMillis(5), Duration.ofSeconds(10))) {
            assertThatThrownBy(() -> batcher.score(List.of("good", "bad")))
                    .isInstanceOf(ScoringException.class)
                    .hasMessageContaining("poisoned");
            assertThat(batcher.score(List.of("good"))).hasSize(1);
        }
    }

    @Test
    void waitIsBoundedWhenTheModelHangs() {
        RecordingScorer delegate = new RecordingScorer();
        delegate.gate = new CountDownLatch(1);
        try (DynamicBatcher batcher = new DynamicBatcher(delegate, 8, Duration.ofMillis(1), Duration.ofMillis(300))) {
            assertThatThrownBy(() -> batcher.score(List.of("stuck")))
                    .isInstanceOf(ScoringException.class)
                    .hasMessageContaining("did not finish within 300 ms");
            delegate.gate.countDown();
        }
    }

    /** Hangs on any batch holding a text that starts with "HANG" until released, ignoring interrupts (as native code does). */
    static final class HangingScorer implements Scorer {
        final CountDownLatch release = new CountDownLatch(1);
        /** One permit per hanging call that has started. */
        final Semaphore entered = new Semaphore(0);

        @Override
        public List<TextScores> score(List<String> texts) {
            if (texts.stream().anyMatch(t -> t.startsWith("HANG"))) {
                entered.release();
                boolean interrupted = false;
                while (release.getCount() > 0) {
                    try {
                        release.await();
                    } catch (InterruptedException e) {
                        interrupted = true;
                    }
                }
                if (interrupted) {
                    Thread.currentThread().interrupt();
                }
            }
            List<TextScores> out = new ArrayList<>();
            texts.forEach(t -> out.add(new TextScores(new float[SafetyCategory.COUNT], 1)));
            return out;
        }

        @Override
        public ModelIdentity model() {
            return new ModelIdentity("hanging", "1", new float[SafetyCategory.COUNT], "test");
        }
    }

    @Test
    void aCallThatHangsPastTheTimeoutWithNobodyWaitingNoLongerHoldsTheQueue() throws Exception {
        HangingScorer delegate = new HangingScorer();
        // a generous timeout: the call after the hang must not time out while a loaded machine starts the new worker
        try (DynamicBatcher batcher = new DynamicBatcher(delegate, 8, Duration.ofMillis(1), Duration.ofSeconds(2))) {
            CompletableFuture<List<TextScores>> pending = batcher.submit(List.of("HANG forever"));
            assertThat(delegate.entered.tryAcquire(30, TimeUnit.SECONDS))
                    .as("the call reached the model")
                    .isTrue();
            assertThatThrownBy(() -> batcher.await(pending)).isInstanceOf(ScoringTimeoutException.class);
            assertThat(batcher.abandonedWorkers()).isEqualTo(1);
            assertThat(batcher.score(List.of("next")))
                    .as("a new worker serves the queue")
                    .hasSize(1);
            assertThat(batcher.problem()).isEmpty();
            delegate.release.countDown();
        }
    }

    @Test
    void afterTooManyHungCallsTheBatcherStopsReplacingWorkersAndReportsStuck() throws Exception {
        HangingScorer delegate = new HangingScorer();
        try (DynamicBatcher batcher = new DynamicBatcher(delegate, 8, Duration.ofMillis(1), Duration.ofMillis(100))) {
            for (int i = 0; i < DynamicBatcher.MAX_ABANDONED; i++) {
                // the call must be running in the model when its caller gives up, or there is nothing to abandon
                CompletableFuture<List<TextScores>> pending = batcher.submit(List.of("HANG " + i));
                assertThat(delegate.entered.tryAcquire(30, TimeUnit.SECONDS))
                        .as("call %d reached the model", i)
                        .isTrue();
                assertThatThrownBy(() -> batcher.await(pending)).isInstanceOf(ScoringTimeoutException.class);
            }
            assertThat(batcher.abandonedWorkers()).isEqualTo(DynamicBatcher.MAX_ABANDONED);
            assertThatThrownBy(() -> batcher.score(List.of("HANG again"))).isInstanceOf(ScoringTimeoutException.class);
            assertThat(batcher.abandonedWorkers()).as("no fifth thread leaked").isEqualTo(DynamicBatcher.MAX_ABANDONED);
            assertThat(batcher.problem()).hasValueSatisfying(p -> assertThat(p).contains("batcher stuck"));
            delegate.release.countDown();
        }
    }

    @Test
    void anErrorFromTheModelFailsOnlyItsBatch() {
        RecordingScorer delegate = new RecordingScorer();
        delegate.poison = "oom";
        delegate.fatal = new OutOfMemoryError("test: Java heap space");
        try (DynamicBatcher batcher = new DynamicBatcher(delegate, 8, Duration.ofMillis(1), Duration.ofSeconds(10))) {
            assertThatThrownBy(() -> batcher.score(List.of("oom")))
                    .isInstanceOf(ScoringException.class)
                    .hasMessageContaining("OutOfMemoryError")
                    .cause()
                    .isSameAs(delegate.fatal);
            assertThat(batcher.score(List.of("fine"))).hasSize(1);
            assertThat(batcher.problem()).isEmpty();
            assertThat(batcher.failedBatches()).isEqualTo(1);
            assertThat(batcher.workerRestarts())
                    .as("the worker survived the error")
                    .isZero();
        }
    }

    @Test
    void aWorkerKilledOutsideAModelCallIsReplaced() {
        RecordingScorer delegate = new RecordingScorer();
        AtomicBoolean thrown = new AtomicBoolean();
        try (DynamicBatcher batcher = new DynamicBatcher(delegate, 8, Duration.ofMillis(1), Duration.ofSeconds(10))) {
            // the listener runs outside the per-batch guard: its first call ends the worker thread
            batcher.onBatch(n -> {
                if (thrown.compareAndSet(false, true)) {
                    throw new StackOverflowError("test: listener");
                }
            });
            assertThat(batcher.score(List.of("first")))
                    .as("answered before the listener runs")
                    .hasSize(1);
            assertThat(batcher.score(List.of("second")))
                    .as("scored by the new worker")
                    .hasSize(1);
            assertThat(thrown).isTrue();
            assertThat(batcher.workerRestarts()).isEqualTo(1);
            assertThat(batcher.failedBatches()).isZero();
            assertThat(batcher.problem()).isEmpty();
        }
    }

    @Test
    void aModelCallRunningPastTheStuckThresholdIsReportedUntilItReturns() throws Exception {
        RecordingScorer delegate = new RecordingScorer();
        delegate.gate = new CountDownLatch(1);
        try (DynamicBatcher batcher = new DynamicBatcher(
                delegate, 8, Duration.ofMillis(1), Duration.ofMinutes(1), 64, Duration.ofMillis(50))) {
            assertThat(batcher.problem()).isEmpty();
            CompletableFuture<List<TextScores>> pending = batcher.submit(List.of("slow"));
            delegate.entered.await();
            Optional<String> problem = awaitPresent(batcher::problem);
            assertThat(problem)
                    .hasValueSatisfying(p -> assertThat(p).contains("stuck").contains("50 ms"));
            delegate.gate.countDown();
            assertThat(batcher.await(pending)).hasSize(1);
            assertThat(batcher.problem()).as("the call returned").isEmpty();
        }
    }

    /**
     * The test thread holds the gate the model waits at, so a trySubmit that waited for queue space would wait
     * for itself (the call timeout is longer than the hang guard): returning at all proves it did not wait.
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS) // hang guard only, not a performance bound
    void trySubmitOnAFullQueueRefusesAtOnceAndItsTextsAreNeverScored() throws Exception {
        RecordingScorer delegate = new RecordingScorer();
        delegate.gate = new CountDownLatch(1);
        try (DynamicBatcher batcher = new DynamicBatcher(
                delegate, 1, Duration.ofMillis(1), Duration.ofMinutes(10), 2, Duration.ofMinutes(20))) {
            CompletableFuture<List<TextScores>> first = batcher.submit(List.of("first"));
            delegate.entered.await(); // the worker holds "first" at the gate; the queue is empty
            Optional<CompletableFuture<List<TextScores>>> queued = batcher.trySubmit(List.of("queued"));
            assertThat(queued).isPresent();
            // "cancelled" takes the last place, "refused" finds none: both are given back
            assertThat(batcher.trySubmit(List.of("cancelled", "refused"))).isEmpty();
            assertThat(first).as("the model is still blocked").isNotDone();

            delegate.gate.countDown();
            assertThat(batcher.await(first)).hasSize(1);
            assertThat(batcher.await(queued.orElseThrow())).hasSize(1);
            // one worker takes the queue in order, so "cancelled" was taken (and skipped) before "last"
            assertThat(batcher.score(List.of("last"))).hasSize(1);
            assertThat(delegate.texts).containsExactly("first", "queued", "last");
        }
    }

    /** Polls until {@code check} reports something (at most 30 s; the condition normally holds in milliseconds). */
    static Optional<String> awaitPresent(Supplier<Optional<String>> check) {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        Optional<String> v = check.get();
        while (v.isEmpty() && System.nanoTime() < deadline) {
            LockSupport.parkNanos(1_000_000);
            v = check.get();
        }
        return v;
    }
}
