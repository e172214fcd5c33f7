package dev.duoguard.streams.topology;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.duoguard.common.redact.Redactor;
import dev.duoguard.common.topics.Topics;
import dev.duoguard.runtime.language.LanguageDetection;
import dev.duoguard.runtime.language.LanguageIdentifier.Detection;
import dev.duoguard.runtime.policy.DecisionPolicy;
import dev.duoguard.runtime.policy.Thresholds;
import dev.duoguard.runtime.scoring.Scorer;
import dev.duoguard.runtime.scoring.TextScores;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import dev.duoguard.schemas.Category;
import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.schemas.Feedback;
import dev.duoguard.schemas.FeedbackSource;
import dev.duoguard.schemas.Role;
import dev.duoguard.schemas.SafetyLabel;
import dev.duoguard.streams.config.AppConfig;
import dev.duoguard.streams.sample.SampleTraffic;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.TreeMap;
import java.util.UUID;
import java.util.stream.Stream;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.processor.StateStore;
import org.apache.kafka.streams.test.TestRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;

/**
 * Measurement, not a check: bytes of state the topology writes per 100,000 chat messages with 1 % feedback. The
 * real topology runs in a TopologyTestDriver whose join stores are the default persistent (RocksDB) ones; the
 * table lists, per changelog and repartition topic, the key + value bytes the driver captured, and per store its
 * directory under the state directory once closed (which flushes RocksDB's memtables).
 * <p>
 * The scorer is a fixed function of the text, not a model: what a stored record holds of a verdict has a fixed
 * size (Avro writes every float in 4 bytes, a boolean in 1, the model's name as it is), so the bytes depend on
 * the texts and the ids, not on the scores. The language is fixed for the same reason (always a 2-letter code).
 * <p>
 * Traffic: half user prompts (the demo's sample texts, 34-178 characters), half assistant replies carrying
 * their prompt, a third each of about 80-300, 300-1,200 and 1,200-4,000 characters (sample texts strung together);
 * UUID message and conversation ids; every 100th message gets a reviewer's label a minute later; 100,000
 * messages over one hour of event time, so nothing expires during the run. Run with
 * {@code ./mvnw -o -B -pl streams-app -am test -Dtest=StateSizeBench -Dsurefire.failIfNoSpecifiedTests=false -Dduoguard.bench=true}
 * ({@code -Dduoguard.bench.messages=N} for another count); writes {@code target/bench/state-size.json}.
 */
@EnabledIfSystemProperty(named = "duoguard.bench", matches = "true")
class StateSizeBench {

    static final Topics.Names TOPICS = Topics.Names.DEFAULTS;
    static final String APP_ID = "state-size-bench";
    static final Instant T0 = Instant.parse("2026-11-28T10:00:00Z");
    static final int FEEDBACK_EVERY = 100;

    @TempDir
    Path stateDir;

    /** Scores from a hash of the text: a tenth of the texts fire one category, the rest are clean. */
    static final class FixedScorer implements Scorer {
        final ModelIdentity identity = new ModelIdentity("duoguard-default", "7", filled(0.5f), "cpu", Map.of());

        @Override
        public List<TextScores> score(List<String> texts) {
            List<TextScores> out = new ArrayList<>(texts.size());
            for (String t : texts) {
                float[] p = filled(0.02f);
                int h = Math.floorMod(t.hashCode(), 120);
                if (h < SafetyCategory.COUNT) {
                    p[h] = 0.9f;
                }
                out.add(new TextScores(p, 1));
            }
            return out;
        }

        @Override
        public ModelIdentity model() {
            return identity;
        }

        static float[] filled(float v) {
            float[] a = new float[SafetyCategory.COUNT];
            Arrays.fill(a, v);
            return a;
        }
    }

    /** Key + value bytes captured on one topic. */
    static final class Tally {
        long records;
        long bytes;
    }

    @Test
    void bytesOfStatePer100kMessages() throws IOException {
        int messages = Integer.getInteger("duoguard.bench.messages", 100_000);
        InMemoryWireFormatSerdes serdes = new InMemoryWireFormatSerdes();
        Moderator moderator = new Moderator(
                new FixedScorer(),
                LanguageDetection.each(text -> new Detection("en", 0.9f)),
                new DecisionPolicy(Thresholds.followingModel(0.3f), Map.of(), 0.1f));
        var settings = new GuardrailTopology.Settings(
                TOPICS,
                32,
                Duration.ofMillis(10),
                Duration.ofSeconds(10),
                Duration.ofSeconds(15),
                2,
                Duration.ofSeconds(15),
                32_768,
                Duration.ofHours(48),
                null,
                new Redactor(),
                AppConfig.Replies.DEFAULT);
        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, APP_ID);
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());

        Traffic traffic = new Traffic(new Random(42));
        Serializer<ChatMessage> messageSerializer = serdes.serializer();
        Serializer<Feedback> feedbackSerializer = serdes.serializer();
        Map<String, Tally> topics = new TreeMap<>();
        Map<String, TestOutputTopic<byte[], byte[]>> outputs = new LinkedHashMap<>();
        long textBytes = 0;
        long feedbackCount = 0;
        long started = System.nanoTime();
        Map<String, Long> storeBytes;
        try (TopologyTestDriver driver = new TopologyTestDriver(
                GuardrailTopology.build(settings, moderator, serdes, ModerationListener.NONE), props, T0)) {
            TestInputTopic<byte[], byte[]> in =
                    driver.createInputTopic(TOPICS.messages(), new ByteArraySerializer(), new ByteArraySerializer());
            TestInputTopic<byte[], byte[]> fb =
                    driver.createInputTopic(TOPICS.feedback(), new ByteArraySerializer(), new ByteArraySerializer());
            for (int i = 0; i < messages; i++) {
                // 100,000 messages in one hour of event time
                Instant at = T0.plusMillis(i * 36L);
                ChatMessage m = traffic.next(at);
                textBytes += utf8(m.getText()).length + (m.getPrompt() == null ? 0 : utf8(m.getPrompt()).length);
                in.pipeInput(utf8(m.getConversationId()), messageSerializer.serialize(TOPICS.messages(), m), at);
                if (i % FEEDBACK_EVERY == FEEDBACK_EVERY / 2) {
                    Feedback f = traffic.review(m.getMessageId(), m.getTenant(), at.plusSeconds(60));
                    fb.pipeInput(
                            utf8(f.getMessageId()),
                            feedbackSerializer.serialize(TOPICS.feedback(), f),
                            at.plusSeconds(60));
                    feedbackCount++;
                }
                if (i % 1000 == 999) {
                    drain(driver, outputs, topics); // the driver keeps every output record in memory until read
                }
            }
            driver.advanceWallClockTime(Duration.ofSeconds(1)); // the last partial batch
            drain(driver, outputs, topics);
            // a commit does not flush RocksDB's memtables (Kafka Streams 4 keeps the offsets in the store); closing
            // does: so the directories hold everything the stores keep
            driver.getAllStateStores().values().forEach(StateStore::close);
            storeBytes = storeDirectories(driver.getAllStateStores().keySet());
        }
        double seconds = (System.nanoTime() - started) / 1e9;
        assertThat(topics.get(TOPICS.verdicts()).records)
                .as("one verdict per message")
                .isEqualTo(messages);
        assertThat(topics).as("every message scored, none dead-lettered").doesNotContainKey(TOPICS.dlq());

        report(messages, feedbackCount, textBytes, topics, storeBytes, seconds);
    }

    private static void drain(
            TopologyTestDriver driver,
            Map<String, TestOutputTopic<byte[], byte[]>> outputs,
            Map<String, Tally> tallies) {
        for (String topic : driver.producedTopicNames()) {
            TestOutputTopic<byte[], byte[]> out = outputs.computeIfAbsent(
                    topic, t -> driver.createOutputTopic(t, new ByteArrayDeserializer(), new ByteArrayDeserializer()));
            Tally tally = tallies.computeIfAbsent(topic, t -> new Tally());
            for (TestRecord<byte[], byte[]> r : out.readRecordsToList()) {
                tally.records++;
                tally.bytes += (r.key() == null ? 0 : r.key().length) + (r.value() == null ? 0 : r.value().length);
            }
        }
    }

    /** Bytes of every file under each persistent store's directory (an in-memory store has none). */
    private Map<String, Long> storeDirectories(Iterable<String> stores) throws IOException {
        Map<String, Long> out = new TreeMap<>();
        for (String store : stores) {
            List<Path> dirs;
            try (Stream<Path> s = Files.walk(stateDir)) {
                dirs = s.filter(p -> Files.isDirectory(p)
                                && p.getFileName().toString().equals(store))
                        .toList();
            }
            long bytes = 0;
            for (Path dir : dirs) {
                try (Stream<Path> s = Files.walk(dir)) {
                    bytes += s.filter(Files::isRegularFile)
                            .mapToLong(StateSizeBench::size)
                            .sum();
                }
            }
            out.put(store, dirs.isEmpty() ? -1 : bytes);
        }
        return out;
    }

    private static long size(Path p) {
        try {
            return Files.size(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void report(
            int messages,
            long feedback,
            long textBytes,
            Map<String, Tally> topics,
            Map<String, Long> stores,
            double seconds)
            throws IOException {
        double per100k = 100_000.0 / messages;
        System.out.printf(
                "%nState written for %,d messages (%,d with feedback), mean text + prompt %.0f UTF-8 bytes"
                        + " per message, %.0f s%n",
                messages, feedback, textBytes / (double) messages, seconds);
        System.out.printf(
                "%-70s %10s %14s %12s%n", "changelog / repartition topic", "records", "MB per 100k", "B per msg");
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("messages", messages);
        json.put("feedback", feedback);
        json.put("mean_text_prompt_bytes", textBytes / (double) messages);
        Map<String, Object> topicJson = new LinkedHashMap<>();
        for (Map.Entry<String, Tally> e : topics.entrySet()) {
            if (!e.getKey().endsWith("-changelog") && !e.getKey().endsWith("-repartition")) {
                continue; // the app's own outputs are not state
            }
            Tally t = e.getValue();
            System.out.printf(
                    "%-70s %,10d %14.1f %12.0f%n",
                    e.getKey(), t.records, t.bytes * per100k / 1e6, t.bytes / (double) messages);
            topicJson.put(
                    e.getKey(),
                    Map.of(
                            "records",
                            t.records,
                            "bytes",
                            t.bytes,
                            "bytes_per_100k_messages",
                            Math.round(t.bytes * per100k)));
        }
        System.out.printf(
                "%-70s %10s %14s %12s%n",
                "store directory (RocksDB, closed: memtables flushed)", "", "MB per 100k", "B per msg");
        Map<String, Object> storeJson = new LinkedHashMap<>();
        for (Map.Entry<String, Long> e : stores.entrySet()) {
            if (e.getValue() < 0) {
                System.out.printf("%-70s %10s %14s %12s%n", e.getKey(), "", "in memory", "");
                continue;
            }
            System.out.printf(
                    "%-70s %10s %14.1f %12.0f%n",
                    e.getKey(), "", e.getValue() * per100k / 1e6, e.getValue() / (double) messages);
            storeJson.put(
                    e.getKey(),
                    Map.of("bytes", e.getValue(), "bytes_per_100k_messages", Math.round(e.getValue() * per100k)));
        }
        json.put("topics", topicJson);
        json.put("store_directories", storeJson);
        json.put("seconds", seconds);
        Path out = Path.of("target", "bench", "state-size.json");
        Files.createDirectories(out.getParent());
        new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(out.toFile(), json);
        System.out.println("wrote " + out.toAbsolutePath());
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** Synthetic chat turns built from the demo's sample texts (see the class comment). */
    static final class Traffic {
        final Random random;
        final List<String> texts = new ArrayList<>();
        final String[] tenants = {"acme", "globex", "initech", "umbrella-corp"};
        String conversation;
        String tenant;
        String lastPrompt;
        int turn;

        Traffic(Random random) {
            this.random = random;
            for (SampleTraffic.Item item : SampleTraffic.load()) {
                if (item instanceof SampleTraffic.Message m) {
                    texts.add(m.message().getText());
                }
            }
        }

        ChatMessage next(Instant at) {
            if (turn % 4 == 0) { // a conversation of two prompts and two replies
                conversation = uuid();
                tenant = tenants[random.nextInt(tenants.length)];
            }
            boolean reply = turn++ % 2 == 1;
            ChatMessage.Builder b = ChatMessage.newBuilder()
                    .setMessageId(uuid())
                    .setConversationId(conversation)
                    .setTenant(tenant)
                    .setTimestamp(at);
            if (!reply) {
                lastPrompt = texts.get(random.nextInt(texts.size()));
                return b.setRole(Role.USER).setText(lastPrompt).build();
            }
            int[][] bands = {{80, 300}, {300, 1_200}, {1_200, 4_000}};
            int[] band = bands[random.nextInt(bands.length)];
            int target = band[0] + random.nextInt(band[1] - band[0]);
            StringBuilder text = new StringBuilder();
            while (text.length() < target) {
                text.append(text.isEmpty() ? "" : " ").append(texts.get(random.nextInt(texts.size())));
            }
            return b.setRole(Role.ASSISTANT)
                    .setPrompt(lastPrompt)
                    .setText(text.toString())
                    .build();
        }

        Feedback review(String messageId, String tenant, Instant at) {
            boolean unsafe = random.nextBoolean();
            return Feedback.newBuilder()
                    .setMessageId(messageId)
                    .setTenant(tenant)
                    .setLabel(unsafe ? SafetyLabel.UNSAFE : SafetyLabel.SAFE)
                    .setCategories(
                            unsafe ? List.of(Category.values()[random.nextInt(Category.values().length)]) : List.of())
                    .setSource(FeedbackSource.REVIEW)
                    .setTimestamp(at)
                    .build();
        }

        String uuid() {
            return new UUID(random.nextLong(), random.nextLong()).toString();
        }
    }
}
