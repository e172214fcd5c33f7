package dev.duoguard.embedded;

import java.io.IOException;
import java.io.InputStream;
import java.io.Writer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real schema registry: Apicurio Registry's runnable server jar (from Maven Central, unpacked at build time into
 * {@code embedded/target/registry}) started as a child process on a loopback port, storing schemas in an H2 file in
 * the work directory, so {@link #close()} then {@link #start()} (a registry outage in the tests) keeps every schema
 * and id. It speaks Apicurio's v3 API and the Confluent-compatible API ({@code /apis/ccompat/v7}).
 *
 * <p>{@link #secured} starts it as a locked-down production registry: TLS only (a certificate for 127.0.0.1 from a CA
 * the test generates, {@link TestCertificates}; no plain http port) and HTTP basic auth against the users {@link
 * #user} adds, through the Quarkus security extensions the runner jar ships with (the embedded properties realm, its
 * users and roles and the path permissions are runtime settings there): a {@link Role#READER} may read, search by
 * content included (a read in Apicurio's own role model, and how a serde that does not register finds its schema's
 * id); only a {@link Role#WRITER} may create, change or delete. Anonymous requests get 401, a reader's write 403.
 * The health endpoints stay open, as a probe needs them. The settings are written to the process's own {@code
 * config/application.properties}, not its command line, so the passwords do not show in the process list.
 *
 * <p>The process is destroyed on {@link #close()} and by a JVM shutdown hook, so a demo leaves nothing running.
 */
public final class EmbeddedRegistry implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(EmbeddedRegistry.class);
    public static final String HOME_PROPERTY = "duoguard.registry.home";
    public static final String HOME_ENV = "DUOGUARD_REGISTRY_HOME";

    /** What a user of a {@link #secured} registry may do. */
    public enum Role {
        /** Read and search: what a component with registry.auto-register=false needs. */
        READER,
        /** Also register, change and delete: what {@code ./duoguard schemas register} needs. */
        WRITER
    }

    private final Path runnerJar;
    private final Path logFile;
    private final Path database;
    private final Path runDir;
    private final int port;
    /** The TLS material of a {@link #secured} registry; null for a plain http one. */
    private final TestCertificates tls;

    private final Map<String, String> passwords = new LinkedHashMap<>();
    private final Map<String, Role> roles = new LinkedHashMap<>();
    private final String probeUser = "probe-" + UUID.randomUUID();
    private final String probePassword = UUID.randomUUID().toString();
    private Process process;
    private Thread shutdownHook;

    /** A plain http registry without authentication: anyone who reaches the port may do anything. */
    public EmbeddedRegistry(Path workDir) {
        this(workDir, null);
    }

    private EmbeddedRegistry(Path workDir, TestCertificates tls) {
        this.runnerJar = locateRunnerJar();
        this.logFile = workDir.resolve("registry.log");
        this.database = workDir.toAbsolutePath().resolve("registry-db").resolve("registry");
        this.runDir = workDir.toAbsolutePath().resolve("registry-run");
        this.port = EmbeddedKafka.freePort();
        this.tls = tls;
    }

    /**
     * A registry that speaks only https and wants HTTP basic auth (see the class comment); add its users with
     * {@link #user} before {@link #start()}. Its certificates are generated in {@code <workDir>/registry-tls}.
     */
    public static EmbeddedRegistry secured(Path workDir) {
        return new EmbeddedRegistry(workDir, TestCertificates.generate(workDir.resolve("registry-tls")));
    }

    /** Adds a user of a {@link #secured} registry; takes effect at the next {@link #start()}. */
    public synchronized EmbeddedRegistry user(String name, String password, Role role) {
        tls();
        passwords.put(name, password);
        roles.put(name, role);
        return this;
    }

    /** The PKCS12 truststore with the test CA of a {@link #secured} registry (password {@link #truststorePassword}). */
    public Path truststore() {
        return tls().truststore();
    }

    public String truststorePassword() {
        return tls().password();
    }

    private TestCertificates tls() {
        if (tls == null) {
            throw new IllegalStateException("this registry is plain http: create it with EmbeddedRegistry.secured");
        }
        return tls;
    }

    /** Where the runner jar is: -Dduoguard.registry.home, $DUOGUARD_REGISTRY_HOME, or embedded/target/registry. */
    static Path locateRunnerJar() {
        List<Path> candidates = new ArrayList<>();
        String prop = System.getProperty(HOME_PROPERTY);
        if (prop != null) {
            candidates.add(Path.of(prop));
        }
        String env = System.getenv(HOME_ENV);
        if (env != null) {
            candidates.add(Path.of(env));
        }
        candidates.add(Path.of("embedded/target/registry"));
        candidates.add(Path.of("../embedded/target/registry"));
        for (Path dir : candidates) {
            if (Files.isDirectory(dir)) {
                try (Stream<Path> files = Files.list(dir)) {
                    var jar = files.filter(p -> p.getFileName().toString().endsWith("-runner.jar"))
                            .findFirst();
                    if (jar.isPresent()) {
                        return jar.get().toAbsolutePath();
                    }
                } catch (IOException e) {
                    // try the next candidate
                }
            }
        }
        throw new IllegalStateException("Apicurio Registry runner jar not found in " + candidates
                + "; build the project first (./mvnw -DskipTests install, or just ./duoguard) or set "
                + HOME_PROPERTY + " / " + HOME_ENV);
    }

    public synchronized EmbeddedRegistry start() {
        if (process != null) {
            return this;
        }
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = List.of(
                java,
                "-Xmx384m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-Dquarkus.http.host=127.0.0.1",
                "-Dquarkus.http.port=" + port,
                "-Dquarkus.log.level=WARN",
                "-Dquarkus.banner.enabled=false",
                "-Dapicurio.datasource.url=jdbc:h2:file:" + database,
                "-jar",
                runnerJar.toString());
        try {
            Files.createDirectories(logFile.getParent());
            writeRuntimeConfig();
            process = new ProcessBuilder(cmd)
                    .directory(runDir.toFile())
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()))
                    .start();
        } catch (IOException e) {
            throw new IllegalStateException(
                    "cannot start the schema registry (" + runnerJar + "): " + e.getMessage(), e);
        }
        Process p = process;
        shutdownHook = new Thread(p::destroy, "registry-shutdown");
        Runtime.getRuntime().addShutdownHook(shutdownHook);
        awaitReady(Duration.ofSeconds(90));
        log.info("schema registry ready at {} (log: {})", url(), logFile);
        return this;
    }

    /**
     * The process's {@code config/application.properties} (Quarkus reads it from the working directory at start):
     * empty for a plain registry; for a {@link #secured} one TLS only, basic auth, the users and the permissions.
     */
    private void writeRuntimeConfig() throws IOException {
        Properties p = new Properties();
        if (tls != null) {
            // the https port is the registry's port; the plain http listener is not opened at all
            p.setProperty("quarkus.http.ssl-port", Integer.toString(port));
            p.setProperty("quarkus.http.port", Integer.toString(EmbeddedKafka.freePort()));
            p.setProperty("quarkus.http.insecure-requests", "disabled");
            p.setProperty(
                    "quarkus.http.ssl.certificate.key-store-file",
                    tls.keystore().toString());
            p.setProperty("quarkus.http.ssl.certificate.key-store-file-type", "PKCS12");
            p.setProperty("quarkus.http.ssl.certificate.key-store-password", tls.password());
            // the runner was built with the embedded properties realm on (its users, roles and the permissions
            // below are runtime settings); basic auth is off unless turned on here: without this line every
            // request with credentials is refused as anonymous (tried)
            p.setProperty("quarkus.http.auth.basic", "true");
            p.setProperty("quarkus.security.users.embedded.plain-text", "true");
            Map<String, String> users = new LinkedHashMap<>(passwords);
            Map<String, Role> userRoles = new LinkedHashMap<>(roles);
            users.put(probeUser, probePassword); // this class's own readiness probe
            userRoles.put(probeUser, Role.READER);
            users.forEach((name, password) -> {
                p.setProperty("quarkus.security.users.embedded.users." + name, password);
                p.setProperty(
                        "quarkus.security.users.embedded.roles." + name,
                        userRoles.get(name) == Role.WRITER ? "registry-reader,registry-writer" : "registry-reader");
            });
            p.setProperty("quarkus.http.auth.policy.readers.roles-allowed", "registry-reader");
            p.setProperty("quarkus.http.auth.policy.writers.roles-allowed", "registry-writer");
            // the most specific path wins: reads anywhere, searches (by content too, a POST), else writers only
            p.setProperty("quarkus.http.auth.permission.read.paths", "/*");
            p.setProperty("quarkus.http.auth.permission.read.methods", "GET,HEAD,OPTIONS");
            p.setProperty("quarkus.http.auth.permission.read.policy", "readers");
            p.setProperty("quarkus.http.auth.permission.search.paths", "/apis/registry/v3/search/*");
            p.setProperty("quarkus.http.auth.permission.search.policy", "readers");
            p.setProperty("quarkus.http.auth.permission.write.paths", "/*");
            p.setProperty("quarkus.http.auth.permission.write.policy", "writers");
            p.setProperty("quarkus.http.auth.permission.health.paths", "/health/*");
            p.setProperty("quarkus.http.auth.permission.health.policy", "permit");
        }
        Path file = runDir.resolve("config").resolve("application.properties");
        Files.createDirectories(file.getParent());
        try (Writer w = Files.newBufferedWriter(file)) {
            p.store(w, "written by EmbeddedRegistry at each start");
        }
    }

    /** A client of this registry: trusting a {@link #secured} one's test CA. */
    private HttpClient probeClient() {
        HttpClient.Builder b = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2));
        if (tls != null) {
            try (InputStream in = Files.newInputStream(tls.truststore())) {
                KeyStore trusted = KeyStore.getInstance("PKCS12");
                trusted.load(in, tls.password().toCharArray());
                TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
                tmf.init(trusted);
                SSLContext ssl = SSLContext.getInstance("TLS");
                ssl.init(null, tmf.getTrustManagers(), null);
                b.sslContext(ssl);
            } catch (IOException | GeneralSecurityException e) {
                throw new IllegalStateException("cannot read the test truststore " + tls.truststore() + ": " + e, e);
            }
        }
        return b.build();
    }

    private void awaitReady(Duration timeout) {
        HttpClient http = probeClient();
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(url() + "/apis/registry/v3/system/info"))
                .timeout(Duration.ofSeconds(2));
        if (tls != null) {
            String credentials = probeUser + ":" + probePassword;
            request.header(
                    "Authorization",
                    "Basic " + Base64.getEncoder().encodeToString(credentials.getBytes(StandardCharsets.UTF_8)));
        }
        HttpRequest req = request.build();
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IllegalStateException(
                        "schema registry exited with " + process.exitValue() + "; see " + logFile);
            }
            try {
                if (http.send(req, HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                    return;
                }
            } catch (IOException e) {
                // not listening yet
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for the registry", e);
            }
            try {
                Thread.sleep(250);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for the registry", e);
            }
        }
        close();
        throw new IllegalStateException(
                "schema registry not ready after " + timeout.toSeconds() + " s; see " + logFile);
    }

    /** Base URL, e.g. http://127.0.0.1:41234 (https for a {@link #secured} registry) */
    public String url() {
        return (tls == null ? "http" : "https") + "://127.0.0.1:" + port;
    }

    /** Apicurio's v3 API, what the Apicurio serdes take. */
    public String apiUrl() {
        return url() + "/apis/registry/v3";
    }

    /** The Confluent-compatible API, for Confluent clients. */
    public String confluentUrl() {
        return url() + "/apis/ccompat/v7";
    }

    /** Stops the process (start() brings it back on the same port with the same schemas). */
    @Override
    public synchronized void close() {
        if (process != null) {
            process.destroy();
            try {
                if (!process.waitFor(10, TimeUnit.SECONDS)) {
                    process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                process.destroyForcibly();
            }
            try {
                Runtime.getRuntime().removeShutdownHook(shutdownHook);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running or has run
            }
            process = null;
        }
    }
}
