package dev.duoguard.streams.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.common.config.LayeredConfig;
import dev.duoguard.common.kafka.KafkaConnection;
import dev.duoguard.lifecycle.ModelKey;
import dev.duoguard.lifecycle.ModelsTopic;
import dev.duoguard.lifecycle.TrustedArtifacts;
import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.schemas.ModelStatus;
import dev.duoguard.schemas.ModelVersion;
import dev.duoguard.streams.app.StreamsApp;
import dev.duoguard.streams.model.AttemptMarkers;
import dev.duoguard.streams.model.ModelWatcher;
import dev.duoguard.streams.topology.ModerationListener;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.apache.avro.Schema;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 12, "fail closed, never stall", for the model watcher and start-up, on a real broker and registry: bad
 * records on the models topic and failures in the watcher's loop do not stop it; a stuck watcher and a dead one
 * show on {@code /health/live}; start-up serves the newest ACTIVE version that loads, and never again one that
 * crashed the process.
 */
class ModelWatcherIT {

    @RegisterExtension
    static final Platform platform = new Platform();

    @TempDir
    static Path dir;

    static String name;

    @BeforeAll
    static void baseline() {
        name = ModelBundle.open(Bundles.baseline(dir)).manifest().name();
    }

    @Test
    void undecodableRecordsAreSkippedAndCountedAndTheNextActiveVersionIsSwappedIn() throws Exception {
        String topic = modelsTopic("undecodable");
        Path v2 = Bundles.version(dir, "2");
        sendBytes(topic, "not Avro, not the wire format".getBytes(StandardCharsets.UTF_8)); // read while catching up
        BlockingQueue<String> swapped = new LinkedBlockingQueue<>();
        List<ModelWatcher.Event> events = new CopyOnWriteArrayList<>();
        try (ModelWatcher w = watcher(topic, p -> swapped.add(versionOf(p)), () -> "1")
                .onEvent(events::add)
                .start()) {
            sendBytes(topic, new byte[] {0, 0x00, 0x0F, 0x42, 0x40, 2, 4, 6, 8}); // schema id 1000000: not registered
            send(topic, name, Bundles.record(v2, ModelStatus.ACTIVE));

            assertThat(swapped.poll(60, TimeUnit.SECONDS))
                    .as("swapped to the valid version after the bad ones")
                    .isEqualTo("2");
            assertThat(w.undecodable()).isEqualTo(2);
            assertThat(events.stream().filter(e -> e == ModelWatcher.Event.UNDECODABLE))
                    .hasSize(2);
            assertThat(w.failures()).as("skipping is not a failure of the loop").isZero();
            assertThat(w.problem()).isEmpty();
        }
    }

    @Test
    void anActiveRecordTheRegistryCannotDecodeNowIsReadAgainWhenItAnswersNotSkipped() throws Exception {
        String topic = modelsTopic("registry-down");
        Path v2 = Bundles.version(dir, "2");
        // a newer ModelVersion schema the watcher has not seen: decoding a record written with it needs the registry
        Schema newer = FailClosedIT.withExtraField(ModelVersion.getClassSchema(), "origin");
        ModelVersion old = Bundles.record(Bundles.version(dir, "0"), ModelStatus.CANDIDATE);
        send(
                topic,
                ModelKey.of(old).toString(),
                ModelsTopic.failed(old, "an old version")); // the topic's artifact exists
        int id = FailClosedIT.register(platform, topic + "-value", newer);
        BlockingQueue<String> swapped = new LinkedBlockingQueue<>();
        try (ModelWatcher w = watcher(topic, p -> swapped.add(versionOf(p)), () -> "1")
                .schemaIds(platform.serdes().schemaIds())
                .start()) {
            Platform.await(w::caughtUp, "the watcher caught up");
            platform.registry().close();
            try {
                sendBytes(topic, FailClosedIT.encode(newer, id, Bundles.record(v2, ModelStatus.ACTIVE)));
                Platform.await(() -> w.failures() >= 1, "the watcher met the outage");
                assertThat(swapped)
                        .as("not swapped while the record cannot be read")
                        .isEmpty();
            } finally {
                platform.registry().start();
            }
            assertThat(swapped.poll(90, TimeUnit.SECONDS))
                    .as("read again once the registry answers")
                    .isEqualTo("2");
            assertThat(w.undecodable())
                    .as("an outage does not make a record undecodable")
                    .isZero();
        }
    }

    @Test
    void aFailureInTheLoopIsCountedAndTheWatcherGoesOnWithTheNextRecord() throws Exception {
        String topic = modelsTopic("error");
        Path v2 = Bundles.version(dir, "2");
        Path v3 = Bundles.version(dir, "3");
        AtomicReference<String> serving = new AtomicReference<>("1");
        AtomicInteger calls = new AtomicInteger();
        BlockingQueue<String> attempts = new LinkedBlockingQueue<>();
        Consumer<Path> swap = p -> {
            if (calls.getAndIncrement() == 0) {
                attempts.add(versionOf(p));
                throw new AssertionError("a bug in the swap: an Error, which the watcher does not expect");
            }
            serving.set(versionOf(p));
            attempts.add(versionOf(p));
        };
        try (ModelWatcher w = watcher(topic, swap, serving::get).start()) {
            send(topic, name, Bundles.record(v2, ModelStatus.ACTIVE));
            assertThat(attempts.poll(60, TimeUnit.SECONDS)).isEqualTo("2");
            send(topic, name, Bundles.record(v3, ModelStatus.ACTIVE));

            assertThat(attempts.poll(60, TimeUnit.SECONDS))
                    .as("the next record, not the failed one again")
                    .isEqualTo("3");
            assertThat(serving.get()).isEqualTo("3");
            assertThat(w.failures()).isEqualTo(1);
            assertThat(w.problem()).isEmpty();
        }
    }

    @Test
    void aWatcherStuckInALoadIsReportedAndClearsWhenItGoesOn() throws Exception {
        String topic = modelsTopic("stuck");
        Path v2 = Bundles.version(dir, "2");
        CountDownLatch loading = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Consumer<Path> swap = p -> {
            loading.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        };
        // longer than a poll (500 ms), so a watcher that polls is never reported
        try (ModelWatcher w = watcher(topic, swap, () -> "1")
                .stallAfter(Duration.ofSeconds(2))
                .start()) {
            send(topic, name, Bundles.record(v2, ModelStatus.ACTIVE));
            assertThat(loading.await(60, TimeUnit.SECONDS)).isTrue();
            Platform.await(() -> w.problem().isPresent(), "reported stuck");
            assertThat(w.problem().orElseThrow())
                    .contains("has not polled")
                    .contains("loading " + new ModelKey(name, "2"));

            release.countDown();
            Platform.await(() -> w.problem().isEmpty(), "healthy again once it polls");
        }
    }

    @Test
    void startupServesTheNewestActiveVersionThatLoadsAndMarksTheNewerOneFailed() throws Exception {
        String s = "startup";
        String topic = modelsTopic(s);
        send(topic, name, Bundles.record(Bundles.version(dir, "2"), ModelStatus.ACTIVE));
        send(topic, name, Bundles.record(Bundles.unloadable(dir, "3"), ModelStatus.ACTIVE)); // verifies, does not load

        try (StreamsApp app = StreamsApp.start(config(s, topic), ModerationListener.NONE)) {
            assertThat(app.model().version()).isEqualTo("2");
            List<ModelVersion> failed = records(topic, ModelStatus.FAILED, "3");
            assertThat(failed).hasSize(1);
            assertThat(failed.get(0).getStatusReason()).isNotBlank();

            Platform.await(() -> app.watcher().orElseThrow().caughtUp(), "the watcher read the topic");
            assertThat(app.model().version())
                    .as("the watcher does not try the failed version again")
                    .isEqualTo("2");
            assertThat(get(app, "/metrics").body()).contains("duoguard_model_events_total{event=\"failed\"} 1");
            assertThat(records(topic, ModelStatus.FAILED, "3")).hasSize(1);
        }

        // a restarted instance reads the FAILED record after 3's pointer and does not try 3 again
        try (StreamsApp app = StreamsApp.start(config(s, topic), ModerationListener.NONE)) {
            assertThat(app.model().version()).isEqualTo("2");
            assertThat(get(app, "/metrics").body())
                    .as("nothing failed in this process")
                    .doesNotContain("duoguard_model_events_total{event=\"failed\"}");
            assertThat(records(topic, ModelStatus.FAILED, "3"))
                    .as("no second FAILED record")
                    .hasSize(1);
        }
    }

    @Test
    void aVersionThePreviousProcessDiedLoadingIsNotTriedAgainNorShadowedAndIsMarkedFailed() throws Exception {
        String s = "crashed";
        String topic = modelsTopic(s);
        Path v3 = Bundles.version(dir, "3"); // loads fine here: only the marker stops it
        send(topic, name, Bundles.record(Bundles.version(dir, "2"), ModelStatus.ACTIVE));
        send(topic, name, Bundles.record(v3, ModelStatus.ACTIVE));
        Path state = dir.resolve("state-" + s);
        // what a process killed during the load leaves
        new AttemptMarkers(state).begin(new ModelKey(name, "3").toString(), "loading");

        try (StreamsApp app = StreamsApp.start(config(s, topic), ModerationListener.NONE)) {
            assertThat(app.model().version()).isEqualTo("2");
            List<ModelVersion> failed = records(topic, ModelStatus.FAILED, "3");
            assertThat(failed).hasSize(1);
            assertThat(failed.get(0).getStatusReason()).isEqualTo("crashed the process while loading");

            // published again as a candidate: still not tried, neither shadowed nor loaded
            send(topic, new ModelKey(name, "3").toString(), Bundles.record(v3, ModelStatus.CANDIDATE));
            Platform.await(() -> metric(app, "skipped") == 2, "skipped at start-up and by the watcher");
            assertThat(metric(app, "crashed")).isEqualTo(1);
            assertThat(app.model().version()).isEqualTo("2");
        }
        // the same state directory, another application id: closing an app whose group has not settled takes long
        try (StreamsApp again = StreamsApp.start(config(s + "-again", topic, state), ModerationListener.NONE)) {
            assertThat(again.model().version()).as("remembered across restarts").isEqualTo("2");
            assertThat(metric(again, "crashed")).as("the crash is counted once").isZero();
            assertThat(records(topic, ModelStatus.FAILED, "3"))
                    .as("and reported once")
                    .hasSize(1);
        }
    }

    @Test
    void livenessSaysWhenTheWatcherIsDead() throws Exception {
        String s = "live";
        String topic = modelsTopic(s);
        try (StreamsApp app = StreamsApp.start(config(s, topic), ModerationListener.NONE)) {
            assertThat(app.awaitRunning(Duration.ofSeconds(60))).isTrue();
            HttpResponse<String> live = get(app, "/health/live");
            assertThat(live.statusCode()).as(live.body()).isEqualTo(200);
            assertThat(get(app, "/health/ready").statusCode()).isEqualTo(200);

            app.watcher().orElseThrow().close();

            live = get(app, "/health/live");
            assertThat(live.statusCode()).isEqualTo(503);
            assertThat(live.body()).contains("the model watcher is closed");
            assertThat(get(app, "/health/ready").statusCode())
                    .as("it still scores")
                    .isEqualTo(200);
        }
    }

    // --- helpers

    /** A models topic of one partition, like the app's. */
    static String modelsTopic(String suffix) {
        String topic = Platform.topics(suffix).models();
        platform.kafka().createTopics(1, List.of(topic));
        return topic;
    }

    LayeredConfig config(String suffix, String topic) {
        return config(suffix, topic, dir.resolve("state-" + suffix));
    }

    LayeredConfig config(String suffix, String topic, Path state) {
        return platform.appConfig(suffix, state)
                .with("topics.models", topic, "test")
                .with("model.path", Bundles.baseline(dir).toString(), "test");
    }

    static ModelWatcher watcher(String topic, Consumer<Path> swap, Supplier<String> serving) throws IOException {
        // unsigned test bundles under this test's directory; each watcher has its own staging directory
        TrustedArtifacts artifacts =
                new TrustedArtifacts(Map.of(), List.of(dir), true, Files.createTempDirectory(dir, "staging-"));
        return new ModelWatcher(
                        KafkaConnection.plaintext(platform.kafka().bootstrapServers()),
                        topic,
                        platform.serdes().value(ModelVersion.class).deserializer(),
                        platform.serdes().value(ModelVersion.class).serializer(),
                        name,
                        swap,
                        serving)
                .fetchingWith(artifacts::fetch);
    }

    static String versionOf(Path bundle) {
        return ModelBundle.open(bundle).manifest().version();
    }

    static void send(String topic, String key, ModelVersion value) throws Exception {
        try (var producer = new KafkaProducer<>(
                Map.<String, Object>of(
                        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                        platform.kafka().bootstrapServers()),
                new StringSerializer(),
                platform.serdes().value(ModelVersion.class).serializer())) {
            producer.send(new ProducerRecord<>(topic, key, value)).get();
        }
    }

    static void sendBytes(String topic, byte[] value) throws Exception {
        try (var producer = new KafkaProducer<>(
                Map.<String, Object>of(
                        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                        platform.kafka().bootstrapServers()),
                new StringSerializer(),
                new ByteArraySerializer())) {
            producer.send(new ProducerRecord<>(topic, name, value)).get();
        }
    }

    static List<ModelVersion> records(String topic, ModelStatus status, String version) {
        ModelsTopic models = new ModelsTopic(
                KafkaConnection.plaintext(platform.kafka().bootstrapServers()),
                topic,
                platform.serdes().value(ModelVersion.class).deserializer(),
                platform.serdes().value(ModelVersion.class).serializer());
        return models.read().stream()
                .map(ModelsTopic.Entry::value)
                .filter(v -> v.getStatus() == status && v.getVersion().equals(version))
                .toList();
    }

    static HttpResponse<String> get(StreamsApp app, String path) {
        try {
            return HttpClient.newHttpClient()
                    .send(
                            HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                                            + app.managementPort().orElseThrow() + path))
                                    .build(),
                            HttpResponse.BodyHandlers.ofString());
        } catch (IOException | InterruptedException e) {
            throw new IllegalStateException("GET " + path + ": " + e, e);
        }
    }

    /** The value of {@code duoguard_model_events_total{event}}, 0 when absent. */
    static long metric(StreamsApp app, String event) {
        String prefix = "duoguard_model_events_total{event=\"" + event + "\"} ";
        return get(app, "/metrics")
                .body()
                .lines()
                .filter(l -> l.startsWith(prefix))
                .mapToLong(l ->
                        (long) Double.parseDouble(l.substring(prefix.length()).trim()))
                .sum();
    }
}
