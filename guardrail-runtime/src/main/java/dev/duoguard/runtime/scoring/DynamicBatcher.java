package dev.duoguard.runtime.scoring;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.IntConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Coalesces concurrent {@link #score} calls into one model call.
 *
 * <p>One worker thread takes the first waiting text, then keeps taking texts until {@code maxBatch} are collected
 * or {@code maxWait} has passed since the first, and scores them in one call to the delegate (which pads the batch
 * to its own longest item). Callers wait at most {@code callTimeout}; a model failure fails exactly the texts of
 * that batch. The queue is bounded so a stalled model pushes back instead of growing the heap.
 *
 * <p>The worker never stalls silently. Anything the delegate throws, {@link Error}s included (an out-of-memory, a
 * stack overflow, a native failure), fails that batch only. If the worker thread ends anyway (a throw outside that
 * per-batch guard, such as from the {@link #onBatch} listener), whatever it held is failed and a new worker takes
 * over the queue: the dying worker starts it, and every {@link #submit}, {@link #trySubmit} and {@link #problem}
 * starts one if that failed. {@link #problem} tells a liveness probe when the worker is gone or stuck in one call.
 *
 * <p>A model call that hangs must not hold the queue behind it: once every caller of the running call's batch has
 * given up (timed out or cancelled), the worker is <b>abandoned</b>: interrupted, left to
 * finish its call (whose answers nobody reads) and exit, while a new worker serves the queue. At most
 * {@value #MAX_ABANDONED} abandoned workers may still be running; past that the batcher stops replacing them and
 * {@link #problem} reports it stuck, so the liveness probe restarts the process rather than leak threads.
 */
public final class DynamicBatcher implements Scorer, AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(DynamicBatcher.class);
    /** {@link #callStartedNanos} when no model call runs; only compared for equality (a start time equal to it is as good as impossible). */
    private static final long IDLE = Long.MIN_VALUE;
    /** Abandoned workers (each stuck in a model call) that may still be running before the batcher reports stuck. */
    static final int MAX_ABANDONED = 4;

    private final Scorer delegate;
    private final int maxBatch;
    private final long maxWaitNanos;
    private final Duration callTimeout;
    private final Duration stuckAfter;
    private final LinkedBlockingQueue<Pending> queue;
    private volatile Thread worker;
    private volatile boolean running = true;
    private volatile IntConsumer batchSizeListener = n -> {};
    /** When the running model call started ({@link System#nanoTime}), or {@link #IDLE}. */
    private volatile long callStartedNanos = IDLE;
    /** The batch of the running model call (null when none), to tell whether anybody still waits for it. */
    private volatile List<Pending> inCall;

    private final Set<Thread> abandoned = ConcurrentHashMap.newKeySet();
    private final AtomicLong abandonedTotal = new AtomicLong();
    private final AtomicLong restarts = new AtomicLong();
    private final LongAdder failedBatches = new LongAdder();

    /** A queue of {@code max(1024, 16 * maxBatch)} texts; a model call is stuck after twice the call timeout. */
    public DynamicBatcher(Scorer delegate, int maxBatch, Duration maxWait, Duration callTimeout) {
        this(delegate, maxBatch, maxWait, callTimeout, Math.max(1024, maxBatch * 16), callTimeout.multipliedBy(2));
    }

    /**
     * @param queueCapacity how many texts may wait for the worker
     * @param stuckAfter    how long one model call may run before {@link #problem} reports the batcher stuck
     */
    public DynamicBatcher(
            Scorer delegate,
            int maxBatch,
            Duration maxWait,
            Duration callTimeout,
            int queueCapacity,
            Duration stuckAfter) {
        if (maxBatch < 1) {
            throw new IllegalArgumentException("maxBatch must be at least 1 but is " + maxBatch);
        }
        if (queueCapacity < 1) {
            throw new IllegalArgumentException("queueCapacity must be at least 1 but is " + queueCapacity);
        }
        if (stuckAfter.isNegative() || stuckAfter.isZero()) {
            throw new IllegalArgumentException("stuckAfter must be positive but is " + stuckAfter);
        }
        this.delegate = delegate;
        this.maxBatch = maxBatch;
        this.maxWaitNanos = maxWait.toNanos();
        this.callTimeout = callTimeout;
        this.stuckAfter = stuckAfter;
        this.queue = new LinkedBlockingQueue<>(queueCapacity);
        this.worker = newWorker();
        this.worker.start();
    }

    /**
     * Observes the size of every successful model call ({@code duoguard_model_call_size}). It runs on the worker after
     * the batch's callers are answered; if it throws, the worker is replaced (see the class comment).
     */
    public void onBatch(IntConsumer listener) {
        this.batchSizeListener = listener;
    }

    /** Texts waiting for a model call (not counting the one running). */
    public int queued() {
        return queue.size();
    }

    @Override
    public List<TextScores> score(List<String> texts) {
        return await(submit(texts));
    }

    /** Queues the texts (waiting at most the call timeout for queue space) and returns their combined future. */
    @Override
    public CompletableFuture<List<TextScores>> submit(List<String> texts) {
        ensureWorker();
        long deadline = System.nanoTime() + callTimeout.toNanos();
        List<CompletableFuture<TextScores>> futures = new ArrayList<>(texts.size());
        try {
            for (String t : texts) {
                Pending p = new Pending(t, new CompletableFuture<>());
                if (!running || !queue.offer(p, remaining(deadline), TimeUnit.NANOSECONDS)) {
                    futures.forEach(f -> f.cancel(false));
                    return CompletableFuture.failedFuture(new ScoringException(
                            "scoring queue full or closed; waited " + callTimeout.toMillis() + " ms"));
                }
                futures.add(p.result);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            futures.forEach(f -> f.cancel(false));
            return CompletableFuture.failedFuture(new ScoringException("interrupted while queueing for the model", e));
        }
        return combine(futures);
    }

    /**
     * Queues the texts only if the queue has room for all of them now; never waits. When it has not, the texts
     * queued so far are cancelled (the worker skips them, they are never scored) and the answer is empty.
     * A closed batcher answers a failed future, as {@link #submit} does.
     */
    @Override
    public Optional<CompletableFuture<List<TextScores>>> trySubmit(List<String> texts) {
        ensureWorker();
        if (!running) {
            return Optional.of(CompletableFuture.failedFuture(new ScoringException("scorer closed")));
        }
        List<CompletableFuture<TextScores>> futures = new ArrayList<>(texts.size());
        for (String t : texts) {
            Pending p = new Pending(t, new CompletableFuture<>());
            if (!queue.offer(p)) {
                futures.forEach(f -> f.cancel(false));
                return Optional.empty();
            }
            futures.add(p.result);
        }
        return Optional.of(combine(futures));
    }

    private CompletableFuture<List<TextScores>> combine(List<CompletableFuture<TextScores>> futures) {
        // close() clears running before the worker's last drain of the queue, so texts queued before this read
        // are drained by it; texts queued after it may have missed the drain and are failed here
        if (!running) {
            ScoringException closed = new ScoringException("scorer closed");
            futures.forEach(f -> f.completeExceptionally(closed));
        }
        CompletableFuture<List<TextScores>> all = CompletableFuture.allOf(futures.toArray(CompletableFuture[]::new))
                .thenApply(v -> futures.stream().map(CompletableFuture::join).toList());
        // cancelling the combined call (e.g. after a timeout) lets the worker skip the texts not yet scored
        all.whenComplete((v, e) -> {
            if (all.isCancelled()) {
                futures.forEach(f -> f.cancel(false));
            }
        });
        return all;
    }

    /** Waits at most the call timeout; a timeout fails with a ScoringException caused by a TimeoutException. */
    @Override
    public List<TextScores> await(CompletableFuture<List<TextScores>> pending) {
        try {
            return pending.get(callTimeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            pending.cancel(false);
            abandonIfNobodyWaits();
            throw new ScoringTimeoutException("scoring did not finish within " + callTimeout.toMillis() + " ms", e);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause() instanceof CompletionException ce ? ce.getCause() : e.getCause();
            throw cause instanceof ScoringException se
                    ? se
                    : new ScoringException(String.valueOf(cause.getMessage()), cause);
        } catch (CancellationException e) {
            throw new ScoringException("scoring was cancelled", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            pending.cancel(false);
            throw new ScoringException("interrupted while waiting for the model", e);
        }
    }

    /** As {@link Scorer#await(CompletableFuture, Duration)}; a timed-out caller may free the queue of a hung call. */
    @Override
    public List<TextScores> await(CompletableFuture<List<TextScores>> pending, Duration timeout) {
        try {
            return Scorer.super.await(pending, timeout);
        } catch (ScoringTimeoutException e) {
            abandonIfNobodyWaits();
            throw e;
        }
    }

    /**
     * Abandons the worker when none of the callers of its running model call still waits (see the class comment):
     * a call that was merely slow finishes on the abandoned thread and costs nothing more. Called by callers that time out and by {@link #problem}.
     */
    private synchronized void abandonIfNobodyWaits() {
        abandoned.removeIf(t -> !t.isAlive());
        long started = callStartedNanos;
        List<Pending> batch = inCall;
        Thread stuck = worker;
        if (!running
                || started == IDLE
                || batch == null
                || !batch.stream().allMatch(p -> p.result.isDone())
                || abandoned.size() >= MAX_ABANDONED) {
            return;
        }
        Thread next = newWorker();
        // published before it starts: a worker that is not the current one exits at once
        worker = next;
        try {
            next.start();
        } catch (Throwable t) {
            worker = stuck;
            log.error("could not start a worker to replace one stuck in a model call", t);
            return;
        }
        abandoned.add(stuck);
        abandonedTotal.incrementAndGet();
        callStartedNanos = IDLE;
        inCall = null;
        stuck.interrupt();
        log.error(
                "a model call has run for {} ms and nobody waits for it any more; abandoned its worker thread and "
                        + "started a new one ({} abandoned so far, {} still running)",
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started),
                abandonedTotal.get(),
                abandoned.size());
    }

    /** How many workers were abandoned in a hung model call (see the class comment). */
    public long abandonedWorkers() {
        return abandonedTotal.get();
    }

    /**
     * Empty while the batcher can score; otherwise why it cannot, in one line: closed, its worker thread dead and
     * not restartable, or one model call running for longer than the stuck threshold. Cheap enough for every
     * liveness probe; restarts a dead worker as a side effect.
     */
    public Optional<String> problem() {
        if (!running) {
            return Optional.of("batcher closed: nothing scores its queue");
        }
        ensureWorker();
        abandonIfNobodyWaits();
        if (!worker.isAlive()) {
            return Optional.of("batcher worker thread is dead and could not be restarted (" + restarts.get()
                    + " restarts so far)");
        }
        long started = callStartedNanos;
        if (abandoned.size() >= MAX_ABANDONED) {
            return Optional.of("batcher stuck: " + abandoned.size()
                    + " worker threads hang in model calls nobody waits " + "for; no more are replaced");
        }
        if (started != IDLE) {
            long runningNanos = System.nanoTime() - started;
            if (runningNanos > stuckAfter.toNanos()) {
                return Optional.of("batcher stuck: one model call has run for "
                        + TimeUnit.NANOSECONDS.toMillis(runningNanos) + " ms, over the stuck threshold of "
                        + stuckAfter.toMillis() + " ms");
            }
        }
        return Optional.empty();
    }

    /** How often a new worker thread replaced one that had ended while the batcher was open. */
    public long workerRestarts() {
        return restarts.get();
    }

    /** How many model calls failed (each failing exactly its batch's texts). */
    public long failedBatches() {
        return failedBatches.sum();
    }

    private static long remaining(long deadline) {
        return Math.max(0, deadline - System.nanoTime());
    }

    private Thread newWorker() {
        Thread t = new Thread(this::run, "duoguard-batcher");
        t.setDaemon(true);
        return t;
    }

    /** Starts a new worker when the current one has ended while the batcher is open. */
    private void ensureWorker() {
        Thread w = worker;
        if (running && !w.isAlive()) {
            replaceWorker(w);
        }
    }

    /**
     * Replaces {@code ended} (once: the dying worker and a caller may both try). A failure to start one (no memory
     * for a thread) is logged and retried by the next {@link #ensureWorker}.
     */
    private synchronized void replaceWorker(Thread ended) {
        if (!running || worker != ended || (ended.isAlive() && ended != Thread.currentThread())) {
            return;
        }
        // counted before the start, so whoever sees the new worker's results also sees the count; published
        // before it starts, because a worker that is not the current one exits at once; an ensureWorker() that
        // sees it not yet started waits for this lock and then finds it alive (the guard above)
        long n = restarts.incrementAndGet();
        Thread next = newWorker();
        worker = next;
        try {
            next.start();
            log.error("batcher worker thread ended unexpectedly; started a new one ({} restarts)", n);
        } catch (Throwable t) {
            worker = ended;
            restarts.decrementAndGet(); // the dead worker stays current: the next ensureWorker() retries
            log.error("could not start a new batcher worker thread; the next call retries", t);
        }
    }

    private void run() {
        List<Pending> held = new ArrayList<>(maxBatch);
        try {
            while (running) {
                if (worker != Thread.currentThread()) {
                    return; // abandoned in a hung call; a new worker serves the queue
                }
                held.clear();
                collect(held);
                if (worker != Thread.currentThread()) {
                    queue.addAll(held); // taken while being abandoned: hand back (capacity allows: they came from it)
                    return;
                }
                if (!running) {
                    fail(held, new ScoringException("scorer closed"));
                    break;
                }
                held.removeIf(p -> p.result.isCancelled());
                if (held.isEmpty()) {
                    continue;
                }
                if (scoreBatch(held) && worker == Thread.currentThread()) {
                    // outside the per-batch guard on purpose: the callers are answered, and a listener that
                    // throws costs this thread, not a batch (see the class comment)
                    batchSizeListener.accept(held.size());
                }
            }
        } catch (Throwable t) {
            // fail what this worker holds (completing an answered future does nothing), then hand the queue on
            fail(held, t);
            replaceWorker(Thread.currentThread());
            log.error("batcher worker thread failed outside a model call", t);
            return;
        }
        fail(drain(), new ScoringException("scorer closed"));
    }

    /**
     * Takes the first waiting text (waiting up to 100 ms, so a close is noticed), then more until {@code maxBatch}
     * are held or {@code maxWait} has passed. An interrupt ends collecting early: close() clears {@code running}
     * before it interrupts, which {@link #run} checks; any other interrupt (a delegate that restored its flag) is
     * no reason to stop, and what is held is scored.
     */
    private void collect(List<Pending> into) {
        try {
            Pending first = queue.poll(100, TimeUnit.MILLISECONDS);
            if (first == null) {
                return;
            }
            into.add(first);
            long deadline = System.nanoTime() + maxWaitNanos;
            while (into.size() < maxBatch) {
                Pending next = queue.poll(remaining(deadline), TimeUnit.NANOSECONDS);
                if (next == null) {
                    return;
                }
                into.add(next);
            }
        } catch (InterruptedException e) {
            // the flag is now clear; see above
        }
    }

    /** The per-batch guard: scores the batch or fails exactly its texts, whatever the delegate throws. */
    private boolean scoreBatch(List<Pending> batch) {
        List<String> texts = new ArrayList<>(batch.size());
        batch.forEach(p -> texts.add(p.text));
        inCall = batch;
        callStartedNanos = System.nanoTime();
        try {
            List<TextScores> scores = delegate.score(texts);
            if (scores.size() != batch.size()) {
                throw new ScoringException(
                        "model returned " + scores.size() + " scores for " + batch.size() + " texts");
            }
            // reset before answering, so a caller that has its scores never sees this call reported as stuck
            // (an abandoned worker's reset is harmless: the new worker sets both again for its own call)
            resetCall(batch);
            for (int i = 0; i < batch.size(); i++) {
                batch.get(i).result.complete(scores.get(i));
            }
            return true;
        } catch (Throwable t) {
            resetCall(batch);
            failedBatches.increment();
            log.warn("model call failed for a batch of {}: {}", batch.size(), t.toString());
            fail(batch, t);
            return false;
        }
    }

    /** Clears the running-call markers if they still describe {@code batch} (not a newer worker's call). */
    private synchronized void resetCall(List<Pending> batch) {
        if (inCall == batch) {
            callStartedNanos = IDLE;
            inCall = null;
        }
    }

    /** Completes every future in {@code pending} exceptionally, as a {@link ScoringException} caused by {@code t}. */
    private static void fail(List<Pending> pending, Throwable t) {
        ScoringException e = t instanceof ScoringException se
                ? se
                : new ScoringException("model call failed: " + t.getClass().getName() + ": " + t.getMessage(), t);
        pending.forEach(p -> p.result.completeExceptionally(e));
    }

    private List<Pending> drain() {
        List<Pending> out = new ArrayList<>();
        queue.drainTo(out);
        return out;
    }

    @Override
    public String pairText(String prompt, String reply) {
        return delegate.pairText(prompt, reply);
    }

    /** The wrapped model's; reply caches call it on a thread of their own, never in a batch. */
    @Override
    public Optional<GuardrailModel.Incremental> incremental() {
        return delegate.incremental();
    }

    @Override
    public ModelIdentity model() {
        return delegate.model();
    }

    @Override
    public void close() {
        running = false;
        Thread w = worker;
        w.interrupt();
        try {
            w.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        // a worker stuck in a model call has not drained the queue yet: its waiting texts fail now, not later
        fail(drain(), new ScoringException("scorer closed"));
    }

    private record Pending(String text, CompletableFuture<TextScores> result) {}
}
