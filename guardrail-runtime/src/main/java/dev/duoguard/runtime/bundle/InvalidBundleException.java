package dev.duoguard.runtime.bundle;

/** A model bundle that cannot be served; the message says which file or field is wrong and what was expected. */
public class InvalidBundleException extends IllegalArgumentException {
    public InvalidBundleException(String message) {
        super(message);
    }

    public InvalidBundleException(String message, Throwable cause) {
        super(message, cause);
    }
}
