package dev.duoguard.streams.model;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.runtime.scoring.Scorer;
import dev.duoguard.runtime.scoring.TextScores;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** Swapping the serving model under concurrent batches: no batch sees a closed model or mixes two models. */
class ModelSlotTest {

    /** A scorer whose probabilities encode its version, and which refuses to score once closed. */
    static final class VersionedScorer implements Scorer, AutoCloseable {
        final int version;
        final AtomicBoolean closed = new AtomicBoolean();

        VersionedScorer(int version) {
            this.version = version;
        }

        @Override
        public List<TextScores> score(List<String> texts) {
            if (closed.get()) {
                throw new IllegalStateException("model " + version + " used after close");
            }
            List<TextScores> out = new ArrayList<>();
            for (String ignored : texts) {
                float[] p = new float[12];
                p[0] = version / 1000f;
                out.add(new TextScores(p, 1));
            }
            return out;
        }

        @Override
        public ModelIdentity model() {
            return new ModelIdentity("m", Integer.toString(version), new float[12], "test");
        }

        @Override
        public void close() {
            closed.set(true);
        }
    }

    @Test
    void batchesUseOneLiveModelEachAndRetiredModelsAreClosedOnceUnused() throws Exception {
        VersionedScorer first = new VersionedScorer(1);
        ModelSlot slot = new ModelSlot(first, first, Runnable::run);
        List<VersionedScorer> all = new ArrayList<>(List.of(first));
        ConcurrentLinkedQueue<String> problems = new ConcurrentLinkedQueue<>();
        AtomicBoolean stop = new AtomicBoolean();
        AtomicInteger batches = new AtomicInteger();
        CountDownLatch done = new CountDownLatch(4);
        for (int t = 0; t < 4; t++) {
            new Thread(() -> {
                        try {
                            while (!stop.get()) {
                                try (ModelSlot.Lease lease = slot.acquire()) {
                                    Scorer s = lease.scorer();
                                    String version = s.model().version();
                                    Thread.yield(); // give swaps a chance mid-batch
                                    for (TextScores ts : s.score(List.of("a", "b"))) {
                                        if (Math.round(ts.probabilities()[0] * 1000) != Integer.parseInt(version)) {
                                            problems.add("batch mixed models");
                                        }
                                    }
                                    batches.incrementAndGet();
                                } catch (RuntimeException e) {
                                    problems.add(e.getMessage());
                                }
                            }
                        } finally {
                            done.countDown();
                        }
                    })
                    .start();
        }
        for (int v = 2; v <= 200; v++) {
            VersionedScorer next = new VersionedScorer(v);
            all.add(next);
            assertThat(slot.swap(next, next).version()).isEqualTo(Integer.toString(v - 1));
            Thread.sleep(1); // the pace of the swaps: batches run between them, not a wait for anything
        }
        stop.set(true);
        done.await();

        assertThat(problems).isEmpty();
        assertThat(batches.get()).isGreaterThan(200);
        assertThat(slot.model().version()).isEqualTo("200");
        for (VersionedScorer s : all.subList(0, all.size() - 1)) {
            assertThat(s.closed).as("retired model %d closed", s.version).isTrue();
        }
        assertThat(all.get(all.size() - 1).closed)
                .as("the serving model stays open")
                .isFalse();
        slot.close();
        assertThat(all.get(all.size() - 1).closed).isTrue();
    }

    @Test
    void aHeldModelIsClosedOnlyWhenItsLastBatchReleasesIt() {
        VersionedScorer a = new VersionedScorer(1);
        VersionedScorer b = new VersionedScorer(2);
        ModelSlot slot = new ModelSlot(a, a, Runnable::run);
        ModelSlot.Lease inFlight = slot.acquire();
        slot.swap(b, b);
        assertThat(a.closed).as("a batch still scores with it").isFalse();
        assertThat(inFlight.scorer().score(List.of("x"))).hasSize(1);
        try (ModelSlot.Lease next = slot.acquire()) {
            assertThat(next.scorer()).isSameAs(b);
        }
        inFlight.close();
        assertThat(a.closed).isTrue();
        inFlight.close(); // releasing twice is harmless
        assertThat(b.closed).isFalse();
    }

    @Test
    void byDefaultTheRetiredModelIsClosedOffTheReleasingThread() throws Exception {
        VersionedScorer a = new VersionedScorer(1);
        VersionedScorer b = new VersionedScorer(2);
        AtomicReference<String> closingThread = new AtomicReference<>();
        ModelSlot slot = new ModelSlot(a, () -> {
            closingThread.set(Thread.currentThread().getName());
            a.close();
        });
        ModelSlot.Lease inFlight = slot.acquire();
        slot.swap(b, b);
        inFlight.close();
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (!a.closed.get() && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertThat(a.closed).isTrue();
        assertThat(closingThread.get())
                .isEqualTo("model-closer")
                .isNotEqualTo(Thread.currentThread().getName());
        assertThat(b.closed).isFalse();
    }
}
