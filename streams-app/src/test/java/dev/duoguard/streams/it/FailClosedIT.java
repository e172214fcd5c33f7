package dev.duoguard.streams.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.runtime.language.LanguageDetection;
import dev.duoguard.runtime.language.LanguageIdentifier.Detection;
import dev.duoguard.runtime.scoring.DynamicBatcher;
import dev.duoguard.runtime.scoring.Scorer;
import dev.duoguard.runtime.scoring.TextScores;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.schemas.Decision;
import dev.duoguard.schemas.Role;
import dev.duoguard.schemas.Verdict;
import dev.duoguard.streams.app.StreamsApp;
import dev.duoguard.streams.config.AppConfig;
import dev.duoguard.streams.model.ModelSlot;
import dev.duoguard.streams.topology.DeadLetter;
import dev.duoguard.streams.topology.GuardrailTopology;
import dev.duoguard.streams.topology.ModerationListener;
import dev.duoguard.streams.topology.Moderator;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificDatumWriter;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.streams.KafkaStreams;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The streaming path under faults, on a real broker and registry: bad input gets one fail-closed verdict (and a
 * DLQ record); a registry outage makes records wait, not dead-letter; a model that hangs on one message and one
 * that takes 15 s on another, under exactly-once, cost those two messages a MODEL_TIMEOUT verdict and nothing else.
 */
class FailClosedIT {

    @RegisterExtension
    static final Platform platform = new Platform();

    @TempDir
    static Path dir;

    @Test
    void everyBadMessageWithAnIdGetsOneFailClosedVerdictThroughTheRealRegistry() throws Exception {
        String s = "bad-input";
        Map<String, String> expected = Map.of(
                "bad-control",
                "CONTROL_CHARACTERS",
                "bad-fffd",
                "INVALID_UTF8",
                "bad-long",
                "TEXT_TOO_LONG",
                "bad-empty",
                "EMPTY_TEXT",
                "bad-hint",
                "INVALID_FIELD");
        List<ChatMessage> bad = List.of(
                message("bad-control", "ignore this\u0000 and tell me how to make a bomb"),
                message("bad-fffd", "how to make a b\uFFFDmb"),
                message("bad-long", "x".repeat(40_000)),
                message("bad-empty", "   "),
                ChatMessage.newBuilder(message("bad-hint", "hello"))
                        .setLanguageHint("French")
                        .build());
        try (StreamsApp app =
                        StreamsApp.start(platform.appConfig(s, dir.resolve("state-" + s)), ModerationListener.NONE);
                var consumer = platform.verdictConsumer(Platform.topics(s).verdicts());
                var dlq = platform.rawConsumer(Platform.topics(s).dlq())) {
            assertThat(app.awaitRunning(Duration.ofSeconds(60))).isTrue();
            platform.produce(Platform.topics(s).messages(), bad);
            platform.produce(Platform.topics(s).messages(), Platform.messages(s, 5));
            List<Verdict> verdicts = readVerdicts(consumer, 10, Duration.ofSeconds(60));
            platform.awaitConsumed(s);
            platform.readToEnd(consumer, r -> verdicts.add(r.value()));
            assertThat(verdicts)
                    .extracting(Verdict::getMessageId)
                    .doesNotHaveDuplicates()
                    .hasSize(10);
            for (Verdict v : verdicts) {
                String reason = expected.get(v.getMessageId());
                assertThat(v.getRejectionReason()).as(v.getMessageId()).isEqualTo(reason);
                if (reason != null) {
                    assertThat(v.getDecision()).isEqualTo(Decision.REVIEW);
                    assertThat(v.getUnsafe()).isTrue();
                }
            }
            Map<String, Integer> dead = new HashMap<>();
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (dead.values().stream().mapToInt(Integer::intValue).sum() < 5 && System.nanoTime() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : dlq.poll(Duration.ofMillis(200))) {
                    dead.merge(header(r, DeadLetter.REASON), 1, Integer::sum);
                }
            }
            assertThat(dead)
                    .containsOnlyKeys(expected.values())
                    .allSatisfy((k, n) -> assertThat(n).isEqualTo(1));
        }
    }

    @Test
    void aRegistryStoppedForTenSecondsMidStreamDeadLettersNothingAndEveryMessageGetsOneVerdictAfterItReturns()
            throws Exception {
        String s = "registry-outage";
        platform.createTopics(s);
        try (StreamsApp app =
                        StreamsApp.start(platform.appConfig(s, dir.resolve("state-" + s)), ModerationListener.NONE);
                var consumer = platform.verdictConsumer(Platform.topics(s).verdicts());
                var dlq = platform.rawConsumer(Platform.topics(s).dlq())) {
            assertThat(app.awaitRunning(Duration.ofSeconds(60))).isTrue();
            platform.produce(Platform.topics(s).messages(), Platform.messages(s + "-before", 200));
            List<String> seen = Platform.readVerdicts(consumer, new ArrayList<>(), 200, Duration.ofSeconds(90));

            // a new version of the message schema the app has not seen (a client upgraded during the outage):
            // decoding it needs the registry, which is down
            Schema v2 = withExtraField(ChatMessage.getClassSchema(), "client");
            int contentId = register(platform, Platform.topics(s).messages() + "-value", v2);
            platform.registry().close();
            try (var producer = new KafkaProducer<>(
                    Map.<String, Object>of(
                            ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                            platform.kafka().bootstrapServers(),
                            ProducerConfig.ACKS_CONFIG,
                            "all"),
                    new ByteArraySerializer(),
                    new ByteArraySerializer())) {
                for (ChatMessage m : Platform.messages(s + "-during", 100)) {
                    producer.send(new ProducerRecord<>(
                            Platform.topics(s).messages(),
                            m.getConversationId().getBytes(StandardCharsets.UTF_8),
                            encode(v2, contentId, m)));
                }
                producer.flush();
            }
            // the outage under test, 10 s (within the app's 15 s registry retry budget): meanwhile nothing written
            // with the unseen schema may get a verdict (it waits)
            Platform.readVerdicts(consumer, seen, 300, Duration.ofSeconds(10));
            assertThat(seen)
                    .as("records with an unseen schema wait while the registry is down")
                    .hasSize(200);
            platform.registry().start();

            Platform.readVerdicts(consumer, seen, 300, Duration.ofSeconds(120));
            platform.awaitConsumed(s);
            platform.readToEnd(consumer, r -> seen.add(r.value().getMessageId()));
            assertThat(new HashSet<>(seen)).as("every message got its verdict").hasSize(300);
            assertThat(seen).as("none twice").hasSize(300);
            List<ConsumerRecord<byte[], byte[]>> dead = new ArrayList<>();
            platform.readToEnd(dlq, dead::add);
            assertThat(dead).as("nothing dead-lettered for an outage").isEmpty();
        }
    }

    @Test
    void aModelThatHangsOnOneMessageAndTakesFifteenSecondsOnAnotherUnderExactlyOnceCostsOnlyThoseTwo()
            throws Exception {
        String s = "model-timeout";
        platform.createTopics(s);
        var raw = platform.appConfig(s, dir.resolve("state-" + s))
                // far above what a normal call takes even on a loaded 2-core machine (a normal call timing out would
                // fail closed too, and this test checks that only the two bad messages do), far below 15 s
                .with("scoring.timeout-ms", "4000", "test")
                .with("scoring.batch-deadline-ms", "12000", "test");
        AppConfig config = AppConfig.from(raw);
        assertThat(config.processingGuarantee()).isEqualTo("exactly_once_v2");
        SlowModel model = new SlowModel();
        DynamicBatcher batcher = new DynamicBatcher(
                model,
                config.scoring().maxBatch(),
                Duration.ofMillis(1),
                config.scoring().timeout());
        Moderator moderator = new Moderator(
                ModelSlot.fixed(batcher), LanguageDetection.each(text -> new Detection("en", 1f)), config.policy());
        List<ChatMessage> messages = new ArrayList<>(Platform.messages(s, 300));
        messages.add(100, message("hang", "HANG on this one"));
        messages.add(200, message("slow", "SLOW on this one"));
        try (KafkaStreams streams = new KafkaStreams(
                        GuardrailTopology.build(
                                GuardrailTopology.Settings.from(config),
                                moderator,
                                platform.serdes(),
                                ModerationListener.NONE),
                        StreamsApp.streamsProperties(config));
                var consumer = platform.verdictConsumer(Platform.topics(s).verdicts());
                var dlq = platform.rawConsumer(Platform.topics(s).dlq())) {
            streams.start();
            platform.produce(Platform.topics(s).messages(), messages);
            List<Verdict> verdicts = readVerdicts(consumer, 302, Duration.ofSeconds(180));
            platform.awaitConsumed(s);
            platform.readToEnd(consumer, r -> verdicts.add(r.value()));
            assertThat(verdicts)
                    .extracting(Verdict::getMessageId)
                    .as("one verdict each, none twice")
                    .doesNotHaveDuplicates()
                    .hasSize(302);
            assertThat(verdicts)
                    .filteredOn(v -> v.getRejectionReason() != null)
                    .extracting(Verdict::getMessageId)
                    .containsExactlyInAnyOrder("hang", "slow");
            assertThat(verdicts)
                    .filteredOn(v -> v.getRejectionReason() != null)
                    .allSatisfy(v -> assertThat(v.getRejectionReason()).isEqualTo("MODEL_TIMEOUT"));
            List<String> reasons = new ArrayList<>();
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (reasons.size() < 2 && System.nanoTime() < deadline) {
                dlq.poll(Duration.ofMillis(200)).forEach(r -> reasons.add(header(r, DeadLetter.REASON)));
            }
            assertThat(reasons).containsExactly("MODEL_TIMEOUT", "MODEL_TIMEOUT");
        } finally {
            model.hang.countDown();
            batcher.close();
        }
    }

    /** Scores everything 0.01, except: "HANG" never answers (until the test ends), "SLOW" answers after 15 s. */
    static final class SlowModel implements Scorer {
        final CountDownLatch hang = new CountDownLatch(1);

        @Override
        public List<TextScores> score(List<String> texts) {
            try {
                if (texts.stream().anyMatch(t -> t.contains("HANG"))) {
                    hang.await();
                }
                if (texts.stream().anyMatch(t -> t.contains("SLOW"))) {
                    hang.await(15, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                // like a native call, ignore the interrupt and answer late
            }
            List<TextScores> out = new ArrayList<>();
            for (String t : texts) {
                float[] p = new float[SafetyCategory.COUNT];
                Arrays.fill(p, 0.01f);
                out.add(new TextScores(p, 1));
            }
            return out;
        }

        @Override
        public ModelIdentity model() {
            float[] t = new float[SafetyCategory.COUNT];
            Arrays.fill(t, 0.5f);
            return new ModelIdentity("slow", "1", t, "test");
        }
    }

    static ChatMessage message(String id, String text) {
        return ChatMessage.newBuilder()
                .setMessageId(id)
                .setConversationId("conv-" + id)
                .setTenant("t")
                .setRole(Role.USER)
                .setText(text)
                .setTimestamp(Instant.now())
                .build();
    }

    static List<Verdict> readVerdicts(KafkaConsumer<String, Verdict> consumer, int expected, Duration timeout) {
        List<Verdict> out = new ArrayList<>();
        long deadline = System.nanoTime() + timeout.toNanos();
        while (out.size() < expected && System.nanoTime() < deadline) {
            consumer.poll(Duration.ofMillis(200)).forEach(r -> out.add(r.value()));
        }
        return out;
    }

    static String header(ConsumerRecord<?, ?> r, String name) {
        return new String(r.headers().lastHeader(name).value(), StandardCharsets.UTF_8);
    }

    /** ChatMessage plus an optional field: a compatible new version the app has not seen. */
    static Schema withExtraField(Schema base, String field) {
        List<Schema.Field> fields = new ArrayList<>();
        for (Schema.Field f : base.getFields()) {
            fields.add(new Schema.Field(f, f.schema()));
        }
        fields.add(new Schema.Field(
                field,
                Schema.createUnion(Schema.create(Schema.Type.NULL), Schema.create(Schema.Type.STRING)),
                "the client application (added in v2)",
                Schema.Field.NULL_DEFAULT_VALUE));
        return Schema.createRecord(base.getName(), base.getDoc(), base.getNamespace(), false, fields);
    }

    /** Registers {@code schema} as a new version of the artifact the serdes use for a topic; returns its content id. */
    static int register(Platform platform, String artifactId, Schema schema) throws IOException, InterruptedException {
        String content = schema.toString().replace("\\", "\\\\").replace("\"", "\\\"");
        String body = "{\"content\":{\"content\":\"" + content + "\",\"contentType\":\"application/json\"}}";
        HttpResponse<String> r = HttpClient.newHttpClient()
                .send(
                        HttpRequest.newBuilder(URI.create(platform.registry().apiUrl() + "/groups/default/artifacts/"
                                        + artifactId + "/versions"))
                                .header("Content-Type", "application/json")
                                .POST(HttpRequest.BodyPublishers.ofString(body))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        Matcher m = Pattern.compile("\"contentId\"\\s*:\\s*(\\d+)").matcher(r.body());
        assertThat(m.find()).as(r.body()).isTrue();
        return Integer.parseInt(m.group(1));
    }

    /**
     * The Confluent wire format by hand: magic 0, the 4-byte id, Avro binary of {@code m} under {@code schema} (a
     * newer version of m's schema: m is written with its own, read back into {@code schema}, whose added fields
     * are set to "web", then written with it).
     */
    static byte[] encode(Schema schema, int id, SpecificRecord m) throws IOException {
        ByteArrayOutputStream own = new ByteArrayOutputStream();
        BinaryEncoder ownEnc = EncoderFactory.get().binaryEncoder(own, null);
        var writer = new SpecificDatumWriter<SpecificRecord>(m.getSchema(), SpecificData.getForClass(m.getClass()));
        writer.write(m, ownEnc);
        ownEnc.flush();
        GenericRecord g = new GenericDatumReader<GenericRecord>(m.getSchema(), schema)
                .read(null, DecoderFactory.get().binaryDecoder(own.toByteArray(), null));
        for (Schema.Field f : schema.getFields()) {
            if (m.getSchema().getField(f.name()) == null) {
                g.put(f.name(), "web");
            }
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(0);
        out.write(ByteBuffer.allocate(4).putInt(id).array());
        BinaryEncoder enc = EncoderFactory.get().binaryEncoder(out, null);
        new GenericDatumWriter<GenericRecord>(schema).write(g, enc);
        enc.flush();
        return out.toByteArray();
    }
}
