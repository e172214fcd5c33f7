package dev.duoguard.embedded;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real schema registry: Apicurio Registry's runnable server jar (from Maven Central, unpacked at build time into
 * {@code embedded/target/registry}) started as a child process on a loopback port, storing schemas in an H2 file in
 * the work directory, so {@link #close()} then {@link #start()} (a registry outage in the tests) keeps every schema
 * and id. It speaks Apicurio's v3 API and the Confluent-compatible API ({@code /apis/ccompat/v7}).
 *
 * <p>The process is destroyed on {@link #close()} and by a JVM shutdown hook, so a demo leaves nothing running.
 */
public final class EmbeddedRegistry implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(EmbeddedRegistry.class);
    public static final String HOME_PROPERTY = "duoguard.registry.home";
    public static final String HOME_ENV = "DUOGUARD_REGISTRY_HOME";

    private final Path runnerJar;
    private final Path logFile;
    private final Path database;
    private final int port;
    private Process process;
    private Thread shutdownHook;

    public EmbeddedRegistry(Path workDir) {
        this.runnerJar = locateRunnerJar();
        this.logFile = workDir.resolve("registry.log");
        this.database = workDir.toAbsolutePath().resolve("registry-db").resolve("registry");
        this.port = EmbeddedKafka.freePort();
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
            process = new ProcessBuilder(cmd)
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

    private void awaitReady(Duration timeout) {
        HttpClient http =
                HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        HttpRequest req = HttpRequest.newBuilder(URI.create(url() + "/apis/registry/v3/system/info"))
                .timeout(Duration.ofSeconds(2))
                .build();
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

    /** Base URL, e.g. http://127.0.0.1:41234 */
    public String url() {
        return "http://127.0.0.1:" + port;
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
