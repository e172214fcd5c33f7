package dev.duoguard.embedded;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.ConnectException;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.platform.engine.discovery.DiscoverySelectors;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

class EmbeddedPlatformIT {

    @TempDir
    Path tmp;

    @Test
    void brokerKeepsRecordsAcrossARestart() throws Exception {
        try (EmbeddedKafka kafka = new EmbeddedKafka(tmp.resolve("kafka")).start()) {
            kafka.createTopics(2, List.of("t"));
            produce(kafka, "before");
            kafka.stop();
            kafka.start();
            produce(kafka, "after");
            assertThat(consumeAll(kafka, 2)).containsExactlyInAnyOrder("before", "after");
        }
    }

    @Test
    void registryServesBothApis() throws Exception {
        try (EmbeddedRegistry registry = new EmbeddedRegistry(tmp).start()) {
            HttpClient http = HttpClient.newHttpClient();
            for (String url : List.of(registry.apiUrl() + "/system/info", registry.confluentUrl() + "/subjects")) {
                int status = http.send(
                                HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.discarding())
                        .statusCode();
                assertThat(status).as(url).isEqualTo(200);
            }
        }
    }

    @Test
    void theExtensionGivesATestClassABrokerAndARegistryAndLeavesNothingBehind() throws Exception {
        SummaryGeneratingListener listener = new SummaryGeneratingListener();
        LauncherFactory.create()
                .execute(
                        LauncherDiscoveryRequestBuilder.request()
                                .selectors(DiscoverySelectors.selectClass(UsesThePlatform.class))
                                .build(),
                        listener);
        TestExecutionSummary summary = listener.getSummary();
        assertThat(summary.getFailures())
                .extracting(f -> f.getTestIdentifier().getDisplayName() + ": " + f.getException())
                .as("failures of the class that uses the extension")
                .isEmpty();
        assertThat(summary.getTestsSucceededCount()).isEqualTo(2);

        assertThat(UsesThePlatform.dir).as("its directory is deleted").doesNotExist();
        for (String address : List.of(UsesThePlatform.bootstrap, UsesThePlatform.registry.replace("http://", ""))) {
            String[] hostPort = address.split(":");
            assertThatThrownBy(() -> new Socket(hostPort[0], Integer.parseInt(hostPort[1])).close())
                    .as("nothing listens on %s any more", address)
                    .isInstanceOf(ConnectException.class);
        }
    }

    @Test
    void theExtensionSaysHowToUseItWhenItIsNotRunning() {
        assertThatThrownBy(() -> new EmbeddedPlatform().kafka())
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("static field with @RegisterExtension");
    }

    /** Run by the test above, not by Failsafe (a nested class): two tests on one platform. */
    static class UsesThePlatform {
        @RegisterExtension
        static final EmbeddedPlatform platform = new EmbeddedPlatform();

        static Path dir;
        static String bootstrap;
        static String registry;

        @BeforeAll
        static void remember() {
            dir = platform.dir();
            bootstrap = platform.kafka().bootstrapServers();
            registry = platform.registry().url();
        }

        @Test
        void theBrokerTakesRecords() throws Exception {
            platform.kafka().createTopics(2, List.of("t"));
            produce(platform.kafka(), "hello");
            assertThat(consumeAll(platform.kafka(), 1)).containsExactly("hello");
        }

        @Test
        void theRegistryAnswers() throws Exception {
            int status = HttpClient.newHttpClient()
                    .send(
                            HttpRequest.newBuilder(
                                            URI.create(platform.registry().apiUrl() + "/system/info"))
                                    .build(),
                            HttpResponse.BodyHandlers.discarding())
                    .statusCode();
            assertThat(status).isEqualTo(200);
        }
    }

    private static void produce(EmbeddedKafka kafka, String value) throws Exception {
        try (var producer = new KafkaProducer<String, String>(
                Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()),
                new StringSerializer(),
                new StringSerializer())) {
            producer.send(new ProducerRecord<>("t", value, value)).get();
        }
    }

    private static List<String> consumeAll(EmbeddedKafka kafka, int n) {
        List<String> out = new ArrayList<>();
        try (var consumer = new KafkaConsumer<String, String>(
                Map.of(
                        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG,
                        kafka.bootstrapServers(),
                        ConsumerConfig.GROUP_ID_CONFIG,
                        "check",
                        ConsumerConfig.AUTO_OFFSET_RESET_CONFIG,
                        "earliest"),
                new StringDeserializer(),
                new StringDeserializer())) {
            consumer.subscribe(List.of("t"));
            long deadline = System.currentTimeMillis() + 30_000;
            while (out.size() < n && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                    out.add(r.value());
                }
            }
        }
        return out;
    }
}
