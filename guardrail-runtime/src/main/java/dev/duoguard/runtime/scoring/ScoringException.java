package dev.duoguard.runtime.scoring;

/** The model could not score a batch (runtime failure, or a bounded wait expired). Callers retry or dead-letter. */
public class ScoringException extends RuntimeException {
    public ScoringException(String message, Throwable cause) {
        super(message, cause);
    }

    public ScoringException(String message) {
        super(message);
    }
}
