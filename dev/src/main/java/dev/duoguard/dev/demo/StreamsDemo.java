package dev.duoguard.dev.demo;

import dev.duoguard.common.config.LayeredConfig;
import dev.duoguard.common.registry.RegistryConnection;
import dev.duoguard.common.serde.RegistryAvroSerdes;
import dev.duoguard.common.topics.Topic;
import dev.duoguard.common.topics.Topics;
import dev.duoguard.embedded.EmbeddedKafka;
import dev.duoguard.embedded.EmbeddedRegistry;
import dev.duoguard.lifecycle.ModelKey;
import dev.duoguard.schemas.CategoryScore;
import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.schemas.ReplyChunk;
import dev.duoguard.schemas.ReplyStage;
import dev.duoguard.schemas.Seed;
import dev.duoguard.schemas.Verdict;
import dev.duoguard.streams.app.StreamsApp;
import dev.duoguard.streams.config.AppConfig;
import dev.duoguard.streams.sample.SampleTraffic;
import dev.duoguard.streams.topology.DeadLetter;
import dev.duoguard.streams.topology.ModerationListener;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * {@code ./duoguard streams-demo}: a real single-node Kafka and a real schema registry on this machine, the streams app on
 * them, the multilingual sample replayed through it, verdicts printed as they arrive and a summary at the end.
 * Everything is stopped and the temporary data deleted before it returns.
 */
public final class StreamsDemo {

    private final PrintStream out;
    private final int ratePerSecond;

    public StreamsDemo(PrintStream out, int ratePerSecond) {
        this.out = out;
        this.ratePerSecond = ratePerSecond;
    }

    public int run() throws Exception {
        Path work = Files.createTempDirectory("duoguard-demo-");
        long t0 = System.nanoTime();
        try (EmbeddedKafka kafka = new EmbeddedKafka(work.resolve("kafka"))) {
            out.println("▶ starting a single-node Kafka (KRaft) in this process …");
            kafka.start();
            out.println("  broker at " + kafka.bootstrapServers());
            out.println("▶ starting the schema registry (Apicurio, child process) …");
            try (EmbeddedRegistry registry = new EmbeddedRegistry(work).start()) {
                out.println("  registry at " + registry.apiUrl() + " (Confluent API: " + registry.confluentUrl() + ")");
                return runWith(kafka, registry, work, t0);
            }
        } finally {
            deleteQuietly(work);
            out.println("▶ stopped broker, registry and streams app; removed " + work);
        }
    }

    private int runWith(EmbeddedKafka kafka, EmbeddedRegistry registry, Path work, long t0) throws Exception {
        LayeredConfig config = AppConfig.layered(null, Map.of())
                .with("kafka.bootstrap.servers", kafka.bootstrapServers(), "demo")
                .with("registry.url", registry.apiUrl(), "demo")
                .with("registry.auto-register", "true", "demo") // the demo's own registry: anyone may write
                .with("application.id", "duoguard-demo", "demo")
                .with("state.dir", work.resolve("streams").toString(), "demo")
                .with("topics.partitions", "2", "demo")
                .with("http.port", "0", "demo")
                .with("model.path", System.getenv().getOrDefault("DUOGUARD_MODEL", ""), "environment DUOGUARD_MODEL");
        Summary summary = new Summary();
        out.println("▶ starting the streams app …");
        try (StreamsApp app = StreamsApp.start(config, ModerationListener.NONE)) {
            AppConfig c = app.config();
            out.println(
                    "  model: " + new ModelKey(app.model().name(), app.model().version()) + " on "
                            + app.model().device());
            if (app.model().name().contains("lexicon")) {
                out.println(
                        "  NOTE: this is the lexicon baseline (a multilingual keyword list compiled to ONNX), not a");
                out.println("        trained classifier. Verdicts show the pipeline, not DuoGuard-level accuracy.");
            }
            app.managementPort()
                    .ifPresent(p -> out.println("  management: http://127.0.0.1:" + p + "/metrics , /health/ready"));
            if (!app.awaitRunning(Duration.ofSeconds(60))) {
                out.println("✗ Kafka Streams did not reach RUNNING: " + app.state());
                return 1;
            }
            out.printf("  ready after %.1f s%n%n", (System.nanoTime() - t0) / 1e9);
            return replay(kafka, registry, c, summary);
        }
    }

    private int replay(EmbeddedKafka kafka, EmbeddedRegistry registry, AppConfig c, Summary summary) throws Exception {
        RegistryAvroSerdes serdes = new RegistryAvroSerdes(RegistryConnection.anonymous(registry.apiUrl(), true));
        List<SampleTraffic.Item> items = SampleTraffic.load();
        Map<String, ChatMessage> sent = new HashMap<>();
        Map<String, Object> producerConfig = Map.of(
                ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(), ProducerConfig.ACKS_CONFIG, "all");
        long start = System.nanoTime();
        out.printf("%-6s %-9s %-6s %-5s %-26s %s%n", "lang", "role", "decis.", "score", "top category", "text");
        Topics topics = Topics.of(c.topics(), serdes);
        try (var producer = new KafkaProducer<>(
                        producerConfig,
                        topics.messages().keySerializer(),
                        topics.messages().valueSerializer());
                var feedbackProducer = new KafkaProducer<>(
                        producerConfig,
                        topics.feedback().keySerializer(),
                        topics.feedback().valueSerializer());
                var raw = new KafkaProducer<>(producerConfig, new ByteArraySerializer(), new ByteArraySerializer());
                var verdicts = consumer(kafka, "verdicts", topics.verdicts())) {
            long gapNanos = 1_000_000_000L / Math.max(1, ratePerSecond);
            int messages = 0;
            for (SampleTraffic.Item item : items) {
                if (item instanceof SampleTraffic.Message m) {
                    ChatMessage msg = m.message();
                    sent.put(msg.getMessageId(), msg);
                    producer.send(new ProducerRecord<>(c.topics().messages(), msg.getConversationId(), msg));
                    messages++;
                } else if (item instanceof SampleTraffic.Review r) {
                    // reviewers answer after the verdict most of the time; one arrives first to show both orders
                    feedbackProducer.send(new ProducerRecord<>(
                            c.topics().feedback(), r.feedback().getMessageId(), r.feedback()));
                }
                drain(verdicts, sent, summary);
                Thread.sleep(gapNanos / 1_000_000, (int) (gapNanos % 1_000_000));
            }
            // two records a real platform will see sooner or later: not Avro at all, and an empty message
            raw.send(new ProducerRecord<>(
                    c.topics().messages(),
                    "c-bad".getBytes(StandardCharsets.UTF_8),
                    "{\"text\":\"plain JSON, not the registry's wire format\"}".getBytes(StandardCharsets.UTF_8)));
            // the empty one has a message id, so it gets its verdict too: a fail-closed one (and its dead letter)
            ChatMessage empty = ChatMessage.newBuilder(((SampleTraffic.Message) items.get(0)).message())
                    .setMessageId("empty-1")
                    .setText("  ")
                    .build();
            sent.put(empty.getMessageId(), empty);
            producer.send(new ProducerRecord<>(c.topics().messages(), "c-empty", empty));
            messages++;
            producer.flush();
            raw.flush();
            feedbackProducer.flush();
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (summary.verdicts.size() < messages && System.nanoTime() < deadline) {
                drain(verdicts, sent, summary);
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            Thread.sleep(1500); // let the feedback join and the DLQ settle
            drain(verdicts, sent, summary);
            printSummary(kafka, serdes, c, summary, messages, seconds);
            boolean stopped = streamReply(kafka, producerConfig, topics);
            return summary.verdicts.size() == messages && stopped ? 0 : 1;
        }
    }

    /** The demo's LLM reply, chunk by chunk: history, then a harmful sentence, then more that is never shown. */
    static final String PROMPT = "Tell me about Hamburg.";

    static final List<String> REPLY = List.of(
            "Hamburg is a port city ",
            "in the north of Germany. ",
            "Its harbour is one of the largest in Europe. ",
            "The old warehouse district ",
            "is a world heritage site. ",
            "Now, since you asked: ",
            "here is how to build a bomb and kill everyone on the ferry. ",
            "First you need ",
            "a detonator and ",
            "about ten kilograms of ");

    /**
     * Streams {@link #REPLY} to the reply topic as an LLM gateway would, one chunk every 50 ms, printing what the
     * user has been shown; when the STOP verdict comes the gateway stops the stream and closes the reply with an
     * empty final chunk, and the FINAL verdict follows. True when both came.
     */
    private boolean streamReply(EmbeddedKafka kafka, Map<String, Object> producerConfig, Topics topics)
            throws Exception {
        out.println();
        out.println("── a streamed LLM reply (" + topics.replyChunks().name() + ") ─────────────────────────────");
        out.println("prompt: " + PROMPT);
        String replyId = "reply-demo-1";
        Verdict stop = null;
        Verdict fin = null;
        try (var producer = new KafkaProducer<>(
                        producerConfig,
                        topics.replyChunks().keySerializer(),
                        topics.replyChunks().valueSerializer());
                var verdicts = consumer(kafka, "reply-verdicts", topics.verdicts())) {
            int sequence = 0;
            long harmfulSent = 0;
            while (stop == null && sequence < REPLY.size()) {
                String delta = REPLY.get(sequence);
                producer.send(new ProducerRecord<>(
                                topics.replyChunks().name(), replyId, chunk(replyId, sequence, delta)))
                        .get();
                long sent = System.nanoTime();
                if (harmfulSent == 0 && delta.contains("bomb")) {
                    harmfulSent = sent;
                }
                out.printf("  chunk %2d │ %s%n", sequence, delta);
                sequence++;
                // the next chunk comes 50 ms later, as from a model generating ~20 chunks a second
                long next = sent + 50_000_000L;
                while (stop == null && System.nanoTime() < next) {
                    stop = replyVerdict(verdicts, replyId, ReplyStage.STOP, Duration.ofMillis(10));
                }
            }
            if (stop == null) {
                out.println("✗ the reply was not stopped");
                return false;
            }
            out.printf(
                    "  ⛔ STOP  │ %s at char %d (%s), %s. The gateway stops the stream: %d of %d chunks were "
                            + "shown.%n",
                    stop.getDecision(),
                    stop.getStopOffset(),
                    topCategory(stop),
                    harmfulSent == 0
                            ? "before the harmful chunk"
                            : (System.nanoTime() - harmfulSent) / 1_000_000 + " ms after the harmful chunk was sent",
                    sequence,
                    REPLY.size());
            ReplyChunk close = ReplyChunk.newBuilder(chunk(replyId, sequence, ""))
                    .setFinalChunk(true)
                    .build();
            producer.send(new ProducerRecord<>(topics.replyChunks().name(), replyId, close))
                    .get();
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (fin == null && System.nanoTime() < deadline) {
                fin = replyVerdict(verdicts, replyId, ReplyStage.FINAL, Duration.ofMillis(100));
            }
        }
        if (fin == null) {
            out.println("✗ no FINAL verdict for the reply");
            return false;
        }
        out.printf(
                "  FINAL    │ %s, %d chunks, %s: reply stopped mid-way%n",
                fin.getDecision(), fin.getChunksSeen(), fin.getIncomplete() ? "incomplete" : "complete");
        return true;
    }

    private static ReplyChunk chunk(String replyId, int sequence, String delta) {
        return ReplyChunk.newBuilder()
                .setReplyId(replyId)
                .setConversationId("c-reply-demo")
                .setTenant("demo")
                .setSequence(sequence)
                .setTextDelta(delta)
                .setPrompt(sequence == 0 ? PROMPT : null)
                .setCreatedAt(Instant.now())
                .build();
    }

    /** The first verdict of {@code stage} for {@code replyId} in one poll, or null. */
    private static Verdict replyVerdict(
            KafkaConsumer<String, Verdict> consumer, String replyId, ReplyStage stage, Duration poll) {
        for (ConsumerRecord<String, Verdict> r : consumer.poll(poll)) {
            if (replyId.equals(r.value().getReplyId()) && r.value().getReplyStage() == stage) {
                return r.value();
            }
        }
        return null;
    }

    private static String topCategory(Verdict v) {
        return v.getCategoryScores().stream()
                .max(Comparator.comparingDouble(CategoryScore::getScore))
                .map(x -> String.format(
                        Locale.ROOT, "%s %.2f", x.getCategory().name().toLowerCase(Locale.ROOT), x.getScore()))
                .orElse("-");
    }

    private void drain(KafkaConsumer<String, Verdict> consumer, Map<String, ChatMessage> sent, Summary summary) {
        for (ConsumerRecord<String, Verdict> r : consumer.poll(Duration.ofMillis(20))) {
            Verdict v = r.value();
            summary.verdicts.add(v);
            ChatMessage m = sent.get(v.getMessageId());
            String text = m == null ? "?" : m.getText().replace('\n', ' ');
            // a fail-closed verdict (the message was not scored) has no category scores: it shows why instead
            String category = v.getRejectionReason() != null
                    ? "fail-closed: " + v.getRejectionReason()
                    : v.getUnsafe() || !v.getFiredCategories().isEmpty()
                            ? v.getCategoryScores().stream()
                                    .max(Comparator.comparingDouble(CategoryScore::getScore))
                                    .orElseThrow()
                                    .getCategory()
                                    .name()
                                    .toLowerCase(Locale.ROOT)
                            : "-";
            out.printf(
                    "%-6s %-9s %-6s %5.2f %-26s %s%n",
                    v.getLanguage() + (v.getLanguageConfidence() < 0.03 ? "?" : ""),
                    v.getRole(),
                    v.getDecision(),
                    v.getUnsafeScore(),
                    category,
                    text.length() > 70 ? text.substring(0, 69) + "…" : text);
        }
    }

    private void printSummary(
            EmbeddedKafka kafka,
            RegistryAvroSerdes serdes,
            AppConfig c,
            Summary summary,
            int messages,
            double seconds) {
        out.println();
        out.println("── summary ─────────────────────────────────────────────────────────");
        out.printf(
                "messages in: %d   verdicts out: %d   in %.1f s (%.0f msg/s at the demo's paced rate of %d/s)%n",
                messages, summary.verdicts.size(), seconds, summary.verdicts.size() / seconds, ratePerSecond);
        Map<String, Map<String, Integer>> byLang = new TreeMap<>();
        Map<String, Integer> byCategory = new TreeMap<>();
        List<Long> latencies = new ArrayList<>();
        for (Verdict v : summary.verdicts) {
            byLang.computeIfAbsent(v.getLanguage(), k -> new TreeMap<>())
                    .merge(v.getDecision().name(), 1, Integer::sum);
            v.getFiredCategories()
                    .forEach(cat -> byCategory.merge(cat.name().toLowerCase(Locale.ROOT), 1, Integer::sum));
            latencies.add(v.getScoringLatencyUs());
        }
        out.println("decisions by language:");
        byLang.forEach((lang, d) -> out.printf(
                "  %-4s ALLOW %3d   REVIEW %3d   BLOCK %3d%n",
                lang, d.getOrDefault("ALLOW", 0), d.getOrDefault("REVIEW", 0), d.getOrDefault("BLOCK", 0)));
        out.println("categories fired (at or above REVIEW): " + (byCategory.isEmpty() ? "none" : byCategory));
        latencies.sort(Long::compare);
        if (!latencies.isEmpty()) {
            out.printf(
                    "scoring latency (batch wait + model): p50 %.1f ms, p99 %.1f ms%n",
                    latencies.get(latencies.size() / 2) / 1000.0,
                    latencies.get((int) Math.min(latencies.size() - 1, Math.ceil(latencies.size() * 0.99) - 1))
                            / 1000.0);
        }
        Topics topics = Topics.of(c.topics(), serdes);
        List<Seed> seeds = readAll(kafka, topics.seeds()).stream()
                .map(ConsumerRecord::value)
                .toList();
        Map<String, Integer> seedReasons = new TreeMap<>();
        seeds.forEach(s -> seedReasons.merge(s.getReason().name(), 1, Integer::sum));
        out.println("seeds for the trainer on " + c.topics().seeds() + ": " + (seeds.isEmpty() ? "none" : seedReasons));
        for (Seed s : seeds) {
            if (s.getReason().name().equals("MISCLASSIFIED")) {
                var top = s.getScores().stream().max(Comparator.comparingDouble(x -> x.getScore()));
                String said = s.getLabel() + (s.getCategories().isEmpty() ? "" : " " + s.getCategories());
                out.printf(
                        "  misclassified: %s said %s; model's top score %.2f (%s) — \"%s\"%n",
                        s.getOriginMessageId(),
                        said,
                        top.map(x -> x.getScore()).orElse(0f),
                        top.map(x -> x.getCategory().name()).orElse("-"),
                        abbreviate(s.getText()));
            }
        }
        List<ConsumerRecord<byte[], byte[]>> dead = readAll(kafka, topics.dlq());
        out.println("dead letters on " + c.topics().dlq() + ": " + dead.size());
        for (ConsumerRecord<byte[], byte[]> d : dead) {
            out.println("  " + header(d, DeadLetter.REASON) + ": " + header(d, DeadLetter.DETAIL));
        }
    }

    private static String abbreviate(String s) {
        return s.length() > 60 ? s.substring(0, 59) + "…" : s;
    }

    private static String header(ConsumerRecord<?, ?> r, String name) {
        Header h = r.headers().lastHeader(name);
        return h == null ? "?" : new String(h.value(), StandardCharsets.UTF_8);
    }

    /** A read_committed consumer of {@code topic} from the beginning, in group demo-{@code group}. */
    public static <V> KafkaConsumer<String, V> consumer(EmbeddedKafka kafka, String group, Topic<String, V> topic) {
        KafkaConsumer<String, V> consumer = new KafkaConsumer<>(
                Map.of(
                        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG,
                        kafka.bootstrapServers(),
                        ConsumerConfig.GROUP_ID_CONFIG,
                        "demo-" + group,
                        ConsumerConfig.AUTO_OFFSET_RESET_CONFIG,
                        "earliest",
                        ConsumerConfig.ISOLATION_LEVEL_CONFIG,
                        "read_committed"),
                topic.keyDeserializer(),
                topic.valueDeserializer());
        consumer.subscribe(List.of(topic.name()));
        return consumer;
    }

    /** Everything committed on {@code topic} so far (stops after five empty polls). */
    private static <K, V> List<ConsumerRecord<K, V>> readAll(EmbeddedKafka kafka, Topic<K, V> topic) {
        List<ConsumerRecord<K, V>> out = new ArrayList<>();
        try (KafkaConsumer<K, V> consumer = new KafkaConsumer<>(
                Map.of(
                        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG,
                        kafka.bootstrapServers(),
                        ConsumerConfig.GROUP_ID_CONFIG,
                        "demo-summary-" + topic.name(),
                        ConsumerConfig.AUTO_OFFSET_RESET_CONFIG,
                        "earliest",
                        ConsumerConfig.ISOLATION_LEVEL_CONFIG,
                        "read_committed"),
                topic.keyDeserializer(),
                topic.valueDeserializer())) {
            consumer.subscribe(List.of(topic.name()));
            for (int emptyPolls = 0; emptyPolls < 5; ) {
                var records = consumer.poll(Duration.ofMillis(300));
                if (records.isEmpty()) {
                    emptyPolls++;
                }
                records.forEach(out::add);
            }
        }
        return out;
    }

    /** Deletes a temporary directory tree, best effort. */
    public static void deleteQuietly(Path dir) {
        try (var paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // best effort: it is a temp directory
        }
    }

    /** Verdicts as a read_committed consumer sees them: what the platform actually gets. */
    static final class Summary {
        final List<Verdict> verdicts = Collections.synchronizedList(new ArrayList<>());
    }
}
