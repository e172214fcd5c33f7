package dev.duoguard.common.config;

import java.util.Locale;
import java.util.regex.Pattern;

/**
 * Masking for whatever configuration is logged or printed: the value of a key that names a secret (a password,
 * secret, token, JAAS line, credentials, key password) is replaced whole, and credentials inside a URL
 * ({@code https://user:pass@host}) lose their password in any value.
 */
public final class Secrets {

    public static final String MASK = "****";

    private static final String[] SECRET_KEY_PARTS = {"password", "secret", "token", "jaas", "credentials"};

    /** {@code scheme://user:password@}: the password is everything between the user's colon and the '@'. */
    private static final Pattern URL_CREDENTIALS =
            Pattern.compile("(\\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/:@\\s]*:)[^@/\\s]+@");

    private Secrets() {}

    /**
     * True for a key whose value is a secret. A {@code .file} key ({@code kafka.sasl.password.file}) holds a path,
     * not the secret, and is shown.
     */
    public static boolean isSecretKey(String key) {
        String k = key.toLowerCase(Locale.ROOT);
        if (k.endsWith(".file")) {
            return false;
        }
        for (String part : SECRET_KEY_PARTS) {
            if (k.contains(part)) {
                return true;
            }
        }
        return false;
    }

    /** The value as it may be shown: masked whole for a secret key (empty stays empty), URL passwords masked. */
    public static String mask(String key, String value) {
        if (value == null || value.isEmpty()) {
            return value;
        }
        return isSecretKey(key) ? MASK : maskUrlCredentials(value);
    }

    /** {@code https://user:pass@host} becomes {@code https://user:****@host}; anything else is left as it is. */
    public static String maskUrlCredentials(String value) {
        return URL_CREDENTIALS.matcher(value).replaceAll("$1" + MASK + "@");
    }
}
