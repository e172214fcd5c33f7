package dev.duoguard.runtime.scoring;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.IntConsumer;

/**
 * Coalesces concurrent {@link #score} calls into one model call.
 *
 * <p>One worker thread takes the first waiting text, then keeps taking texts until {@code maxBatch} are collected
 * or {@code maxWait} has passed since the first, and scores them in one call to the delegate (which pads the batch
 * to its own longest item). Callers wait at most {@code callTimeout}; a model failure fails exactly the texts of
 * that batch. The queue is bounded so a stalled model pushes back instead of growing the heap.
 */
public final class DynamicBatcher implements Scorer, AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(DynamicBatcher.class);

    private final Scorer delegate;
    private final int maxBatch;
    private final long maxWaitNanos;
    private final Duration callTimeout;
    private final LinkedBlockingQueue<Pending> queue;
    private final Thread worker;
    private volatile boolean running = true;
    private volatile IntConsumer batchSizeListener = n -> { };

    public DynamicBatcher(Scorer delegate, int maxBatch, Duration maxWait, Duration callTimeout) {
        if (maxBatch < 1) {
            throw new IllegalArgumentException("maxBatch must be at least 1 but is " + maxBatch);
        }
        this.delegate = delegate;
        this.maxBatch = maxBatch;
        this.maxWaitNanos = maxWait.toNanos();
        this.callTimeout = callTimeout;
        this.queue = new LinkedBlockingQueue<>(Math.max(1024, maxBatch * 16));
        this.worker = new Thread(this::run, "duoguard-batcher");
        this.worker.setDaemon(true);
        this.worker.start();
    }

    /** Observes the size of every model call (for the batch-size histogram). */
    public void onBatch(IntConsumer listener) {
        this.batchSizeListener = listener;
    }

    @Override
    public List<TextScores> score(List<String> texts) {
        return await(submit(texts));
    }

    /** Queues the texts (waiting at most the call timeout for queue space) and returns their combined future. */
    @Override
    public CompletableFuture<List<TextScores>> submit(List<String> texts) {
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
            throw new ScoringException("scoring did not finish within " + callTimeout.toMillis() + " ms", e);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause() instanceof java.util.concurrent.CompletionException ce ? ce.getCause() : e.getCause();
            throw cause instanceof ScoringException se ? se : new ScoringException(String.valueOf(cause.getMessage()), cause);
        } catch (java.util.concurrent.CancellationException e) {
            throw new ScoringException("scoring was cancelled", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            pending.cancel(false);
            throw new ScoringException("interrupted while waiting for the model", e);
        }
    }

    private static long remaining(long deadline) {
        return Math.max(0, deadline - System.nanoTime());
    }

    private void run() {
        List<Pending> batch = new ArrayList<>(maxBatch);
        while (running) {
            try {
                Pending first = queue.poll(100, TimeUnit.MILLISECONDS);
                if (first == null) {
                    continue;
                }
                batch.add(first);
                long deadline = System.nanoTime() + maxWaitNanos;
                while (batch.size() < maxBatch) {
                    Pending next = queue.poll(remaining(deadline), TimeUnit.NANOSECONDS);
                    if (next == null) {
                        break;
                    }
                    batch.add(next);
                }
                batch.removeIf(p -> p.result.isCancelled());
                if (!batch.isEmpty()) {
                    scoreBatch(batch);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            } finally {
                batch.clear();
            }
        }
        ScoringException closed = new ScoringException("scorer closed");
        Pending p;
        while ((p = queue.poll()) != null) {
            p.result.completeExceptionally(closed);
        }
    }

    private void scoreBatch(List<Pending> batch) {
        List<String> texts = new ArrayList<>(batch.size());
        batch.forEach(p -> texts.add(p.text));
        try {
            List<TextScores> scores = delegate.score(texts);
            batchSizeListener.accept(batch.size());
            for (int i = 0; i < batch.size(); i++) {
                batch.get(i).result.complete(scores.get(i));
            }
        } catch (RuntimeException e) {
            log.warn("model call failed for a batch of {}: {}", batch.size(), e.getMessage());
            batch.forEach(p -> p.result.completeExceptionally(e));
        }
    }

    @Override
    public String pairText(String prompt, String reply) {
        return delegate.pairText(prompt, reply);
    }

    @Override
    public ModelIdentity model() {
        return delegate.model();
    }

    @Override
    public void close() {
        running = false;
        worker.interrupt();
        try {
            worker.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private record Pending(String text, CompletableFuture<TextScores> result) {
    }
}
