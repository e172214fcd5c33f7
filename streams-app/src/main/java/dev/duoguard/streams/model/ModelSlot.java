package dev.duoguard.streams.model;

import dev.duoguard.lifecycle.ModelKey;
import dev.duoguard.runtime.scoring.Scorer;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The model that scores live traffic, swappable while traffic flows. A batch {@link #acquire}s a lease and uses
 * that one scorer for everything (the texts, the scores, the version its verdicts name); {@link #swap} installs a
 * model that is already loaded and retires the old one, which is closed (its memory returned) once the last batch
 * holding it releases it. So no batch is scored by a half-loaded model, no batch mixes two models, and a swap
 * never waits for traffic: the pause a swap causes is one atomic reference update.
 */
public final class ModelSlot implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ModelSlot.class);

    /** A scorer and what must be closed with it; held by the slot and by every batch using it. */
    private static final class Entry {
        final Scorer scorer;
        final AutoCloseable resources;
        final Executor closer;
        final AtomicInteger holders = new AtomicInteger(1); // the slot's own hold

        Entry(Scorer scorer, AutoCloseable resources, Executor closer) {
            this.scorer = scorer;
            this.resources = resources;
            this.closer = closer;
        }

        boolean tryRetain() {
            while (true) {
                int n = holders.get();
                if (n == 0) {
                    return false; // retired and closed: take the new current
                }
                if (holders.compareAndSet(n, n + 1)) {
                    return true;
                }
            }
        }

        void release() {
            if (holders.decrementAndGet() == 0) {
                closer.execute(() -> {
                    try {
                        resources.close();
                        log.info("closed retired model {}", label(scorer));
                    } catch (Exception e) {
                        log.warn("closing retired model {} failed: {}", label(scorer), e.toString());
                    }
                });
            }
        }
    }

    /** The model a batch uses from start to end; release it with {@link #close}. */
    public static final class Lease implements AutoCloseable {
        private final Entry entry;
        private boolean released;

        private Lease(Entry entry) {
            this.entry = entry;
        }

        public Scorer scorer() {
            return entry.scorer;
        }

        @Override
        public void close() {
            if (!released) {
                released = true;
                entry.release();
            }
        }
    }

    /**
     * Closing a retired model (its ONNX session) takes milliseconds; the batch that releases the last lease would
     * pay for it on a stream thread (bench --swap measured a 2 ms gap), so it is closed on this thread instead.
     */
    private static final Executor BACKGROUND = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "model-closer");
        t.setDaemon(true);
        return t;
    });

    private final AtomicReference<Entry> current;
    private final Executor closer;
    private final AtomicReference<Shadow> shadow = new AtomicReference<>();
    private volatile double shadowShare;

    /** @param resources closed when this model is retired and unused (e.g. its batcher and ONNX session) */
    public ModelSlot(Scorer scorer, AutoCloseable resources) {
        this(scorer, resources, BACKGROUND);
    }

    /** @param closer where retired models are closed ({@code Runnable::run}: on the releasing thread, for tests) */
    public ModelSlot(Scorer scorer, AutoCloseable resources, Executor closer) {
        this.closer = closer;
        this.current = new AtomicReference<>(new Entry(scorer, resources, closer));
    }

    /** A slot whose model is never swapped and owns nothing (tests, fixed deployments). */
    public static ModelSlot fixed(Scorer scorer) {
        return new ModelSlot(scorer, () -> {});
    }

    public Lease acquire() {
        while (true) {
            Entry e = current.get();
            if (e.tryRetain()) {
                return new Lease(e);
            }
        }
    }

    /** The model serving now (for metrics and readiness; a batch must {@link #acquire} instead). */
    public Scorer.ModelIdentity model() {
        return current.get().scorer.model();
    }

    /** The candidate scoring a share of traffic next to the active model, or null. */
    public Shadow shadow() {
        return shadow.get();
    }

    /** The share of batches the shadow also scores. */
    public double shadowShare() {
        return shadowShare;
    }

    public void shadowShare(double share) {
        this.shadowShare = share;
    }

    /** Installs {@code next} (or none) as the shadow and closes the previous one. */
    public void shadow(Shadow next) {
        Shadow old = shadow.getAndSet(next);
        if (old != null && old != next) {
            old.close();
        }
    }

    /** Installs {@code scorer} (already loaded) and retires the current model; returns the retired identity. */
    public Scorer.ModelIdentity swap(Scorer scorer, AutoCloseable resources) {
        Entry old = current.getAndSet(new Entry(scorer, resources, closer));
        log.info("now serving {} (was {})", label(scorer), label(old.scorer));
        old.release();
        return old.scorer.model();
    }

    static String label(Scorer s) {
        return new ModelKey(s.model().name(), s.model().version()).toString();
    }

    @Override
    public void close() {
        shadow(null);
        current.get().release();
    }
}
