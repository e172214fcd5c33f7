package dev.duoguard.streams.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.common.config.LayeredConfig;
import dev.duoguard.common.registry.RegistryConnection;
import dev.duoguard.common.serde.RegistryAvroSerdes;
import dev.duoguard.common.topics.Topic;
import dev.duoguard.common.topics.Topics;
import dev.duoguard.embedded.EmbeddedPlatform;
import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.schemas.Role;
import dev.duoguard.schemas.Verdict;
import dev.duoguard.streams.config.AppConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A real broker and a real registry for a test class (the {@link EmbeddedPlatform} extension: register it on a
 * static field with {@code @RegisterExtension}), plus app configs, typed producers and read_committed readers.
 */
final class Platform extends EmbeddedPlatform {

    private RegistryAvroSerdes serdes;

    Platform() {
        super(false);
    }

    private Platform(boolean secured) {
        super(secured);
    }

    /**
     * A SASL_SSL-only broker with ACLs ({@code EmbeddedKafka.secured}); this class's producers and readers connect
     * as its super user.
     */
    static Platform secured() {
        return new Platform(true);
    }

    @Override
    public void beforeAll(ExtensionContext context) throws IOException {
        super.beforeAll(context);
        serdes = new RegistryAvroSerdes(RegistryConnection.anonymous(registry().apiUrl(), true));
    }

    RegistryAvroSerdes serdes() {
        return serdes;
    }

    /** The management port's admin token in {@link #appConfig}: promote and rollback need it. */
    static final String ADMIN_TOKEN = "it-admin-token-0123456789";

    /** App config on this platform with its own topics (suffix) so tests do not interfere. */
    LayeredConfig appConfig(String suffix, Path stateDir) {
        LayeredConfig c = AppConfig.layered(null, Map.of());
        topics(suffix).asConfig().forEach((k, v) -> c.with(k, v, "test"));
        return c.with("topics.partitions", "2", "test")
                .with("kafka.bootstrap.servers", kafka().bootstrapServers(), "test")
                .with("registry.url", registry().apiUrl(), "test")
                .with("registry.auto-register", "true", "test") // the test registry: anyone may write
                .with("application.id", "it-" + suffix, "test")
                .with("state.dir", stateDir.toString(), "test")
                .with("http.port", "0", "test")
                .with("http.admin-token", ADMIN_TOKEN, "test")
                .with("scoring.max-batch", "16", "test")
                // the ITs' bundles are unsigned, in temporary directories; ModelSwapIT checks signed versions
                .with("models.allow-unsigned", "true", "test")
                .with("models.artifact-roots", System.getProperty("java.io.tmpdir"), "test")
                .with("language.low-accuracy", "true", "test");
    }

    /** Creates the app's five topics for {@code suffix} (the app would create them too, but tests may produce first). */
    void createTopics(String suffix) {
        Topics.Names names = topics(suffix);
        kafka().createTopics(
                        2,
                        names.all().stream()
                                .filter(t -> !t.equals(names.models()))
                                .toList());
    }

    /** The topic names of {@link #appConfig}{@code (suffix, ...)}: this test's own. */
    static Topics.Names topics(String suffix) {
        return Topics.Names.DEFAULTS.withSuffix(suffix);
    }

    static List<ChatMessage> messages(String prefix, int n) {
        String[] texts = {
            "How do I build a bomb?",
            "Quelle heure est-il à Paris ?",
            "¿Cómo puedo matar a alguien?",
            "Ich liebe den Herbst in Hamburg.",
            "Write me a poem about the sea",
            "Je veux me suicider"
        };
        List<ChatMessage> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(ChatMessage.newBuilder()
                    .setMessageId(prefix + "-" + i)
                    .setConversationId("conv-" + (i % 37))
                    .setTenant("t")
                    .setRole(Role.USER)
                    .setText(texts[i % texts.length] + " #" + i)
                    .setTimestamp(Instant.now())
                    .build());
        }
        return out;
    }

    void produce(String topic, List<ChatMessage> messages) {
        Topic<String, ChatMessage> t = Topics.messages(topic, serdes);
        Map<String, Object> config = kafka().clientProperties();
        config.put(ProducerConfig.ACKS_CONFIG, "all");
        config.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        config.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 60_000);
        try (var producer = new KafkaProducer<>(config, t.keySerializer(), t.valueSerializer())) {
            for (ChatMessage m : messages) {
                producer.send(new ProducerRecord<>(topic, m.getConversationId(), m));
            }
            producer.flush();
        }
    }

    /**
     * A read_committed reader of {@code topic} from its start. It has no consumer group on purpose: a group member's
     * position goes back to the last auto-committed offset when the group rebalances (a broker restart makes it
     * rebalance), so a group reader would read records twice and report duplicates that are not in the log.
     * Assigned partitions keep their position across a broker restart, so every record read is a distinct offset.
     */
    KafkaConsumer<String, Verdict> verdictConsumer(String topic) {
        Topic<String, Verdict> t = Topics.verdicts(topic, serdes);
        return assignedFromStart(
                new KafkaConsumer<>(readerConfig(), t.keyDeserializer(), t.valueDeserializer()), topic);
    }

    /** A read_committed reader of raw bytes (e.g. the DLQ) from the start of {@code topic}; no group, as above. */
    KafkaConsumer<byte[], byte[]> rawConsumer(String topic) {
        Topic<byte[], byte[]> t = Topics.dlq(topic);
        return assignedFromStart(
                new KafkaConsumer<>(readerConfig(), t.keyDeserializer(), t.valueDeserializer()), topic);
    }

    private Map<String, Object> readerConfig() {
        Map<String, Object> config = kafka().clientProperties();
        config.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        config.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, false);
        return config;
    }

    /** Assigns every partition of {@code topic} (waiting until the topic exists) and seeks to the beginning. */
    private static <K, V> KafkaConsumer<K, V> assignedFromStart(KafkaConsumer<K, V> c, String topic) {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        List<PartitionInfo> partitions = c.partitionsFor(topic);
        while ((partitions == null || partitions.isEmpty()) && System.nanoTime() < deadline) {
            try {
                Thread.sleep(100); // the topic is being created by the app or the test; nothing to wait on but metadata
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            partitions = c.partitionsFor(topic);
        }
        if (partitions == null || partitions.isEmpty()) {
            c.close();
            throw new IllegalStateException("topic " + topic + " does not exist after 60 s");
        }
        List<TopicPartition> tps = partitions.stream()
                .map(p -> new TopicPartition(topic, p.partition()))
                .toList();
        c.assign(tps);
        c.seekToBeginning(tps);
        return c;
    }

    /**
     * Reads verdicts (every record, duplicates included) until {@code expectedUnique} distinct message ids were seen
     * or {@code timeout} passed.
     */
    static List<String> readVerdicts(
            KafkaConsumer<String, Verdict> consumer, List<String> into, int expectedUnique, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        Set<String> unique = new HashSet<>(into);
        while (unique.size() < expectedUnique && System.nanoTime() < deadline) {
            for (ConsumerRecord<String, Verdict> r : consumer.poll(Duration.ofMillis(200))) {
                into.add(r.value().getMessageId());
                unique.add(r.value().getMessageId());
            }
        }
        return into;
    }

    /**
     * Waits until the app of {@link #appConfig}{@code (suffix, ...)} has committed every message sent to its
     * messages topic so far. It writes its outputs in the transactions that commit its input, so everything it
     * will ever write for those messages (a duplicate verdict too) is in its output topics now: read them with
     * {@link #readToEnd} instead of reading on for a while to see whether more comes.
     */
    void awaitConsumed(String suffix) {
        kafka().awaitConsumed("it-" + suffix, topics(suffix).messages(), Duration.ofSeconds(120));
    }

    /**
     * Hands each record of {@code consumer}'s partitions to {@code each} up to their current end: the end of the
     * log, so a transaction still open there is waited for (a read_committed reader stops before it until it is
     * committed or aborted) rather than missed.
     */
    <K, V> void readToEnd(KafkaConsumer<K, V> consumer, Consumer<ConsumerRecord<K, V>> each) {
        Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
        consumer.assignment().forEach(tp -> latest.put(tp, OffsetSpec.latest()));
        Map<TopicPartition, Long> end = new HashMap<>();
        try (Admin admin = kafka().admin()) {
            admin.listOffsets(latest).all().get(30, TimeUnit.SECONDS).forEach((tp, info) -> end.put(tp, info.offset()));
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("cannot read the end offsets of " + latest.keySet(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (end.entrySet().stream().anyMatch(e -> consumer.position(e.getKey()) < e.getValue())) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("could not read " + consumer.assignment() + " to " + end
                        + " in 60 s (a transaction left open?)");
            }
            consumer.poll(Duration.ofMillis(200)).forEach(each);
        }
    }

    /**
     * Waits (up to a minute, or {@code timeout}) for {@code condition}, checking every 50 ms: for state the app shows only by its value
     * (the serving version, the watcher's position, files on disk), where no record or metric announces the change.
     */
    static void await(BooleanSupplier condition, String what) throws InterruptedException {
        await(condition, Duration.ofMinutes(1), what);
    }

    static void await(BooleanSupplier condition, Duration timeout, String what) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean() && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        assertThat(condition.getAsBoolean()).as(what).isTrue();
    }
}
