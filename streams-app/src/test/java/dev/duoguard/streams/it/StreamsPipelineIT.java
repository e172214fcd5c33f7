package dev.duoguard.streams.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.streams.app.StreamsApp;
import dev.duoguard.streams.topology.DeadLetter;
import dev.duoguard.streams.topology.ModerationListener;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** The streams app on a real broker and a real schema registry. */
class StreamsPipelineIT {

    @RegisterExtension
    static final Platform platform = new Platform();

    @TempDir
    static Path dir;

    @Test
    void nMessagesInGiveExactlyNVerdictsOutOnTheRegistryWireFormat() throws Exception {
        String s = "pipeline";
        List<ChatMessage> messages = Platform.messages(s, 600);
        try (StreamsApp app =
                        StreamsApp.start(platform.appConfig(s, dir.resolve("state-" + s)), ModerationListener.NONE);
                var consumer = platform.verdictConsumer(Platform.topics(s).verdicts())) {
            assertThat(app.awaitRunning(Duration.ofSeconds(60))).isTrue();
            platform.produce(Platform.topics(s).messages(), messages);
            List<String> ids =
                    Platform.readVerdicts(consumer, new ArrayList<>(), messages.size(), Duration.ofSeconds(90));
            platform.awaitConsumed(s);
            platform.readToEnd(consumer, r -> ids.add(r.value().getMessageId())); // a late duplicate, if any
            assertThat(new HashSet<>(ids)).hasSize(messages.size());
            assertThat(ids).as("no duplicates").hasSize(messages.size());

            // readiness and metrics on the management port
            HttpClient http = HttpClient.newHttpClient();
            String base = "http://127.0.0.1:" + app.managementPort().orElseThrow();
            assertThat(http.send(
                                    HttpRequest.newBuilder(URI.create(base + "/health/ready"))
                                            .build(),
                                    HttpResponse.BodyHandlers.ofString())
                            .statusCode())
                    .isEqualTo(200);
            String metrics = http.send(
                            HttpRequest.newBuilder(URI.create(base + "/metrics"))
                                    .build(),
                            HttpResponse.BodyHandlers.ofString())
                    .body();
            assertThat(metrics)
                    .contains("duoguard_verdicts_total{decision=\"BLOCK\"")
                    .contains("duoguard_batch_size_bucket")
                    .contains("duoguard_model{")
                    .contains("kafka_stream_thread_metrics_commit_rate");
            // every message went through exactly one model call of the live batcher
            Matcher texts =
                    Pattern.compile("(?m)^duoguard_model_call_size_sum (\\S+)$").matcher(metrics);
            assertThat(texts.find())
                    .as("duoguard_model_call_size_sum in /metrics")
                    .isTrue();
            assertThat(Double.parseDouble(texts.group(1))).isEqualTo(messages.size());
        }

        // the verdict's schema id resolves through the registry's Confluent-compatible API
        try (KafkaConsumer<byte[], byte[]> raw =
                platform.rawConsumer(Platform.topics(s).verdicts())) {
            ConsumerRecord<byte[], byte[]> r =
                    raw.poll(Duration.ofSeconds(10)).iterator().next();
            ByteBuffer b = ByteBuffer.wrap(r.value());
            assertThat(b.get()).as("magic byte").isEqualTo((byte) 0);
            int id = b.getInt();
            HttpResponse<String> schema = HttpClient.newHttpClient()
                    .send(
                            HttpRequest.newBuilder(
                                            URI.create(platform.registry().confluentUrl() + "/schemas/ids/" + id))
                                    .build(),
                            HttpResponse.BodyHandlers.ofString());
            assertThat(schema.statusCode()).isEqualTo(200);
            assertThat(schema.body()).contains("Verdict");
        }
    }

    @Test
    void anUnknownSchemaIdGoesToTheDeadLetterTopicAndTheAppKeepsRunning() throws Exception {
        String s = "unknown-id";
        try (StreamsApp app =
                        StreamsApp.start(platform.appConfig(s, dir.resolve("state-" + s)), ModerationListener.NONE);
                var consumer = platform.verdictConsumer(Platform.topics(s).verdicts())) {
            assertThat(app.awaitRunning(Duration.ofSeconds(60))).isTrue();
            byte[] poison = new byte[] {0, 0x00, 0x0F, 0x42, 0x40, 2, 4, 6, 8};
            try (var producer = new KafkaProducer<>(
                    Map.<String, Object>of(
                            ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                            platform.kafka().bootstrapServers()),
                    new ByteArraySerializer(),
                    new ByteArraySerializer())) {
                producer.send(new ProducerRecord<>(
                                Platform.topics(s).messages(), "k".getBytes(StandardCharsets.UTF_8), poison))
                        .get();
            }
            platform.produce(Platform.topics(s).messages(), Platform.messages(s, 3));
            assertThat(Platform.readVerdicts(consumer, new ArrayList<>(), 3, Duration.ofSeconds(60)))
                    .hasSize(3);
            try (KafkaConsumer<byte[], byte[]> dlq =
                    platform.rawConsumer(Platform.topics(s).dlq())) {
                ConsumerRecord<byte[], byte[]> dead =
                        dlq.poll(Duration.ofSeconds(15)).iterator().next();
                String detail =
                        new String(dead.headers().lastHeader(DeadLetter.DETAIL).value(), StandardCharsets.UTF_8);
                assertThat(new String(
                                dead.headers().lastHeader(DeadLetter.REASON).value(), StandardCharsets.UTF_8))
                        .as(detail)
                        .isEqualTo("UNKNOWN_SCHEMA_ID");
                assertThat(new String(
                                dead.headers().lastHeader(DeadLetter.DETAIL).value(), StandardCharsets.UTF_8))
                        .contains("1000000");
                assertThat(dead.value()).isEqualTo(poison);
            }
        }
    }
}
