package dev.duoguard.streams.api;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.duoguard.client.ModerationClient;
import dev.duoguard.client.OpenAiModeration;
import dev.duoguard.common.http.AdminToken;
import dev.duoguard.common.kafka.KafkaConnection;
import dev.duoguard.common.serde.AvroSerdes;
import dev.duoguard.common.topics.Topics;
import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.schemas.Role;
import dev.duoguard.schemas.Verdict;
import dev.duoguard.streams.config.AppConfig;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code POST /v1/moderations}, compatible with OpenAI's moderation API ({@link OpenAiModeration}: request, response,
 * category mapping). Each input becomes a {@link ChatMessage} on the messages topic (message id
 * {@code <response id>-<index>}, the response id as conversation, tenant {@code api.tenant}) and its answer is that
 * message's verdict, awaited through a {@link ModerationClient}: HTTP and stream traffic share the batches, the
 * exactly-once path, the fail-closed rules, the dead-letter topic, the verdicts topic and the feedback join, so
 * feedback on an HTTP verdict (by its {@code duoguard.message_id}) makes seeds too. The price is the topic round
 * trip: under exactly-once an answer waits for the app's commit (every 100 ms).
 *
 * <p>Callers need the bearer token ({@code api.token}); 401 otherwise. A body that is not a moderation request is
 * 400; too many inputs, an input over {@code input.max-text-chars} or a body over the matching size is 413; every
 * refusal is JSON ({@code {"error": {"message", "type"}}}) and counted. JDK's HTTP server on a pool of
 * {@value #THREADS} threads that read requests and write answers; no thread waits for a verdict (see
 * {@link #handle}).
 */
public final class ModerationApi implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ModerationApi.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    static final int THREADS = 4;
    static final String PATH = "/v1/moderations";

    private final HttpServer server;
    private final ExecutorService threads;
    private final ModerationClient client;
    private final AdminToken token;
    private final AppConfig.Api api;
    private final int maxChars;
    private final long maxBodyBytes;
    private final Counter requests;

    private ModerationApi(
            AppConfig.Api api, ModerationClient client, int maxChars, PrometheusRegistry registry, HttpServer server) {
        this.api = api;
        this.client = client;
        this.maxChars = maxChars;
        // the worst JSON spelling of the largest request: every character escaped as six bytes, plus the framing
        this.maxBodyBytes = (long) api.maxInputs() * maxChars * 6 + 64 * 1024;
        this.token = AdminToken.of(api.token().value(), "api.token / api.token.file");
        this.requests = Counter.builder()
                .name("duoguard_api_requests_total")
                .help("Requests to POST /v1/moderations by HTTP status")
                .labelNames("status")
                .register(registry);
        this.server = server;
        this.threads = Executors.newFixedThreadPool(THREADS, r -> {
            Thread t = new Thread(r, "moderation-api");
            t.setDaemon(true);
            return t;
        });
        server.setExecutor(threads);
        server.createContext(PATH, this::handle);
    }

    /** Binds {@code api.bind}:{@code api.port} and starts answering; the client reads verdicts from now on. */
    public static ModerationApi start(
            AppConfig.Api api,
            KafkaConnection kafka,
            AvroSerdes serdes,
            Topics.Names topics,
            int maxChars,
            PrometheusRegistry registry)
            throws IOException {
        InetSocketAddress address = new InetSocketAddress(api.bind(), api.port());
        if (address.isUnresolved()) {
            throw new IOException("the api bind address '" + api.bind() + "' does not resolve");
        }
        ModerationClient client = ModerationClient.builder(kafka, serdes)
                .topics(topics)
                .timeout(api.timeout())
                .metrics(registry)
                .build();
        try {
            ModerationApi started = new ModerationApi(api, client, maxChars, registry, HttpServer.create(address, 0));
            started.server.start();
            log.info("moderation endpoint on {}/v1/moderations", started.server.getAddress());
            return started;
        } catch (IOException | RuntimeException e) {
            client.close();
            throw e;
        }
    }

    public int port() {
        return server.getAddress().getPort();
    }

    /**
     * Refusals are answered at once; a request's verdicts are awaited without holding a thread: the answer is
     * written when the last one arrives, so concurrent requests are bounded by the client's in-flight bound (past it
     * the client answers CLIENT_OVERLOADED, fail-closed), not by a thread pool.
     */
    private void handle(HttpExchange ex) {
        boolean answerLater = false;
        try {
            answerLater = answer(ex);
        } catch (IOException | RuntimeException e) {
            log.warn("moderation request not answered: {}", e.toString());
        } finally {
            if (!answerLater) {
                ex.close();
            }
        }
    }

    /** Answers a refusal now (false), or arranges the answer for when the verdicts are in (true). */
    private boolean answer(HttpExchange ex) throws IOException {
        try {
            if (!ex.getRequestURI().getPath().equals(PATH)) { // a context matches by prefix
                error(ex, 404, "no such endpoint: POST " + PATH);
                return false;
            }
            if (!ex.getRequestMethod().equals("POST")) {
                ex.getResponseHeaders().set("Allow", "POST");
                error(ex, 405, "use POST");
                return false;
            }
            String auth = ex.getRequestHeaders().getFirst("Authorization");
            boolean bearer = auth != null && auth.regionMatches(true, 0, "Bearer ", 0, 7); // the scheme's case is free
            if (!bearer || !token.matches(auth.substring(7).trim())) {
                ex.getResponseHeaders().set("WWW-Authenticate", "Bearer realm=\"duoguard-moderation\"");
                error(ex, 401, "send the API token: Authorization: Bearer <token>");
                return false;
            }
            byte[] body = readAtMost(ex.getRequestBody(), maxBodyBytes);
            if (body == null) {
                error(ex, 413, "the body is larger than " + maxBodyBytes + " bytes");
                return false;
            }
            List<String> inputs = OpenAiModeration.inputs(body, api.maxInputs(), maxChars);
            String id = "modr-" + UUID.randomUUID();
            List<CompletableFuture<Verdict>> answers = new ArrayList<>(inputs.size());
            for (int i = 0; i < inputs.size(); i++) {
                answers.add(client.moderate(ChatMessage.newBuilder()
                        .setMessageId(id + "-" + i)
                        .setConversationId(id)
                        .setTenant(api.tenant())
                        .setRole(Role.USER)
                        .setText(inputs.get(i))
                        .setTimestamp(Instant.now())
                        .build()));
            }
            // never exceptional: the client answers a timeout itself, fail-closed
            CompletableFuture.allOf(answers.toArray(CompletableFuture[]::new))
                    .whenCompleteAsync(
                            (done, e) -> {
                                try (ex) {
                                    List<Verdict> verdicts = new ArrayList<>(answers.size());
                                    answers.forEach(a -> verdicts.add(a.join()));
                                    respond(ex, 200, OpenAiModeration.response(id, verdicts));
                                } catch (IOException | RuntimeException failed) {
                                    log.warn("moderation answer {} not written: {}", id, failed.toString());
                                }
                            },
                            threads);
            return true;
        } catch (OpenAiModeration.Refused e) {
            error(ex, e.status(), e.getMessage());
            return false;
        } catch (RuntimeException e) {
            log.error("moderation request failed", e);
            error(ex, 500, "internal error: " + e.getClass().getSimpleName());
            return false;
        }
    }

    /** The stream's bytes, or null when it holds more than {@code limit}. */
    private static byte[] readAtMost(InputStream in, long limit) throws IOException {
        byte[] b = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, limit + 1));
        return b.length > limit ? null : b;
    }

    private void error(HttpExchange ex, int status, String message) throws IOException {
        ObjectNode body = JSON.createObjectNode();
        ObjectNode error = body.putObject("error");
        error.put("message", message);
        error.put(
                "type",
                status == 401 ? "authentication_error" : status >= 500 ? "server_error" : "invalid_request_error");
        respond(ex, status, body);
    }

    private void respond(HttpExchange ex, int status, ObjectNode body) throws IOException {
        requests.labelValues(Integer.toString(status)).inc();
        byte[] bytes = JSON.writeValueAsBytes(body);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(bytes);
        }
    }

    /** Why the endpoint cannot answer with verdicts any more (for the liveness probe); empty while it works. */
    public Optional<String> problem() {
        return client.problem();
    }

    /**
     * The client answers what still waits (fail-closed, so those requests get their 200), then the server stops
     * taking requests and gives those running a second to finish.
     */
    @Override
    public void close() {
        client.close();
        server.stop(1);
        threads.shutdownNow();
    }
}
