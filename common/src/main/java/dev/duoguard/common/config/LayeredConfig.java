package dev.duoguard.common.config;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;

/**
 * Raw configuration in three layers, later ones winning: built-in defaults → a properties file → environment
 * variables. A known key {@code scoring.max-batch} is read from the variable {@code DUOGUARD_SCORING_MAX_BATCH}
 * (upper case, '.' and '-' become '_'). Kafka Streams properties come through as {@code DUOGUARD_STREAMS_<NAME>}
 * ({@code DUOGUARD_STREAMS_NUM_STREAM_THREADS=2} → {@code streams.num.stream.threads}; Kafka keys use only dots).
 * Per-category and per-tenant {@code policy.} keys come from the file only: their environment names would be
 * ambiguous.
 * Every value remembers its origin so an error can say where a bad value came from.
 */
public final class LayeredConfig {

    private final Map<String, String> values = new TreeMap<>();
    private final Map<String, String> origins = new LinkedHashMap<>();

    private LayeredConfig() {}

    public static LayeredConfig load(
            Map<String, String> defaults, Path file, Map<String, String> env, Set<String> openPrefixes) {
        LayeredConfig c = new LayeredConfig();
        defaults.forEach((k, v) -> c.put(k, v, "default"));
        if (file != null) {
            Properties p = new Properties();
            try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
                p.load(r);
            } catch (IOException e) {
                throw new ConfigException("cannot read config file " + file + ": " + e.getMessage());
            }
            for (String key : p.stringPropertyNames()) {
                boolean open = openPrefixes.stream().anyMatch(key::startsWith);
                if (!open && !defaults.containsKey(key)) {
                    throw new ConfigException("unknown config key '" + key + "' in " + file + "; known keys: "
                            + defaults.keySet() + " and anything under " + openPrefixes);
                }
                c.put(key, p.getProperty(key).trim(), "file " + file);
            }
        }
        for (String key : defaults.keySet()) {
            String envName = envName(key);
            String v = env.get(envName);
            if (v != null) {
                c.put(key, v.trim(), "environment variable " + envName);
            }
        }
        // free-form keys from the environment: DUOGUARD_STREAMS_NUM_STREAM_THREADS -> streams.num.stream.threads
        // (an underscore after the prefix becomes a dot; a key with a dash cannot be set this way); the variable of a
        // known key under such a prefix (DUOGUARD_POLICY_FAIL_CLOSED) is that key's, read above
        Set<String> knownEnv = new HashSet<>();
        defaults.keySet().forEach(k -> knownEnv.add(envName(k)));
        for (String prefix : openPrefixes) {
            String prefixEnv = envName(prefix);
            env.forEach((name, v) -> {
                if (name.startsWith(prefixEnv) && name.length() > prefixEnv.length() && !knownEnv.contains(name)) {
                    String key = prefix
                            + name.substring(prefixEnv.length())
                                    .toLowerCase(Locale.ROOT)
                                    .replace('_', '.');
                    c.put(key, v.trim(), "environment variable " + name);
                }
            });
        }
        return c;
    }

    public static String envName(String key) {
        return "DUOGUARD_" + key.toUpperCase(Locale.ROOT).replace('.', '_').replace('-', '_');
    }

    /** Sets a value programmatically (the demo and tests use this), recording the origin. */
    public LayeredConfig with(String key, String value, String origin) {
        put(key, value, origin);
        return this;
    }

    private void put(String key, String value, String origin) {
        values.put(key, value);
        origins.put(key, origin);
    }

    public String string(String key) {
        String v = values.get(key);
        return v == null ? "" : v;
    }

    public String origin(String key) {
        return origins.getOrDefault(key, "unset");
    }

    public int integer(String key, int min, int max) {
        String v = string(key);
        try {
            int i = Integer.parseInt(v);
            if (i < min || i > max) {
                throw new NumberFormatException();
            }
            return i;
        } catch (NumberFormatException e) {
            throw new ConfigException("config key '" + key + "' must be an integer in [" + min + ", " + max
                    + "] but is '" + v + "' (from " + origin(key) + ")");
        }
    }

    public float decimal(String key, float min, float max) {
        String v = string(key);
        try {
            float f = Float.parseFloat(v);
            if (!(f >= min && f <= max)) {
                throw new NumberFormatException();
            }
            return f;
        } catch (NumberFormatException e) {
            throw new ConfigException("config key '" + key + "' must be a number in [" + min + ", " + max + "] but is '"
                    + v + "' (from " + origin(key) + ")");
        }
    }

    public boolean bool(String key) {
        String v = string(key).toLowerCase(Locale.ROOT);
        return switch (v) {
            case "true", "yes", "1" -> true;
            case "false", "no", "0" -> false;
            default ->
                throw new ConfigException(
                        "config key '" + key + "' must be true or false but is '" + v + "' (from " + origin(key) + ")");
        };
    }

    public String oneOf(String key, Set<String> allowed) {
        String v = string(key);
        if (!allowed.contains(v)) {
            throw new ConfigException("config key '" + key + "' must be one of " + allowed + " but is '" + v
                    + "' (from " + origin(key) + ")");
        }
        return v;
    }

    public String required(String key) {
        String v = string(key);
        if (v.isBlank()) {
            throw new ConfigException(
                    "config key '" + key + "' is required (set it in the config file or " + envName(key) + ")");
        }
        return v;
    }

    /** All keys under {@code prefix}, with the prefix removed. */
    public Map<String, String> withPrefix(String prefix) {
        Map<String, String> out = new TreeMap<>();
        values.forEach((k, v) -> {
            if (k.startsWith(prefix)) {
                out.put(k.substring(prefix.length()), v);
            }
        });
        return out;
    }

    public Map<String, String> asMap() {
        return Map.copyOf(values);
    }

    /** Every value, one line each in key order, with secrets masked ({@link Secrets}): what a log may show. */
    public String describe() {
        StringBuilder sb = new StringBuilder();
        values.forEach((k, v) -> sb.append("  ")
                .append(k)
                .append(" = ")
                .append(Secrets.mask(k, v))
                .append('\n'));
        return sb.toString();
    }

    /** The {@link #describe} text: a configuration that ends up in a log line shows no secret. */
    @Override
    public String toString() {
        return describe();
    }
}
