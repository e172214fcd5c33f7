package dev.duoguard.common.http;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * The management port: {@code /health/live} (nothing needs a restart: the app's threads are alive and making
 * progress), {@code /health/ready} (e.g. Kafka Streams is RUNNING and a model is loaded), each 200 or 503 with the
 * reason, and {@code /metrics} (Prometheus text format).
 * JDK's built-in HTTP server: a few endpoints do not justify a web framework. Apps may add POST commands.
 */
public final class ManagementServer implements AutoCloseable {

    private final HttpServer server;

    /** A server whose liveness is only that it answers. */
    public ManagementServer(int port, PrometheusRegistry registry, Supplier<String> readiness) throws IOException {
        this(port, registry, readiness, () -> null);
    }

    /**
     * @param readiness returns null when ready, else why not
     * @param liveness  returns null when live, else why not (the process should be restarted)
     */
    public ManagementServer(
            int port, PrometheusRegistry registry, Supplier<String> readiness, Supplier<String> liveness)
            throws IOException {
        server = HttpServer.create(new InetSocketAddress(port), 0);
        server.setExecutor(Executors.newFixedThreadPool(2, r -> {
            Thread t = new Thread(r, "management-http");
            t.setDaemon(true);
            return t;
        }));
        server.createContext("/health/live", ex -> health(ex, liveness, "live"));
        server.createContext("/health/ready", ex -> health(ex, readiness, "ready"));
        PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();
        server.createContext("/metrics", ex -> {
            ByteArrayOutputStream body = new ByteArrayOutputStream();
            writer.write(body, registry.scrape());
            respond(ex, 200, PrometheusTextFormatWriter.CONTENT_TYPE, body.toByteArray());
        });
        server.start();
    }

    /**
     * Adds an operator command: {@code POST path?query} runs {@code action} with the query string (or "") and
     * answers 202 with what it returns; a refused command (IllegalArgumentException or IllegalStateException)
     * answers 400 with the reason; other methods get 405. The trainer service uses it for "start an iteration now",
     * the streams app for promote and rollback.
     */
    public void command(String path, Function<String, String> action) {
        server.createContext(path, ex -> {
            if (!ex.getRequestMethod().equals("POST")) {
                respond(ex, 405, "text/plain", "use POST\n");
                return;
            }
            String query = ex.getRequestURI().getRawQuery();
            try {
                respond(ex, 202, "text/plain", action.apply(query == null ? "" : query) + "\n");
            } catch (IllegalArgumentException | IllegalStateException e) {
                respond(ex, 400, "text/plain", e.getMessage() + "\n");
            }
        });
    }

    /** The value of {@code name} in a query string such as {@code version=2&x=y}, or null. */
    public static String queryParameter(String query, String name) {
        for (String pair : query.split("&")) {
            int eq = pair.indexOf('=');
            if (eq > 0 && pair.substring(0, eq).equals(name)) {
                return URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
            }
        }
        return null;
    }

    /** 200 with {@code ok}, or 503 with the reason; a check that throws counts as failing, with its exception. */
    private static void health(HttpExchange ex, Supplier<String> check, String ok) throws IOException {
        String problem;
        try {
            problem = check.get();
        } catch (RuntimeException e) {
            problem = "the " + ok + " check failed: " + e;
        }
        respond(ex, problem == null ? 200 : 503, "text/plain", (problem == null ? ok : problem) + "\n");
    }

    public int port() {
        return server.getAddress().getPort();
    }

    private static void respond(HttpExchange ex, int status, String type, String body) throws IOException {
        respond(ex, status, type, body.getBytes(StandardCharsets.UTF_8));
    }

    private static void respond(HttpExchange ex, int status, String type, byte[] body) throws IOException {
        ex.getResponseHeaders().set("Content-Type", type);
        ex.sendResponseHeaders(status, body.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
        }
    }

    @Override
    public void close() {
        server.stop(0);
        ((ExecutorService) server.getExecutor()).shutdownNow();
    }
}
