package dev.duoguard.runtime.scoring;

/** The model did not answer within the caller's bound. Retrying the same call would wait as long again. */
public class ScoringTimeoutException extends ScoringException {
    public ScoringTimeoutException(String message, Throwable cause) {
        super(message, cause);
    }
}
