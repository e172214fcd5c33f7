package dev.duoguard.runtime.language;

import dev.duoguard.runtime.language.LanguageIdentifier.Detection;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * The languages of a batch of texts, in order: how the streams app identifies the languages of a batch while the
 * model scores it.
 *
 * <p>Language identification is the largest CPU cost of the pipeline per message (72 % of the stream thread at
 * capacity with a fast model, docs/pipeline-profile.md). {@link #parallel} spreads a batch over threads of its
 * own, so that on a machine with idle cores (a GPU host, whose model does not need them) the stream thread's
 * share shrinks with the thread count; on a machine whose cores are all busy it only moves the work. {@link #off}
 * removes it: every message is undetermined unless the client sent a hint, per-language thresholds then apply only
 * to hinted messages, and seeds go out undetermined too (the trainer identifies the language of the seeds it learns
 * from, off the streaming path).
 */
@FunctionalInterface
public interface LanguageDetection {

    /** The language of each text, in the texts' order. */
    List<Detection> detect(List<String> texts);

    /** Detection one text at a time on the caller's thread. */
    static LanguageDetection each(Function<String, Detection> detector) {
        return texts -> {
            List<Detection> out = new ArrayList<>(texts.size());
            for (String t : texts) {
                out.add(detector.apply(t));
            }
            return out;
        };
    }

    /** No detection: every text is {@value LanguageIdentifier#UNDETERMINED} with confidence 0. */
    static LanguageDetection off() {
        Detection undetermined = new Detection(LanguageIdentifier.UNDETERMINED, 0f);
        return texts -> {
            List<Detection> out = new ArrayList<>(texts.size());
            for (int i = 0; i < texts.size(); i++) {
                out.add(undetermined);
            }
            return out;
        };
    }

    /**
     * Detection on {@code threads} daemon threads of its own: a batch is cut into one contiguous slice per thread
     * (not one task per text: a task costs a hand-off, a short text's detection not much more). Close it to stop
     * the threads.
     */
    static Parallel parallel(Function<String, Detection> detector, int threads) {
        return new Parallel(detector, threads);
    }

    /** See {@link #parallel}. */
    final class Parallel implements LanguageDetection, AutoCloseable {
        private final Function<String, Detection> detector;
        private final int threads;
        private final ExecutorService pool;

        private Parallel(Function<String, Detection> detector, int threads) {
            if (threads < 1) {
                throw new IllegalArgumentException("language detection needs at least 1 thread, got " + threads);
            }
            this.detector = detector;
            this.threads = threads;
            AtomicInteger n = new AtomicInteger();
            this.pool = Executors.newFixedThreadPool(threads, r -> {
                Thread t = new Thread(r, "duoguard-language-" + n.incrementAndGet());
                t.setDaemon(true);
                return t;
            });
        }

        @Override
        public List<Detection> detect(List<String> texts) {
            int n = texts.size();
            int slices = Math.min(threads, n);
            if (slices == 0) {
                return List.of();
            }
            Detection[] out = new Detection[n];
            List<Future<?>> pending = new ArrayList<>(slices);
            for (int s = 0; s < slices; s++) {
                int from = (int) ((long) n * s / slices);
                int to = (int) ((long) n * (s + 1) / slices);
                pending.add(pool.submit(() -> {
                    for (int i = from; i < to; i++) {
                        out[i] = detector.apply(texts.get(i));
                    }
                }));
            }
            try {
                for (Future<?> f : pending) {
                    f.get();
                }
            } catch (InterruptedException e) {
                pending.forEach(f -> f.cancel(true));
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while identifying languages", e);
            } catch (ExecutionException e) {
                // the other slices' results are of no use any more
                pending.forEach(f -> f.cancel(true));
                throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
            }
            return Arrays.asList(out);
        }

        @Override
        public void close() {
            pool.shutdownNow();
        }
    }
}
