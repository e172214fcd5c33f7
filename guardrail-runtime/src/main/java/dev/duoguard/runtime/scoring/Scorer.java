package dev.duoguard.runtime.scoring;

import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Scores texts with a guardrail classifier. The streams topology depends only on this interface, so its tests can
 * pass a fake; production passes a {@link DynamicBatcher} over a {@link GuardrailModel}.
 */
public interface Scorer {

    /** Scores of each text, in order. Throws {@link ScoringException} when the model fails or a bounded wait expires. */
    List<TextScores> score(List<String> texts);

    /**
     * Starts scoring and returns at once, so the caller can do other work (language identification) while the
     * model runs; {@link #await} collects the result. The default scores synchronously.
     */
    default CompletableFuture<List<TextScores>> submit(List<String> texts) {
        try {
            return CompletableFuture.completedFuture(score(texts));
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /**
     * Hands the texts over only if the scorer can take them without making the caller wait for queue space, as
     * {@link #submit} may; empty when it cannot, and then none of the texts is scored (the caller drops or retries).
     * For callers that must never wait on this scorer, such as a shadow model on a stream thread.
     *
     * <p>The default is {@link #submit}: a scorer without a queue has no hand-off to refuse, and the default submit
     * scores on the caller's thread, so for such scorers this blocks for one model call. It deliberately does not
     * move the call to a shared pool: that pool's unbounded queue would be exactly the backlog a slow model must
     * not build up. A scorer used where waiting is not acceptable should be a {@link DynamicBatcher}, which refuses
     * when its bounded queue is full.
     */
    default Optional<CompletableFuture<List<TextScores>>> trySubmit(List<String> texts) {
        return Optional.of(submit(texts));
    }

    /** Waits for a {@link #submit}ted call (bounded by the scorer's own timeout, where it has one). */
    default List<TextScores> await(CompletableFuture<List<TextScores>> pending) {
        try {
            return pending.join();
        } catch (CompletionException e) {
            throw e.getCause() instanceof ScoringException se
                    ? se
                    : new ScoringException(String.valueOf(e.getCause()), e.getCause());
        }
    }

    /**
     * Waits at most {@code timeout} for a {@link #submit}ted call; past it the call is cancelled (texts not yet
     * scored are skipped) and a {@link ScoringTimeoutException} is thrown.
     */
    default List<TextScores> await(CompletableFuture<List<TextScores>> pending, Duration timeout) {
        try {
            return pending.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            pending.cancel(false);
            throw new ScoringTimeoutException("the model did not answer within " + timeout.toMillis() + " ms", e);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause() instanceof CompletionException ce ? ce.getCause() : e.getCause();
            throw cause instanceof ScoringException se ? se : new ScoringException(String.valueOf(cause), cause);
        } catch (CancellationException e) {
            throw new ScoringException("scoring was cancelled", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            pending.cancel(false);
            throw new ScoringException("interrupted while waiting for the model", e);
        }
    }

    /** The text DuoGuard scores for a (prompt, reply) pair; bundles may choose another separator. */
    default String pairText(String prompt, String reply) {
        return prompt + " " + reply;
    }

    /** Which model answers. */
    ModelIdentity model();

    /** The model's incremental decoder for streamed replies, when its bundle has one (see {@link GuardrailModel}). */
    default Optional<GuardrailModel.Incremental> incremental() {
        return Optional.empty();
    }

    /**
     * @param name               model name
     * @param version            model version
     * @param thresholds         global per-category model thresholds in order
     * @param device             where the model runs
     * @param languageThresholds per-category thresholds of the languages the bundle calibrated (see
     *                           {@code ModelBundle#thresholds(String)}); other languages use {@code thresholds}
     */
    record ModelIdentity(
            String name, String version, float[] thresholds, String device, Map<String, float[]> languageThresholds) {

        public ModelIdentity {
            languageThresholds = languageThresholds == null ? Map.of() : Map.copyOf(languageThresholds);
        }

        /** A model with one set of thresholds for every language. */
        public ModelIdentity(String name, String version, float[] thresholds, String device) {
            this(name, version, thresholds, device, Map.of());
        }

        /** The thresholds that decide a text in {@code language} (ISO code as detected; null: the global ones). */
        public float[] thresholds(String language) {
            float[] t = language == null ? null : languageThresholds.get(language.toLowerCase(Locale.ROOT));
            return t != null ? t : thresholds;
        }

        /** Where {@link #thresholds(String)} comes from: the language's own calibration or {@code "global"}. */
        public String thresholdSource(String language) {
            return language != null && languageThresholds.containsKey(language.toLowerCase(Locale.ROOT))
                    ? language.toLowerCase(Locale.ROOT)
                    : "global";
        }
    }
}
