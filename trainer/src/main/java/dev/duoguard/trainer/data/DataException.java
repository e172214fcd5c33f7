package dev.duoguard.trainer.data;

/** Input data that cannot be used as it is; the message names the file and, where it helps, the line. */
public class DataException extends RuntimeException {
    public DataException(String message) {
        super(message);
    }

    public DataException(String message, Throwable cause) {
        super(message, cause);
    }
}
