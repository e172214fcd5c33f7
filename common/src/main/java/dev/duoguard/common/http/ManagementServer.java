package dev.duoguard.common.http;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.prometheus.metrics.core.metrics.Counter;
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
 * reason, and {@code /metrics} (Prometheus text format). These read-only routes are open to whoever reaches the
 * port; the commands an app adds ({@link #adminCommand}) change the system and require the admin token.
 * JDK's built-in HTTP server: a few endpoints do not justify a web framework.
 */
public final class ManagementServer implements AutoCloseable {

    private static final String BEARER = "Bearer ";

    private final HttpServer server;
    private final AdminToken adminToken;
    private final Counter refused;

    /**
     * @param bind       the address to listen on: {@code 127.0.0.1} for this host only, {@code 0.0.0.0} for every
     *                   interface (where probes and Prometheus come from outside, as in Kubernetes)
     * @param port       0: any free port
     * @param adminToken what {@link #adminCommand}s require; without a token they are refused
     * @param readiness  returns null when ready, else why not
     * @param liveness   returns null when live, else why not (the process should be restarted)
     * @throws IOException when {@code bind} does not resolve or the port cannot be bound
     */
    public ManagementServer(
            String bind,
            int port,
            AdminToken adminToken,
            PrometheusRegistry registry,
            Supplier<String> readiness,
            Supplier<String> liveness)
            throws IOException {
        InetSocketAddress address = new InetSocketAddress(bind, port);
        if (address.isUnresolved()) {
            throw new IOException("the management bind address '" + bind + "' does not resolve");
        }
        this.adminToken = adminToken;
        this.refused = Counter.builder()
                .name("duoguard_management_refused_total")
                .help("management commands refused, by route and reason (disabled, unauthenticated, wrong_token)")
                .labelNames("route", "reason")
                .register(registry);
        server = HttpServer.create(address, 0);
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
     * Adds an operator command that changes the system: {@code POST path?query} with {@code Authorization: Bearer
     * <admin token>} runs {@code action} with the query string (or "") and answers 202 with what it returns; a
     * refused command (IllegalArgumentException or IllegalStateException) answers 400 with the reason; other
     * methods get 405. Without the header: 401 with {@code WWW-Authenticate: Bearer}; with another token: 403;
     * with no token configured: 403 naming where to set one. {@code action} runs only for an authorized POST; each
     * refusal counts in {@code duoguard_management_refused_total{route,reason}}. The trainer service uses it for
     * "start an iteration now", the streams app for promote and rollback.
     */
    public void adminCommand(String path, Function<String, String> action) {
        server.createContext(path, ex -> {
            if (!adminToken.configured()) {
                refuse(
                        ex,
                        path,
                        "disabled",
                        403,
                        "commands are disabled on this port: no admin token is configured (" + adminToken.source()
                                + ")");
                return;
            }
            String presented = bearerToken(ex.getRequestHeaders().getFirst("Authorization"));
            if (presented == null) {
                ex.getResponseHeaders().set("WWW-Authenticate", "Bearer realm=\"duoguard-management\"");
                refuse(ex, path, "unauthenticated", 401, "send the admin token: Authorization: Bearer <token>");
                return;
            }
            if (!adminToken.matches(presented)) {
                refuse(ex, path, "wrong_token", 403, "the admin token does not match");
                return;
            }
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

    /** The token of an {@code Authorization: Bearer <token>} header (scheme in any case), or null. */
    private static String bearerToken(String header) {
        if (header == null) {
            return null;
        }
        String h = header.strip();
        if (h.length() <= BEARER.length() || !h.regionMatches(true, 0, BEARER, 0, BEARER.length())) {
            return null;
        }
        return h.substring(BEARER.length()).strip();
    }

    private void refuse(HttpExchange ex, String route, String reason, int status, String why) throws IOException {
        refused.labelValues(route, reason).inc();
        respond(ex, status, "text/plain", why + "\n");
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

    /** The address and port the server listens on. */
    public InetSocketAddress address() {
        return server.getAddress();
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
