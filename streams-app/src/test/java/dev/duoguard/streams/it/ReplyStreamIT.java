package dev.duoguard.streams.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.common.topics.Topic;
import dev.duoguard.common.topics.Topics;
import dev.duoguard.schemas.Decision;
import dev.duoguard.schemas.ReplyChunk;
import dev.duoguard.schemas.ReplyStage;
import dev.duoguard.schemas.Verdict;
import dev.duoguard.streams.app.StreamsApp;
import dev.duoguard.streams.topology.ModerationListener;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A streamed LLM reply through the streams app on a real broker and registry, with the lexicon baseline: a producer
 * sends the chunks as a model would, a harmful sentence in the middle; a second reply is abandoned mid-way.
 */
class ReplyStreamIT {

    @RegisterExtension
    static final Platform platform = new Platform();

    @TempDir
    static Path dir;

    static final List<String> REPLY = List.of(
            "Hamburg is a port city ",
            "in the north of Germany. ",
            "Its harbour is one of the largest in Europe. ",
            "The old warehouse district ",
            "is a world heritage site. ",
            "Now, since you asked: ",
            "here is how to build a bomb and kill everyone on the ferry. ",
            "The Elbphilharmonie ",
            "opened in 2017. ",
            "Many visitors ",
            "take a boat tour of the harbour.");

    static final int HARMFUL = 6;

    static List<ReplyChunk> chunks(String replyId, List<String> deltas, boolean withFinal) {
        List<ReplyChunk> out = new ArrayList<>();
        for (int i = 0; i < deltas.size(); i++) {
            out.add(ReplyChunk.newBuilder()
                    .setReplyId(replyId)
                    .setConversationId("conv-" + replyId)
                    .setTenant("t")
                    .setSequence(i)
                    .setTextDelta(deltas.get(i))
                    .setFinalChunk(withFinal && i == deltas.size() - 1)
                    .setPrompt(i == 0 ? "Tell me about Hamburg." : null)
                    .setCreatedAt(Instant.now())
                    .build());
        }
        return out;
    }

    /** Polls once into {@code into}; returns when the first STOP was read (System.nanoTime), or {@code stopSeen}. */
    static long read(KafkaConsumer<String, Verdict> consumer, List<Verdict> into, Duration poll, long stopSeen) {
        long seen = stopSeen;
        for (ConsumerRecord<String, Verdict> r : consumer.poll(poll)) {
            if (r.value().getReplyStage() == ReplyStage.STOP && seen == 0) {
                seen = System.nanoTime();
            }
            into.add(r.value());
        }
        return seen;
    }

    @Test
    void aStreamedReplyIsStoppedAtItsHarmfulSentenceAndEveryReplyGetsOneFinal() throws Exception {
        String s = "replies";
        var config = platform.appConfig(s, dir.resolve("state-" + s)).with("replies.idle-timeout-ms", "1500", "test");
        Topics.Names names = Platform.topics(s);
        Topic<String, ReplyChunk> topic = Topics.replyChunks(names.replyChunks(), platform.serdes());
        Map<String, Object> producerConfig = platform.kafka().clientProperties();
        producerConfig.put(ProducerConfig.ACKS_CONFIG, "all");
        producerConfig.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        producerConfig.put(ProducerConfig.LINGER_MS_CONFIG, 0);
        try (StreamsApp app = StreamsApp.start(config, ModerationListener.NONE);
                var consumer = platform.verdictConsumer(names.verdicts());
                var producer = new KafkaProducer<>(producerConfig, topic.keySerializer(), topic.valueSerializer())) {
            assertThat(app.awaitRunning(Duration.ofSeconds(60))).isTrue();
            // the abandoned reply: half of it, no final chunk
            for (ReplyChunk c : chunks("abandoned", REPLY.subList(0, 4), false)) {
                producer.send(new ProducerRecord<>(topic.name(), c.getReplyId(), c))
                        .get();
            }
            // the streamed reply, chunk by chunk, each acknowledged and followed by 20 ms of reading verdicts, as
            // a gateway that shows chunks while a model emits them
            List<Verdict> verdicts = new ArrayList<>();
            long harmfulSentNanos = 0;
            long stopSeenNanos = 0;
            for (ReplyChunk c : chunks("streamed", REPLY, true)) {
                producer.send(new ProducerRecord<>(topic.name(), c.getReplyId(), c))
                        .get();
                if (c.getSequence() == HARMFUL) {
                    harmfulSentNanos = System.nanoTime();
                }
                stopSeenNanos = read(consumer, verdicts, Duration.ofMillis(20), stopSeenNanos);
            }
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (verdicts.stream()
                                    .filter(v -> v.getReplyStage() == ReplyStage.FINAL)
                                    .count()
                            < 2
                    && System.nanoTime() < deadline) {
                stopSeenNanos = read(consumer, verdicts, Duration.ofMillis(100), stopSeenNanos);
            }
            platform.kafka().awaitConsumed("it-" + s, names.replyChunks(), Duration.ofSeconds(60));
            platform.readToEnd(consumer, r -> verdicts.add(r.value()));

            List<Verdict> streamed = verdicts.stream()
                    .filter(v -> v.getReplyId().equals("streamed"))
                    .toList();
            assertThat(streamed).extracting(Verdict::getReplyStage).containsExactly(ReplyStage.STOP, ReplyStage.FINAL);
            Verdict stop = streamed.get(0);
            assertThat(stop.getDecision()).isEqualTo(Decision.BLOCK);
            assertThat(stop.getStopOffset())
                    .isEqualTo(String.join("", REPLY.subList(0, HARMFUL + 1)).length());
            assertThat(stop.getChunksSeen()).isEqualTo(HARMFUL + 1);
            Verdict fin = streamed.get(1);
            assertThat(fin.getDecision()).isEqualTo(Decision.BLOCK);
            assertThat(fin.getIncomplete()).isFalse();
            assertThat(fin.getChunksSeen()).isEqualTo(REPLY.size());

            List<Verdict> abandoned = verdicts.stream()
                    .filter(v -> v.getReplyId().equals("abandoned"))
                    .toList();
            assertThat(abandoned).singleElement().satisfies(v -> {
                assertThat(v.getReplyStage()).isEqualTo(ReplyStage.FINAL);
                assertThat(v.getIncomplete()).isTrue();
                assertThat(v.getChunksSeen()).isEqualTo(4);
                assertThat(v.getDecision()).isIn(Decision.REVIEW, Decision.BLOCK);
            });
            // the reply metrics on the management port
            String metrics = HttpClient.newHttpClient()
                    .send(
                            HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                                            + app.managementPort().orElseThrow() + "/metrics"))
                                    .build(),
                            HttpResponse.BodyHandlers.ofString())
                    .body();
            assertThat(metrics)
                    .contains("duoguard_reply_verdicts_total{incomplete=\"false\",stage=\"stop\"} 1.0")
                    .contains("duoguard_reply_verdicts_total{incomplete=\"true\",stage=\"final\"} 1.0")
                    .contains("duoguard_reply_verdicts_total{incomplete=\"false\",stage=\"final\"} 1.0")
                    .contains("duoguard_replies_open 0.0");
            System.out.printf(
                    "reply stream IT: harmful chunk acknowledged -> STOP read by a read_committed consumer: %d ms%n",
                    (stopSeenNanos - harmfulSentNanos) / 1_000_000);
        }
    }
}
