package dev.duoguard.common.config;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A secret taken from the configuration: given as a value, or as the path of a file that holds it (a mounted
 * Kubernetes Secret, a Docker secret), never both. Surrounding whitespace is dropped (a Secret file usually ends
 * with a newline). {@link #toString()} hides the value, so a record holding one can be logged.
 */
public final class SecretValue {

    private final String value;

    private SecretValue(String value) {
        this.value = value;
    }

    /**
     * The secret of config key {@code key}: its value, or the contents of the file named by {@code key.file}; null
     * when neither is set.
     */
    public static SecretValue read(LayeredConfig c, String key) {
        String fileKey = key + ".file";
        return of(
                "config key '" + key + "' (from " + c.origin(key) + ")",
                c.string(key),
                "config key '" + fileKey + "' (from " + c.origin(fileKey) + ")",
                c.string(fileKey));
    }

    /**
     * The secret given as {@code inline} or in the file {@code file} (null or blank: not given), each described
     * by its name for the error messages; null when neither is given.
     *
     * @throws ConfigException when both are given, or the file cannot be read or is empty
     */
    public static SecretValue of(String inlineName, String inline, String fileName, String file) {
        boolean hasInline = inline != null && !inline.isBlank();
        boolean hasFile = file != null && !file.isBlank();
        if (hasInline && hasFile) {
            throw new ConfigException("both " + inlineName + " and " + fileName + " are set: set one");
        }
        if (hasInline) {
            return new SecretValue(inline.strip());
        }
        if (!hasFile) {
            return null;
        }
        String content;
        try {
            content = Files.readString(Path.of(file.strip()), StandardCharsets.UTF_8)
                    .strip();
        } catch (IOException | RuntimeException e) {
            throw new ConfigException("cannot read the file " + file + " that " + fileName + " names: " + e);
        }
        if (content.isEmpty()) {
            throw new ConfigException("the file " + file + " that " + fileName + " names is empty");
        }
        return new SecretValue(content);
    }

    /** The secret itself: hand it to what needs it, never to a log. */
    public String value() {
        return value;
    }

    @Override
    public String toString() {
        return "(secret)";
    }
}
