package dev.duoguard.streams.http;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;
import java.util.function.Supplier;

/**
 * The management port: {@code /health/live} (the process answers), {@code /health/ready} (Kafka Streams is
 * RUNNING and a model is loaded; 503 with the reason otherwise) and {@code /metrics} (Prometheus text format).
 * JDK's built-in HTTP server: a few endpoints do not justify a web framework. Apps may add POST commands.
 */
public final class ManagementServer implements AutoCloseable {

    private final HttpServer server;

    /** @param readiness returns null when ready, else why not */
    public ManagementServer(int port, PrometheusRegistry registry, Supplier<String> readiness) throws IOException {
        server = HttpServer.create(new InetSocketAddress(port), 0);
        server.setExecutor(Executors.newFixedThreadPool(2, r -> {
            Thread t = new Thread(r, "management-http");
            t.setDaemon(true);
            return t;
        }));
        server.createContext("/health/live", ex -> respond(ex, 200, "text/plain", "live\n"));
        server.createContext("/health/ready", ex -> {
            String notReady = readiness.get();
            respond(ex, notReady == null ? 200 : 503, "text/plain", notReady == null ? "ready\n" : notReady + "\n");
        });
        PrometheusTextFormatWriter writer = new PrometheusTextFormatWriter(false);
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
    public void command(String path, java.util.function.Function<String, String> action) {
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
                return java.net.URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
            }
        }
        return null;
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
        ((java.util.concurrent.ExecutorService) server.getExecutor()).shutdownNow();
    }
}
