package dev.duoguard.dev.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

/** A sample counts for the category of the frame nearest its leaf that has one. */
class StackProfileTest {

    @Test
    void jdkFramesCountForTheirCaller() {
        assertThat(StackProfile.category(List.of(
                        "java.util.HashMap.get",
                        "io.apicurio.registry.serde.avro.AvroSerializer.serializeData",
                        "org.apache.kafka.streams.processor.internals.RecordCollectorImpl.send",
                        "org.apache.kafka.streams.processor.internals.StreamThread.run")))
                .isEqualTo("Avro serde, schema lookup/fingerprint, record building");
    }

    @Test
    void theNearestCategorisedFrameWins() {
        assertThat(StackProfile.category(List.of(
                        "org.apache.kafka.clients.producer.KafkaProducer.doSend",
                        "org.apache.kafka.streams.processor.internals.RecordCollectorImpl.send",
                        "org.apache.kafka.streams.state.internals.ChangeLoggingKeyValueBytesStore.put",
                        "dev.duoguard.streams.topology.ScoringProcessor.process")))
                .isEqualTo("producer, transactions, record collector");
        assertThat(StackProfile.category(List.of(
                        "org.apache.kafka.streams.state.internals.InMemoryKeyValueStore.put",
                        "org.apache.kafka.streams.state.internals.ChangeLoggingKeyValueBytesStore.put",
                        "dev.duoguard.streams.topology.ScoringProcessor.process")))
                .isEqualTo("batch buffer store put/delete + changelog");
        assertThat(StackProfile.category(List.of(
                        "java.lang.String.charAt",
                        "com.github.pemistahl.lingua.api.LanguageDetector.computeLanguageConfidenceValues",
                        "dev.duoguard.streams.topology.Moderator.moderate")))
                .isEqualTo("language detection (Lingua)");
    }

    @Test
    void rocksDbIsTheJoinsAndUnknownStacksAreOther() {
        assertThat(StackProfile.category(List.of(
                        "org.rocksdb.RocksDB.put",
                        "org.apache.kafka.streams.state.internals.RocksDBStore.put",
                        "org.apache.kafka.streams.state.internals.MeteredKeyValueStore.put")))
                .isEqualTo("feedback join and its window stores");
        assertThat(StackProfile.category(List.of(
                        "org.apache.kafka.streams.processor.internals.StreamTask.process",
                        "org.apache.kafka.streams.processor.internals.StreamThread.run")))
                .startsWith("Kafka Streams runtime");
        assertThat(StackProfile.category(List.of("java.lang.Thread.run"))).isEqualTo(StackProfile.OTHER);
        assertThat(StackProfile.category(List.of())).isEqualTo(StackProfile.OTHER);
    }

    @Test
    void sharesAreLargestFirstAndThreadsGroupWithoutTheirNumbers() {
        List<StackProfile.Sample> samples = List.of(
                new StackProfile.Sample("a", List.of()),
                new StackProfile.Sample("b", List.of()),
                new StackProfile.Sample("b", List.of()),
                new StackProfile.Sample("b", List.of()));
        assertThat(StackProfile.shares(samples, StackProfile.Sample::thread))
                .containsExactly(new StackProfile.Share("b", 3, 0.75), new StackProfile.Share("a", 1, 0.25));
        assertThat(StackProfile.threadGroup("bench-cap3-0b1c2d3e-aaaa-bbbb-cccc-0123456789ab-StreamThread-1"))
                .isEqualTo("bench-capN-<id>-StreamThread-N");
    }

    @Test
    void streamThreadsAreNotTheirProducersNetworkThreads() {
        assertThat(StackProfile.isStreamThread("bench-cap3-0b1c2d3e-aaaa-bbbb-cccc-0123456789ab-StreamThread-1"))
                .isTrue();
        assertThat(StackProfile.isStreamThread(
                        "kafka-producer-network-thread | bench-cap3-0b1c-StreamThread-1-producer"))
                .isFalse();
    }

    @Test
    void lambdasAddUpAndTheNearestOwnFrameSkipsTheJdk() {
        assertThat(StackProfile.frame("dev.duoguard.streams.app.StreamsApp$$Lambda$2867+0x00007fa96493f998", "apply"))
                .isEqualTo("dev.duoguard.streams.app.StreamsApp$$Lambda.apply");
        assertThat(StackProfile.nearestOwnFrame(List.of(
                        "java.lang.String.hashCode",
                        "kotlin.text.Regex.matches",
                        "com.github.pemistahl.lingua.api.LanguageDetector.detect",
                        "dev.duoguard.streams.topology.Moderator.moderate")))
                .isEqualTo("com.github.pemistahl.lingua.api.LanguageDetector.detect");
        assertThat(StackProfile.nearestOwnFrame(List.of("java.lang.Thread.run")))
                .isEqualTo("?");
    }
}
