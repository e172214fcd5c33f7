package dev.duoguard.common.http;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * The bearer token that the management port's commands require, or none (then the commands are disabled, not
 * open). Only its SHA-256 digest is kept: a presented token is hashed and the two digests compared with {@link
 * MessageDigest#isEqual}, which takes the same time wherever they differ; hashing first also keeps the time
 * independent of how long either token is.
 */
public final class AdminToken {

    /** Shorter tokens are refused at start-up: they could be guessed through the port. */
    public static final int MIN_LENGTH = 16;

    private final byte[] digest;
    private final String source;

    private AdminToken(byte[] digest, String source) {
        this.digest = digest;
        this.source = source;
    }

    /**
     * @param token  the token, or null: the commands are disabled
     * @param source where an operator sets it (named in refusals and errors, e.g. the config keys)
     * @throws IllegalArgumentException when the token is shorter than {@link #MIN_LENGTH}
     */
    public static AdminToken of(String token, String source) {
        if (token == null) {
            return new AdminToken(null, source);
        }
        if (token.length() < MIN_LENGTH) {
            throw new IllegalArgumentException("the admin token (" + source + ") must have at least " + MIN_LENGTH
                    + " characters; it has " + token.length());
        }
        return new AdminToken(sha256(token), source);
    }

    public boolean configured() {
        return digest != null;
    }

    /** Where an operator sets the token. */
    public String source() {
        return source;
    }

    /** Whether {@code presented} is the token; false when none is configured. */
    public boolean matches(String presented) {
        return digest != null && MessageDigest.isEqual(sha256(presented), digest);
    }

    private static byte[] sha256(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }

    @Override
    public String toString() {
        return configured() ? "admin token (set)" : "no admin token";
    }
}
