package dev.duoguard.common.kafka;

import dev.duoguard.common.config.ConfigException;
import dev.duoguard.common.config.LayeredConfig;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.common.config.SaslConfigs;
import org.apache.kafka.common.config.SslConfigs;
import org.apache.kafka.common.config.types.Password;
import org.apache.kafka.common.security.plain.PlainLoginModule;
import org.apache.kafka.common.security.scram.ScramLoginModule;

/**
 * Where the Kafka cluster is and how to authenticate to it: {@code kafka.bootstrap.servers} and the client
 * security keys ({@link #DEFAULTS}), validated together, each problem a {@link ConfigException} that names the
 * key. {@link #clientProperties()} is what every client of every component starts its own properties from, so a
 * producer, a consumer, an admin client and Kafka Streams all connect the same way.
 *
 * <p>Each secret ({@code kafka.sasl.password}, {@code kafka.sasl.jaas.config}, {@code kafka.ssl.*.password}) is
 * set directly (in the file or as {@code DUOGUARD_KAFKA_SASL_PASSWORD} in the environment) or read from the file
 * that {@code <key>.file} names, e.g. a mounted Kubernetes Secret. Secrets go to the clients as Kafka's own
 * {@link Password} type, which Kafka's configuration logs print as {@code [hidden]}.
 */
public final class KafkaConnection {

    public static final String BOOTSTRAP = "kafka.bootstrap.servers";
    public static final String PROTOCOL = "kafka.security.protocol";
    public static final String SASL_MECHANISM = "kafka.sasl.mechanism";
    public static final String SASL_USERNAME = "kafka.sasl.username";
    public static final String SASL_PASSWORD = "kafka.sasl.password";
    public static final String SASL_JAAS = "kafka.sasl.jaas.config";
    public static final String TRUSTSTORE = "kafka.ssl.truststore.location";
    public static final String TRUSTSTORE_PASSWORD = "kafka.ssl.truststore.password";
    public static final String TRUSTSTORE_TYPE = "kafka.ssl.truststore.type";
    public static final String KEYSTORE = "kafka.ssl.keystore.location";
    public static final String KEYSTORE_PASSWORD = "kafka.ssl.keystore.password";
    public static final String KEYSTORE_TYPE = "kafka.ssl.keystore.type";
    public static final String KEY_PASSWORD = "kafka.ssl.key.password";
    public static final String ENDPOINT_IDENTIFICATION = "kafka.ssl.endpoint.identification.algorithm";

    /** The secrets: each may instead come from the file its {@code .file} key names. */
    private static final List<String> SECRETS =
            List.of(SASL_PASSWORD, SASL_JAAS, TRUSTSTORE_PASSWORD, KEYSTORE_PASSWORD, KEY_PASSWORD);

    private static final Set<String> PROTOCOLS = Set.of("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL");
    private static final Set<String> MECHANISMS = Set.of("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512");
    private static final Set<String> STORE_TYPES = Set.of("PKCS12", "JKS", "PEM");

    /** Every key with its default: a component adds these to its own defaults. */
    public static final Map<String, String> DEFAULTS;

    static {
        Map<String, String> d = new LinkedHashMap<>();
        d.put(BOOTSTRAP, "localhost:9092");
        d.put(PROTOCOL, "PLAINTEXT");
        d.put(SASL_MECHANISM, "");
        d.put(SASL_USERNAME, "");
        d.put(TRUSTSTORE, "");
        d.put(TRUSTSTORE_TYPE, "PKCS12");
        d.put(KEYSTORE, "");
        d.put(KEYSTORE_TYPE, "PKCS12");
        // https: the broker's certificate must name the host the client connected to; empty turns the check off
        d.put(ENDPOINT_IDENTIFICATION, "https");
        for (String secret : SECRETS) {
            d.put(secret, "");
            d.put(secret + ".file", "");
        }
        DEFAULTS = Map.copyOf(d);
    }

    private final String bootstrapServers;
    private final String summary;
    private final Map<String, Object> security;

    private KafkaConnection(String bootstrapServers, String summary, Map<String, Object> security) {
        this.bootstrapServers = bootstrapServers;
        this.summary = summary;
        this.security = Map.copyOf(security);
    }

    /** An unauthenticated, unencrypted connection (the in-process broker of the demos and tests). */
    public static KafkaConnection plaintext(String bootstrapServers) {
        return new KafkaConnection(bootstrapServers, "PLAINTEXT", Map.of());
    }

    /** Reads and validates the keys of {@link #DEFAULTS} (loaded into {@code c} with them). */
    public static KafkaConnection from(LayeredConfig c) {
        String bootstrap = c.required(BOOTSTRAP);
        String protocol = c.oneOf(PROTOCOL, PROTOCOLS);
        Map<String, Object> p = new LinkedHashMap<>();
        p.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, protocol);
        StringBuilder summary = new StringBuilder(protocol);
        if (protocol.startsWith("SASL_")) {
            sasl(c, protocol, p, summary);
        } else {
            refuseUnused(c, protocol, List.of(SASL_MECHANISM, SASL_USERNAME, SASL_PASSWORD, SASL_JAAS), "SASL_");
        }
        if (protocol.endsWith("SSL")) {
            ssl(c, p);
        } else {
            refuseUnused(
                    c,
                    protocol,
                    List.of(TRUSTSTORE, TRUSTSTORE_PASSWORD, KEYSTORE, KEYSTORE_PASSWORD, KEY_PASSWORD),
                    "SSL or SASL_SSL");
        }
        return new KafkaConnection(bootstrap, summary.toString(), p);
    }

    private static void sasl(LayeredConfig c, String protocol, Map<String, Object> p, StringBuilder summary) {
        if (c.string(SASL_MECHANISM).isBlank()) {
            throw new ConfigException(SASL_MECHANISM + " is required with " + PROTOCOL + "=" + protocol + ": one of "
                    + MECHANISMS + " (set it in the config file or " + LayeredConfig.envName(SASL_MECHANISM) + ")");
        }
        String mechanism = c.oneOf(SASL_MECHANISM, MECHANISMS);
        String user = c.string(SASL_USERNAME);
        String password = secret(c, SASL_PASSWORD);
        String jaas = secret(c, SASL_JAAS);
        if (!jaas.isEmpty()) {
            if (!user.isBlank() || !password.isEmpty()) {
                throw new ConfigException("set either " + SASL_JAAS + " or " + SASL_USERNAME + " and " + SASL_PASSWORD
                        + ", not both: the JAAS line already names the credentials");
            }
            summary.append(' ').append(mechanism).append(" (").append(SASL_JAAS).append(')');
        } else {
            if (user.isBlank() || password.isEmpty()) {
                throw new ConfigException(PROTOCOL + "=" + protocol + " needs credentials: " + SASL_USERNAME + " and "
                        + SASL_PASSWORD + " (or " + SASL_PASSWORD + ".file), or a whole " + SASL_JAAS + "; "
                        + (user.isBlank() ? SASL_USERNAME : SASL_PASSWORD) + " is not set");
            }
            jaas = jaasLine(mechanism, user, password);
            summary.append(' ').append(mechanism).append(" as '").append(user).append('\'');
        }
        p.put(SaslConfigs.SASL_MECHANISM, mechanism);
        p.put(SaslConfigs.SASL_JAAS_CONFIG, new Password(jaas));
    }

    /**
     * The client's JAAS line for {@code mechanism} with these credentials; quotes and backslashes are escaped, as
     * Kafka's JAAS parser reads them inside a quoted value.
     */
    static String jaasLine(String mechanism, String user, String password) {
        String module = mechanism.equals("PLAIN") ? PlainLoginModule.class.getName() : ScramLoginModule.class.getName();
        return module + " required username=\"" + quoted(user) + "\" password=\"" + quoted(password) + "\";";
    }

    private static String quoted(String s) {
        return s.replace("\\", "\\\\").replace("\"", "\\\"");
    }

    private static void ssl(LayeredConfig c, Map<String, Object> p) {
        String algorithm = c.oneOf(ENDPOINT_IDENTIFICATION, Set.of("https", ""));
        p.put(SslConfigs.SSL_ENDPOINT_IDENTIFICATION_ALGORITHM_CONFIG, algorithm);
        // without a truststore the JVM's default CAs are trusted (a cluster with a publicly signed certificate)
        if (!c.string(TRUSTSTORE).isBlank()) {
            String type = c.oneOf(TRUSTSTORE_TYPE, STORE_TYPES);
            String password = secret(c, TRUSTSTORE_PASSWORD);
            Path location = store(c, TRUSTSTORE, type, password);
            p.put(SslConfigs.SSL_TRUSTSTORE_LOCATION_CONFIG, location.toString());
            p.put(SslConfigs.SSL_TRUSTSTORE_TYPE_CONFIG, type);
            if (!password.isEmpty()) {
                p.put(SslConfigs.SSL_TRUSTSTORE_PASSWORD_CONFIG, new Password(password));
            }
        } else if (isSet(c, TRUSTSTORE_PASSWORD)) {
            throw new ConfigException(TRUSTSTORE_PASSWORD + " is set but " + TRUSTSTORE + " is not");
        }
        // a keystore: the client's own certificate, for brokers that authenticate clients by TLS (mutual TLS)
        if (!c.string(KEYSTORE).isBlank()) {
            String type = c.oneOf(KEYSTORE_TYPE, STORE_TYPES);
            String password = secret(c, KEYSTORE_PASSWORD);
            if (password.isEmpty() && !type.equals("PEM")) {
                throw new ConfigException(KEYSTORE_PASSWORD + " (or " + KEYSTORE_PASSWORD + ".file) is required with "
                        + KEYSTORE + " of type " + type);
            }
            Path location = store(c, KEYSTORE, type, password);
            p.put(SslConfigs.SSL_KEYSTORE_LOCATION_CONFIG, location.toString());
            p.put(SslConfigs.SSL_KEYSTORE_TYPE_CONFIG, type);
            if (!password.isEmpty()) {
                p.put(SslConfigs.SSL_KEYSTORE_PASSWORD_CONFIG, new Password(password));
            }
            String keyPassword = secret(c, KEY_PASSWORD);
            if (!keyPassword.isEmpty()) {
                p.put(SslConfigs.SSL_KEY_PASSWORD_CONFIG, new Password(keyPassword));
            }
        } else {
            for (String key : List.of(KEYSTORE_PASSWORD, KEY_PASSWORD)) {
                if (isSet(c, key)) {
                    throw new ConfigException(key + " is set but " + KEYSTORE + " is not");
                }
            }
        }
    }

    /**
     * The store at {@code key}'s location, checked now: it exists, is readable and (PKCS12, JKS) opens with its
     * password, so a wrong path or password is a start-up error that names the key, not a handshake failure later.
     */
    private static Path store(LayeredConfig c, String key, String type, String password) {
        Path location = Path.of(c.string(key));
        if (!Files.isRegularFile(location) || !Files.isReadable(location)) {
            throw new ConfigException(key + " '" + location + "' (from " + c.origin(key) + ") is not a readable file");
        }
        if (!type.equals("PEM")) {
            try (InputStream in = Files.newInputStream(location)) {
                KeyStore.getInstance(type).load(in, password.isEmpty() ? null : password.toCharArray());
            } catch (IOException | GeneralSecurityException e) {
                throw new ConfigException(key + " '" + location + "' does not open as a " + type
                        + " store with the configured password: " + e.getMessage());
            }
        }
        return location;
    }

    /** {@code key}'s value, or the content of the file {@code key.file} names; not both. Empty when neither. */
    private static String secret(LayeredConfig c, String key) {
        String direct = c.string(key);
        String file = c.string(key + ".file");
        if (file.isBlank()) {
            return direct;
        }
        if (!direct.isEmpty()) {
            throw new ConfigException("set either " + key + " or " + key + ".file, not both (" + key + " from "
                    + c.origin(key) + ", " + key + ".file from " + c.origin(key + ".file") + ")");
        }
        try {
            // a Secret mounted as a file, or one written by echo: a trailing line break is not part of the secret
            return Files.readString(Path.of(file), StandardCharsets.UTF_8).replaceAll("[\\r\\n]+$", "");
        } catch (IOException e) {
            throw new ConfigException(
                    "cannot read " + key + ".file '" + file + "' (from " + c.origin(key + ".file") + "): " + e);
        }
    }

    /** True when {@code key} is set, directly or (a secret) by its {@code .file} key. */
    private static boolean isSet(LayeredConfig c, String key) {
        return !c.string(key).isBlank()
                || SECRETS.contains(key) && !c.string(key + ".file").isBlank();
    }

    private static void refuseUnused(LayeredConfig c, String protocol, List<String> keys, String needs) {
        for (String key : keys) {
            if (isSet(c, key)) {
                throw new ConfigException(key + " is set (from " + c.origin(key) + ") but " + PROTOCOL + " is "
                        + protocol + ", which would not use it; set " + PROTOCOL + " to " + needs + ", or remove "
                        + key);
            }
        }
    }

    public String bootstrapServers() {
        return bootstrapServers;
    }

    /**
     * A new, mutable map with {@code bootstrap.servers} and the security properties: a client adds its own
     * settings to it.
     */
    public Map<String, Object> clientProperties() {
        Map<String, Object> p = new HashMap<>(security);
        p.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        return p;
    }

    /** The servers and how this connects to them, without secrets: {@code host:9093 (SASL_SSL SCRAM-SHA-512 as 'app')}. */
    @Override
    public String toString() {
        return bootstrapServers + " (" + summary + ")";
    }
}
