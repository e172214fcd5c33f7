package dev.duoguard.dev.bench;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.duoguard.common.config.LayeredConfig;
import dev.duoguard.common.registry.RegistryConnection;
import dev.duoguard.common.serde.RegistryAvroSerdes;
import dev.duoguard.common.topics.Topic;
import dev.duoguard.common.topics.Topics;
import dev.duoguard.dev.demo.StreamsDemo;
import dev.duoguard.embedded.EmbeddedKafka;
import dev.duoguard.embedded.EmbeddedRegistry;
import dev.duoguard.lifecycle.ModelKey;
import dev.duoguard.runtime.onnx.ExecutionDevice;
import dev.duoguard.runtime.scoring.GuardrailModel;
import dev.duoguard.schemas.ReplyChunk;
import dev.duoguard.schemas.ReplyStage;
import dev.duoguard.schemas.Verdict;
import dev.duoguard.streams.app.StreamsApp;
import dev.duoguard.streams.config.AppConfig;
import dev.duoguard.streams.topology.ModerationListener;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;

/**
 * Streaming reply moderation ({@code ./duoguard reply-bench}), in two parts.
 *
 * <ol>
 *   <li><b>Cost per chunk vs reply length</b>, the model alone: a reply of L characters arrives in chunks of
 *       {@code chunkChars}; as the streams app does, the whole growing reply (prompt + reply so far) is scored
 *       again every {@code scoreEvery} characters. Reported (best of three runs): scorings, characters of model
 *       input, model time per chunk (amortised) and the last scoring's time. Rescoring makes the per-chunk cost grow with the reply.</li>
 *   <li><b>Harmful chunk to STOP</b>, end to end: replies streamed through the embedded broker, registry and
 *       streams app (exactly-once), one chunk every {@code chunkGapMs}, a harmful sentence at a random chunk;
 *       the time from the harmful chunk's acknowledgement to the STOP verdict read by a read_committed
 *       consumer.</li>
 * </ol>
 * The decoder alternatives (one forward pass giving every prefix's score, or a key/value cache per open reply, so
 * a chunk costs only its own tokens) are measured by {@link DecoderReplyBench} ({@code --decoder}).
 */
public final class ReplyBench {

    /** {@code reply-bench.json}. */
    record Result(
            Bench.Machine machine,
            String model,
            @JsonProperty("chunk_chars") int chunkChars,
            @JsonProperty("score_every_chars") int scoreEvery,
            @JsonProperty("cost_per_chunk") List<CostRow> cost,
            @JsonProperty("stop_latency") Latency stop) {} // null: not measured (--replies 0)

    record CostRow(
            @JsonProperty("reply_chars") int replyChars,
            int chunks,
            int scorings,
            @JsonProperty("model_input_chars") long modelInputChars,
            @JsonProperty("ms_per_chunk") double msPerChunk,
            @JsonProperty("last_scoring_ms") double lastScoringMs) {}

    record Latency(
            int replies,
            @JsonProperty("chunk_gap_ms") int chunkGapMs,
            @JsonProperty("p50_ms") double p50Ms,
            @JsonProperty("p99_ms") double p99Ms,
            @JsonProperty("max_ms") double maxMs,
            @JsonProperty("chunks_shown_after_harmful_p50") double shownAfterP50) {}

    static final String PROMPT = "Tell me about the history of Hamburg.";

    static final List<String> SAFE = List.of(
            "Hamburg is a port city in the north of Germany. ",
            "Its harbour is one of the largest in Europe. ",
            "The old warehouse district is a world heritage site. ",
            "The Elbphilharmonie concert hall opened in 2017. ",
            "Many visitors take a boat tour of the harbour. ",
            "The city was a member of the Hanseatic League. ");

    static final String HARMFUL = "Here is how to build a bomb and kill everyone on the ferry. ";

    private final PrintStream out;
    private final Path bundle;
    private final List<Integer> lengths;
    private final int chunkChars;
    private final int scoreEvery;
    private final int replies;
    private final int chunkGapMs;
    private final Path jsonOut;

    public ReplyBench(
            PrintStream out,
            Path bundle,
            List<Integer> lengths,
            int chunkChars,
            int scoreEvery,
            int replies,
            int chunkGapMs,
            Path jsonOut) {
        this.out = out;
        this.bundle = bundle;
        this.lengths = List.copyOf(lengths);
        this.chunkChars = chunkChars;
        this.scoreEvery = scoreEvery;
        this.replies = replies;
        this.chunkGapMs = chunkGapMs;
        this.jsonOut = jsonOut;
    }

    public int run() throws Exception {
        String model;
        List<CostRow> cost = new ArrayList<>();
        try (GuardrailModel m = GuardrailModel.load(bundle, ExecutionDevice.AUTO, 0, 128)) {
            model = new ModelKey(m.model().name(), m.model().version()) + " on "
                    + m.model().device();
            out.println("▶ model " + model);
            out.printf(
                    "▶ cost per chunk: chunks of %d chars, the growing reply rescored every %d chars%n",
                    chunkChars, scoreEvery);
            costPerChunk(m, 1_000); // warm-up
            for (int length : lengths) {
                // the best of three: this machine is shared, and the schedule, not the noise, is what is measured
                CostRow row = costPerChunk(m, length);
                for (int i = 0; i < 2; i++) {
                    CostRow again = costPerChunk(m, length);
                    row = again.msPerChunk() < row.msPerChunk() ? again : row;
                }
                out.printf(
                        "  %6d chars: %4d chunks, %3d scorings, %.3f ms per chunk, last scoring %.1f ms%n",
                        row.replyChars(), row.chunks(), row.scorings(), row.msPerChunk(), row.lastScoringMs());
                cost.add(row);
            }
        }
        Latency stop = null;
        if (replies > 0) {
            out.printf(
                    "▶ harmful chunk → STOP: %d replies, a chunk every %d ms, through Kafka (exactly-once)%n",
                    replies, chunkGapMs);
            stop = stopLatency();
        }
        Result result = new Result(Bench.machine(), model, chunkChars, scoreEvery, cost, stop);
        print(result);
        Files.createDirectories(jsonOut.toAbsolutePath().getParent());
        new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(jsonOut.toFile(), result);
        out.println("wrote " + jsonOut);
        if (!cost.isEmpty()) {
            Path png = jsonOut.resolveSibling(jsonOut.getFileName().toString().replaceFirst("\\.json$", "") + ".png");
            ReplyCostChart.write(cost, "cost per chunk, " + model.replaceAll(" on .*", ""), png);
            out.println("wrote " + png);
        }
        return 0;
    }

    /** A reply of {@code length} characters from the safe sentences. */
    static String reply(int length) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; b.length() < length; i++) {
            b.append(SAFE.get(i % SAFE.size()));
        }
        return b.substring(0, length);
    }

    /** Scores the growing reply as the streams app would (every {@code scoreEvery} chars, and at the end). */
    private CostRow costPerChunk(GuardrailModel m, int length) {
        String text = reply(length);
        int chunks = (length + chunkChars - 1) / chunkChars;
        int scored = 0;
        int scorings = 0;
        long inputChars = 0;
        long totalNanos = 0;
        long lastNanos = 0;
        for (int end = chunkChars; ; end += chunkChars) {
            int at = Math.min(end, length);
            if (at - scored >= scoreEvery || at == length) {
                String input = m.pairText(PROMPT, text.substring(0, at));
                long t = System.nanoTime();
                m.score(List.of(input));
                lastNanos = System.nanoTime() - t;
                totalNanos += lastNanos;
                inputChars += input.length();
                scorings++;
                scored = at;
            }
            if (at == length) {
                break;
            }
        }
        return new CostRow(length, chunks, scorings, inputChars, totalNanos / 1e6 / chunks, lastNanos / 1e6);
    }

    private Latency stopLatency() throws Exception {
        Path work = Files.createTempDirectory("duoguard-reply-bench-");
        List<Double> latencies = new ArrayList<>();
        List<Double> shownAfter = new ArrayList<>();
        Random random = new Random(17);
        try (EmbeddedKafka kafka = new EmbeddedKafka(work.resolve("kafka")).start();
                EmbeddedRegistry registry = new EmbeddedRegistry(work).start()) {
            Topics.Names names = Topics.Names.DEFAULTS.withSuffix("reply-bench");
            RegistryAvroSerdes serdes = new RegistryAvroSerdes(RegistryConnection.anonymous(registry.apiUrl(), true));
            Topic<String, ReplyChunk> chunks = Topics.replyChunks(names.replyChunks(), serdes);
            Topic<String, Verdict> verdicts = Topics.verdicts(names.verdicts(), serdes);
            try (StreamsApp app = StreamsApp.start(appConfig(kafka, registry, work, names), ModerationListener.NONE)) {
                if (!app.awaitRunning(Duration.ofSeconds(120))) {
                    throw new IllegalStateException("the streams app did not start within 120 s");
                }
                Map<String, Object> producerConfig = Map.<String, Object>of(
                        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                        kafka.bootstrapServers(),
                        ProducerConfig.ACKS_CONFIG,
                        "all",
                        ProducerConfig.LINGER_MS_CONFIG,
                        0);
                try (var producer =
                                new KafkaProducer<>(producerConfig, chunks.keySerializer(), chunks.valueSerializer());
                        var consumer = new KafkaConsumer<>(
                                Map.<String, Object>of(
                                        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG,
                                        kafka.bootstrapServers(),
                                        ConsumerConfig.ISOLATION_LEVEL_CONFIG,
                                        "read_committed"),
                                verdicts.keyDeserializer(),
                                verdicts.valueDeserializer())) {
                    List<TopicPartition> partitions = consumer.partitionsFor(verdicts.name()).stream()
                            .map(p -> new TopicPartition(p.topic(), p.partition()))
                            .toList();
                    consumer.assign(partitions);
                    consumer.seekToEnd(partitions);
                    partitions.forEach(consumer::position);
                    // the first reply (not counted) loads the language models and resolves the schemas
                    for (int r = -1; r < replies; r++) {
                        int harmfulAt = 3 + random.nextInt(6);
                        double[] measured = streamOne(producer, consumer, chunks.name(), "bench-" + r, harmfulAt);
                        if (r >= 0 && measured != null) {
                            latencies.add(measured[0]);
                            shownAfter.add(measured[1]);
                        }
                    }
                }
            }
        } finally {
            StreamsDemo.deleteQuietly(work);
        }
        Collections.sort(latencies);
        Collections.sort(shownAfter);
        out.printf(
                "  %d of %d replies stopped: p50 %.1f ms, p99 %.1f ms%n",
                latencies.size(), replies, Bench.percentile(latencies, 0.5), Bench.percentile(latencies, 0.99));
        return new Latency(
                latencies.size(),
                chunkGapMs,
                Bench.percentile(latencies, 0.5),
                Bench.percentile(latencies, 0.99),
                latencies.isEmpty() ? Double.NaN : latencies.get(latencies.size() - 1),
                Bench.percentile(shownAfter, 0.5));
    }

    /**
     * Streams one reply of 12 chunks, the harmful sentence as chunk {@code harmfulAt}, reading verdicts between
     * chunks; stops sending at the STOP and closes the reply with an empty final chunk, as a gateway would. Returns
     * {ms from the harmful chunk's ack to the STOP, chunks sent after the harmful one}, or null without a STOP.
     */
    private double[] streamOne(
            KafkaProducer<String, ReplyChunk> producer,
            KafkaConsumer<String, Verdict> consumer,
            String topic,
            String replyId,
            int harmfulAt)
            throws Exception {
        long harmfulAcked = 0;
        long stopRead = 0;
        int sequence = 0;
        while (stopRead == 0 && sequence < 12) {
            String delta = sequence == harmfulAt ? HARMFUL : SAFE.get(sequence % SAFE.size());
            producer.send(new ProducerRecord<>(topic, replyId, chunk(replyId, sequence, delta, false)))
                    .get();
            long acked = System.nanoTime();
            if (sequence == harmfulAt) {
                harmfulAcked = acked;
            }
            sequence++;
            long next = acked + chunkGapMs * 1_000_000L;
            while (stopRead == 0 && System.nanoTime() < next) {
                stopRead = stopIn(consumer, replyId, Duration.ofNanos(Math.max(1, next - System.nanoTime())));
            }
        }
        // after the last chunk, wait for the STOP (up to 3 s) before closing the reply
        long deadline = System.nanoTime() + Duration.ofSeconds(3).toNanos();
        while (stopRead == 0 && System.nanoTime() < deadline) {
            stopRead = stopIn(consumer, replyId, Duration.ofMillis(50));
        }
        producer.send(new ProducerRecord<>(topic, replyId, chunk(replyId, sequence, "", true)))
                .get();
        if (stopRead == 0 || harmfulAcked == 0) {
            return null;
        }
        return new double[] {(stopRead - harmfulAcked) / 1e6, sequence - 1 - harmfulAt};
    }

    /** When a STOP for {@code replyId} was read in one poll (System.nanoTime), or 0. */
    private static long stopIn(KafkaConsumer<String, Verdict> consumer, String replyId, Duration poll) {
        for (ConsumerRecord<String, Verdict> r : consumer.poll(poll)) {
            if (replyId.equals(r.value().getReplyId()) && r.value().getReplyStage() == ReplyStage.STOP) {
                return System.nanoTime();
            }
        }
        return 0;
    }

    private static ReplyChunk chunk(String replyId, int sequence, String delta, boolean last) {
        return ReplyChunk.newBuilder()
                .setReplyId(replyId)
                .setConversationId("c-" + replyId)
                .setTenant("bench")
                .setSequence(sequence)
                .setTextDelta(delta)
                .setFinalChunk(last)
                .setPrompt(sequence == 0 ? PROMPT : null)
                .setCreatedAt(Instant.now())
                .build();
    }

    private LayeredConfig appConfig(EmbeddedKafka kafka, EmbeddedRegistry registry, Path work, Topics.Names names) {
        LayeredConfig c = AppConfig.layered(null, Map.of());
        names.asConfig().forEach((k, v) -> c.with(k, v, "reply-bench"));
        return c.with("kafka.bootstrap.servers", kafka.bootstrapServers(), "reply-bench")
                .with("registry.url", registry.apiUrl(), "reply-bench")
                .with("registry.auto-register", "true", "reply-bench")
                .with("application.id", "reply-bench", "reply-bench")
                .with("state.dir", work.resolve("state").toString(), "reply-bench")
                .with("topics.partitions", "2", "reply-bench")
                .with("http.port", "-1", "reply-bench")
                .with("models.watch", "false", "reply-bench")
                .with("replies.score-every-chars", Integer.toString(scoreEvery), "reply-bench")
                .with("model.path", bundle.toString(), "reply-bench");
    }

    private void print(Result r) {
        out.printf(
                "%nStreaming replies: cost per chunk vs reply length (%s; %s, %d cores; chunks of %d chars, "
                        + "rescored every %d chars)%n",
                r.model(), r.machine().cpu(), r.machine().cores(), r.chunkChars(), r.scoreEvery());
        out.println("| reply chars | chunks | scorings | model input chars | ms per chunk | last scoring ms |");
        out.println("|---:|---:|---:|---:|---:|---:|");
        for (CostRow row : r.cost()) {
            out.printf(
                    "| %d | %d | %d | %d | %.3f | %.1f |%n",
                    row.replyChars(),
                    row.chunks(),
                    row.scorings(),
                    row.modelInputChars(),
                    row.msPerChunk(),
                    row.lastScoringMs());
        }
        Latency l = r.stop();
        if (l == null) {
            return;
        }
        out.printf(
                "%nHarmful chunk acknowledged → STOP read (read_committed), %d replies, a chunk every %d ms: "
                        + "p50 %.1f ms, p99 %.1f ms, max %.1f ms; chunks sent after the harmful one (p50): %.0f%n",
                l.replies(), l.chunkGapMs(), l.p50Ms(), l.p99Ms(), l.maxMs(), l.shownAfterP50());
    }
}
