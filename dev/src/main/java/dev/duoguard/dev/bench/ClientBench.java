package dev.duoguard.dev.bench;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.duoguard.client.ModerationClient;
import dev.duoguard.common.config.LayeredConfig;
import dev.duoguard.common.kafka.KafkaConnection;
import dev.duoguard.common.registry.RegistryConnection;
import dev.duoguard.common.serde.RegistryAvroSerdes;
import dev.duoguard.common.topics.Topics;
import dev.duoguard.embedded.EmbeddedKafka;
import dev.duoguard.embedded.EmbeddedRegistry;
import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.streams.app.StreamsApp;
import dev.duoguard.streams.config.AppConfig;
import dev.duoguard.streams.topology.ModerationListener;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Function;

/**
 * Inline latency ({@code ./duoguard client-bench}): how long a chat service waits from
 * {@link ModerationClient#moderate} to the future's completion, and a caller of {@code POST /v1/moderations} for
 * its answer (one input per request), at several offered loads, under exactly-once and at-least-once, with the streams app, broker and registry of this process (everything on this machine's cores).
 * Messages are sent at a fixed rate from one thread (open loop: a slow answer does not slow the sender, so queueing
 * shows in the latency); each run starts once one message has been answered (the first loads the language models),
 * and its first 2 s warm up and are not counted.
 */
public final class ClientBench {

    /** {@code client-bench.json}. */
    record Result(
            Bench.Machine machine,
            String model,
            @JsonProperty("seconds_per_load") int seconds,
            List<Row> rows) {}

    record Row(
            String path,
            String guarantee,
            @JsonProperty("offered_msgs_per_second") int offered,
            int measured,
            @JsonProperty("p50_ms") double p50Ms,
            @JsonProperty("p99_ms") double p99Ms,
            @JsonProperty("max_ms") double maxMs,
            @JsonProperty("client_fail_closed") int clientFailClosed) {}

    private static final Duration WARM_UP = Duration.ofSeconds(2);
    private static final String API_TOKEN = "client-bench-token-0123456789";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final HttpClient http = HttpClient.newHttpClient();

    private final PrintStream out;
    private final Path bundle;
    private final List<Integer> loads;
    private final int seconds;
    private final Path jsonOut;

    public ClientBench(PrintStream out, Path bundle, List<Integer> loads, int seconds, Path jsonOut) {
        this.out = out;
        this.bundle = bundle;
        this.loads = List.copyOf(loads);
        this.seconds = seconds;
        this.jsonOut = jsonOut;
    }

    public int run() throws Exception {
        Path work = Files.createTempDirectory("duoguard-client-bench-");
        List<Row> rows = new ArrayList<>();
        String model = bundle.toString();
        try (EmbeddedKafka kafka = new EmbeddedKafka(work.resolve("kafka")).start();
                EmbeddedRegistry registry = new EmbeddedRegistry(work).start()) {
            for (String guarantee : List.of("exactly_once_v2", "at_least_once")) {
                String suffix = guarantee.startsWith("exactly") ? "eos" : "alos";
                Topics.Names names = Topics.Names.DEFAULTS.withSuffix(suffix);
                try (StreamsApp app =
                        StreamsApp.start(appConfig(kafka, registry, work, guarantee, names), ModerationListener.NONE)) {
                    if (!app.awaitRunning(Duration.ofSeconds(120))) {
                        throw new IllegalStateException("the streams app did not start within 120 s");
                    }
                    model = app.model().name() + "@" + app.model().version();
                    int apiPort = app.apiPort().orElseThrow();
                    try (ModerationClient client = ModerationClient.builder(
                                    KafkaConnection.plaintext(kafka.bootstrapServers()),
                                    new RegistryAvroSerdes(RegistryConnection.anonymous(registry.apiUrl(), true)))
                            .topics(names)
                            .timeout(Duration.ofSeconds(30))
                            .build()) {
                        for (int load : loads) {
                            String prefix = suffix + "-" + load;
                            rows.add(report(measure(
                                    "client",
                                    guarantee,
                                    load,
                                    m -> client.moderate(m)
                                            .thenApply(v -> ModerationClient.CLIENT_MODEL.equals(v.getModelName())),
                                    prefix)));
                            rows.add(report(measure("http", guarantee, load, m -> moderations(apiPort, m), prefix)));
                        }
                    }
                }
            }
        }
        Result result = new Result(Bench.machine(), model, seconds, rows);
        print(result);
        Files.createDirectories(jsonOut.toAbsolutePath().getParent());
        new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(jsonOut.toFile(), result);
        out.println("wrote " + jsonOut);
        return 0;
    }

    private Row report(Row row) {
        out.printf(
                "%s %s at %d msg/s: p50 %.1f ms, p99 %.1f ms (%d messages)%n",
                row.path(), row.guarantee(), row.offered(), row.p50Ms(), row.p99Ms(), row.measured());
        return row;
    }

    /**
     * {@code POST /v1/moderations} with one message's text; completes with whether the answer was not the model's
     * (an error status, or a client fail-closed reason).
     */
    private CompletableFuture<Boolean> moderations(int port, ChatMessage m) {
        ObjectNode body = JSON.createObjectNode().put("input", m.getText());
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/moderations"))
                .header("Authorization", "Bearer " + API_TOKEN)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body.toString()))
                .build();
        return http.sendAsync(request, HttpResponse.BodyHandlers.ofString())
                .thenApply(r -> r.statusCode() != 200 || r.body().contains("\"CLIENT_"));
    }

    /**
     * Sends at {@code load} msg/s for the warm-up plus {@code seconds} through {@code send} (which completes with
     * whether the answer failed closed on the client's side); the latencies of the counted part.
     */
    private Row measure(
            String path,
            String guarantee,
            int load,
            Function<ChatMessage, CompletableFuture<Boolean>> send,
            String prefix)
            throws Exception {
        List<ChatMessage> corpus = Bench.corpus(load * (seconds + (int) WARM_UP.toSeconds()));
        // one message answered before the clock starts: the first one loads the language models and the schemas
        send.apply(ChatMessage.newBuilder(corpus.get(0))
                        .setMessageId(prefix + "-" + path + "-first")
                        .build())
                .get(2, TimeUnit.MINUTES);
        List<Double> latencies = Collections.synchronizedList(new ArrayList<>());
        AtomicInteger failClosed = new AtomicInteger();
        List<CompletableFuture<Boolean>> futures = new ArrayList<>(corpus.size());
        long periodNanos = TimeUnit.SECONDS.toNanos(1) / load;
        long start = System.nanoTime();
        long countFrom = start + WARM_UP.toNanos();
        for (int i = 0; i < corpus.size(); i++) {
            long due = start + i * periodNanos;
            long wait = due - System.nanoTime();
            if (wait > 0) {
                LockSupport.parkNanos(wait);
            }
            ChatMessage m = ChatMessage.newBuilder(corpus.get(i))
                    .setMessageId(prefix + "-" + path + "-" + i)
                    .build();
            long sent = System.nanoTime();
            boolean counted = sent >= countFrom;
            futures.add(send.apply(m).whenComplete((failed, e) -> {
                if (!counted) {
                    return;
                }
                latencies.add((System.nanoTime() - sent) / 1e6);
                if (e != null || failed) {
                    failClosed.incrementAndGet();
                }
            }));
        }
        CompletableFuture.allOf(futures.toArray(CompletableFuture[]::new)).get(2, TimeUnit.MINUTES);
        List<Double> sorted = new ArrayList<>(latencies);
        Collections.sort(sorted);
        return new Row(
                path,
                guarantee,
                load,
                sorted.size(),
                Bench.percentile(sorted, 0.50),
                Bench.percentile(sorted, 0.99),
                sorted.isEmpty() ? Double.NaN : sorted.get(sorted.size() - 1),
                failClosed.get());
    }

    private LayeredConfig appConfig(
            EmbeddedKafka kafka, EmbeddedRegistry registry, Path work, String guarantee, Topics.Names names) {
        LayeredConfig c = AppConfig.layered(null, Map.of());
        names.asConfig().forEach((k, v) -> c.with(k, v, "client-bench"));
        return c.with("kafka.bootstrap.servers", kafka.bootstrapServers(), "client-bench")
                .with("registry.url", registry.apiUrl(), "client-bench")
                .with("registry.auto-register", "true", "client-bench")
                .with("application.id", "client-bench-" + guarantee, "client-bench")
                .with("processing.guarantee", guarantee, "client-bench")
                .with("state.dir", work.resolve("state-" + guarantee).toString(), "client-bench")
                .with("topics.partitions", "2", "client-bench")
                .with("http.port", "-1", "client-bench")
                .with("api.port", "0", "client-bench")
                .with("api.token", API_TOKEN, "client-bench")
                .with("models.watch", "false", "client-bench")
                .with("model.path", bundle.toString(), "client-bench");
    }

    private void print(Result r) {
        out.printf(
                "%nInline latency, moderate() to completion (%s; %s, %d cores)%n",
                r.model(), r.machine().cpu(), r.machine().cores());
        out.println("| path | guarantee | offered msg/s | measured | p50 ms | p99 ms | max ms | client fail-closed |");
        out.println("|---|---|---:|---:|---:|---:|---:|---:|");
        for (Row row : r.rows()) {
            out.printf(
                    "| %s | %s | %d | %d | %.1f | %.1f | %.1f | %d |%n",
                    row.path(),
                    row.guarantee(),
                    row.offered(),
                    row.measured(),
                    row.p50Ms(),
                    row.p99Ms(),
                    row.maxMs(),
                    row.clientFailClosed());
        }
    }
}
