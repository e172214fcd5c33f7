package dev.duoguard.common.registry;

import dev.duoguard.common.config.ConfigException;
import dev.duoguard.common.config.LayeredConfig;
import dev.duoguard.common.config.SecretValue;
import dev.duoguard.common.config.Secrets;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * Where the schema registry is and how to authenticate to it: {@code registry.url} and the keys of {@link
 * #DEFAULTS}, validated together, each problem a {@link ConfigException} that names the key. The Avro serdes take
 * {@link #serdeProperties()}; the registry lookups that do not go through the serdes use {@link #httpClient()} and
 * {@link #authorize}, so both authenticate and trust the same way.
 *
 * <p>Each secret ({@code registry.password}, {@code registry.ssl.truststore.password}) is set directly (in the file
 * or as {@code DUOGUARD_REGISTRY_PASSWORD} in the environment) or read from the file that {@code <key>.file} names,
 * e.g. a mounted Kubernetes Secret; {@link Secrets} masks both keys wherever configuration is printed.
 *
 * <p>Refused: credentials over plain http (they would cross the network readable) unless {@code
 * registry.allow-http-credentials=true} says TLS is terminated elsewhere (a service mesh sidecar on localhost); a
 * username without a password and the reverse; a truststore with an http URL; credentials inside the URL.
 */
public final class RegistryConnection {

    public static final String URL = "registry.url";
    public static final String USERNAME = "registry.username";
    public static final String PASSWORD = "registry.password";
    public static final String TRUSTSTORE = "registry.ssl.truststore.location";
    public static final String TRUSTSTORE_PASSWORD = "registry.ssl.truststore.password";
    public static final String TRUSTSTORE_TYPE = "registry.ssl.truststore.type";
    public static final String AUTO_REGISTER = "registry.auto-register";
    public static final String ALLOW_HTTP_CREDENTIALS = "registry.allow-http-credentials";

    private static final Set<String> STORE_TYPES = Set.of("PKCS12", "JKS", "PEM");

    /** Every key with its default: a component adds these to its own defaults. */
    public static final Map<String, String> DEFAULTS;

    static {
        Map<String, String> d = new LinkedHashMap<>();
        d.put(URL, "http://localhost:8080/apis/registry/v3");
        d.put(USERNAME, "");
        d.put(PASSWORD, "");
        d.put(PASSWORD + ".file", "");
        d.put(TRUSTSTORE, "");
        d.put(TRUSTSTORE_PASSWORD, "");
        d.put(TRUSTSTORE_PASSWORD + ".file", "");
        d.put(TRUSTSTORE_TYPE, "PKCS12");
        d.put(AUTO_REGISTER, "false");
        d.put(ALLOW_HTTP_CREDENTIALS, "false");
        DEFAULTS = Map.copyOf(d);
    }

    private final String url;
    private final String username;
    private final String password;
    private final Truststore truststore;
    private final boolean autoRegister;

    /** A truststore as configured, checked to open: its certificates are what the clients trust. */
    private record Truststore(Path location, String type, String password, KeyStore store) {}

    private RegistryConnection(
            String url, String username, String password, Truststore truststore, boolean autoRegister) {
        this.url = url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
        this.username = username;
        this.password = password;
        this.truststore = truststore;
        this.autoRegister = autoRegister;
    }

    /**
     * An anonymous registry over http (the in-process registry of the demos, benches and tests); {@code
     * autoRegister} says whether the serdes register the schemas they write.
     */
    public static RegistryConnection anonymous(String url, boolean autoRegister) {
        return new RegistryConnection(url, null, null, null, autoRegister);
    }

    /** Reads and validates the keys of {@link #DEFAULTS} (loaded into {@code c} with them). */
    public static RegistryConnection from(LayeredConfig c) {
        String url = c.required(URL);
        URI uri;
        try {
            uri = new URI(url);
        } catch (URISyntaxException e) {
            throw new ConfigException(
                    URL + " '" + url + "' (from " + c.origin(URL) + ") is not a URL: " + e.getMessage());
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme();
        if (!Set.of("http", "https").contains(scheme) || uri.getHost() == null) {
            throw new ConfigException(URL + " '" + Secrets.maskUrlCredentials(url) + "' (from " + c.origin(URL)
                    + ") must be an http:// or https:// URL with a host, e.g. https://registry:8443/apis/registry/v3");
        }
        if (uri.getUserInfo() != null) {
            throw new ConfigException(URL + " (from " + c.origin(URL) + ") contains credentials: set " + USERNAME
                    + " and " + PASSWORD + " (or " + PASSWORD + ".file) instead");
        }
        boolean https = scheme.equals("https");
        boolean allowHttpCredentials = c.bool(ALLOW_HTTP_CREDENTIALS);
        String username = c.string(USERNAME).strip();
        SecretValue password = SecretValue.read(c, PASSWORD);
        if (username.isEmpty() != (password == null)) {
            throw new ConfigException(
                    username.isEmpty()
                            ? PASSWORD + " is set but " + USERNAME + " is not: HTTP basic auth needs both"
                            : USERNAME + " '" + username + "' (from " + c.origin(USERNAME) + ") needs " + PASSWORD
                                    + " (or " + PASSWORD + ".file, env " + LayeredConfig.envName(PASSWORD) + ")");
        }
        if (!username.isEmpty() && !https && !allowHttpCredentials) {
            throw new ConfigException(USERNAME + " is set but " + URL + " is http: the password would cross the "
                    + "network readable. Use an https URL, or set " + ALLOW_HTTP_CREDENTIALS + "=true when TLS is "
                    + "terminated on the way (a sidecar on localhost)");
        }
        Truststore truststore = null;
        if (!c.string(TRUSTSTORE).isBlank()) {
            if (!https) {
                throw new ConfigException(TRUSTSTORE + " is set (from " + c.origin(TRUSTSTORE) + ") but " + URL
                        + " is http, which would not use it: use the registry's https URL");
            }
            truststore = truststore(c);
        } else if (SecretValue.read(c, TRUSTSTORE_PASSWORD) != null) {
            throw new ConfigException(TRUSTSTORE_PASSWORD + " is set but " + TRUSTSTORE + " is not");
        }
        return new RegistryConnection(
                url,
                username.isEmpty() ? null : username,
                password == null ? null : password.value(),
                truststore,
                c.bool(AUTO_REGISTER));
    }

    /**
     * The truststore at {@link #TRUSTSTORE}, checked now: a readable file that opens with its password (PKCS12, JKS)
     * or holds at least one certificate (PEM), so a wrong path or password is a start-up error that names the key,
     * not a handshake failure later.
     */
    private static Truststore truststore(LayeredConfig c) {
        String type = c.oneOf(TRUSTSTORE_TYPE, STORE_TYPES);
        SecretValue secret = SecretValue.read(c, TRUSTSTORE_PASSWORD);
        String password = secret == null ? "" : secret.value();
        Path location = Path.of(c.string(TRUSTSTORE).strip());
        if (!Files.isRegularFile(location) || !Files.isReadable(location)) {
            throw new ConfigException(
                    TRUSTSTORE + " '" + location + "' (from " + c.origin(TRUSTSTORE) + ") is not a readable file");
        }
        try (InputStream in = Files.newInputStream(location)) {
            KeyStore store;
            if (type.equals("PEM")) {
                Collection<? extends Certificate> certificates =
                        CertificateFactory.getInstance("X.509").generateCertificates(in);
                if (certificates.isEmpty()) {
                    throw new ConfigException(TRUSTSTORE + " '" + location + "' holds no PEM certificate");
                }
                store = KeyStore.getInstance(KeyStore.getDefaultType());
                store.load(null, null);
                int i = 0;
                for (Certificate certificate : certificates) {
                    store.setCertificateEntry("ca-" + i++, certificate);
                }
            } else {
                store = KeyStore.getInstance(type);
                store.load(in, password.isEmpty() ? null : password.toCharArray());
            }
            return new Truststore(location.toAbsolutePath(), type, password, store);
        } catch (IOException | GeneralSecurityException e) {
            throw new ConfigException(TRUSTSTORE + " '" + location + "' does not open as a " + type + " store"
                    + (type.equals("PEM") ? "" : " with the configured password") + ": " + e.getMessage());
        }
    }

    /** The registry's API URL, without a trailing slash. */
    public String url() {
        return url;
    }

    /** Whether the serdes register a schema they do not find (the demo's registry), or fail. */
    public boolean autoRegister() {
        return autoRegister;
    }

    /** The same registry and credentials, registering schemas or not: what {@code schemas register} uses. */
    public RegistryConnection withAutoRegister(boolean on) {
        return new RegistryConnection(url, username, password, truststore, on);
    }

    /**
     * The Apicurio serde client's settings for this connection (the keys of Apicurio's {@code SchemaResolverConfig},
     * client 3.1.x): URL, basic auth, the truststore, auto-registration. A serde adds its own settings to it.
     */
    public Map<String, Object> serdeProperties() {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("apicurio.registry.url", url);
        p.put("apicurio.registry.auto-register", Boolean.toString(autoRegister));
        if (username != null) {
            p.put("apicurio.registry.auth.username", username);
            p.put("apicurio.registry.auth.password", password);
        }
        if (truststore != null) {
            p.put(
                    "apicurio.registry.tls.truststore.location",
                    truststore.location().toString());
            p.put("apicurio.registry.tls.truststore.type", truststore.type());
            if (!truststore.password().isEmpty()) {
                p.put("apicurio.registry.tls.truststore.password", truststore.password());
            }
        }
        return p;
    }

    /**
     * A JDK HTTP client for the registry: trusting the configured truststore's certificates (the JVM's default CAs
     * without one), checking the host name as the JDK always does for https.
     */
    public HttpClient httpClient() {
        HttpClient.Builder b = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3));
        if (truststore != null) {
            try {
                TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
                tmf.init(truststore.store());
                SSLContext ssl = SSLContext.getInstance("TLS");
                ssl.init(null, tmf.getTrustManagers(), null);
                b.sslContext(ssl);
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException("cannot use " + TRUSTSTORE + " " + truststore.location() + ": " + e, e);
            }
        }
        return b.build();
    }

    /** Adds the basic auth header, when there are credentials, to a request for the registry. */
    public HttpRequest.Builder authorize(HttpRequest.Builder request) {
        if (username != null) {
            String token =
                    Base64.getEncoder().encodeToString((username + ":" + password).getBytes(StandardCharsets.UTF_8));
            request.header("Authorization", "Basic " + token);
        }
        return request;
    }

    /** The URL and how this connects, without secrets: {@code https://r/apis/registry/v3 (as 'app', truststore …)}. */
    @Override
    public String toString() {
        List<String> how = new ArrayList<>();
        how.add(username == null ? "anonymous" : "as '" + username + "'");
        if (truststore != null) {
            how.add("truststore " + truststore.location());
        }
        how.add("auto-register " + (autoRegister ? "on" : "off"));
        return url + " (" + String.join(", ", how) + ")";
    }
}
