package dev.duoguard.streams.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.duoguard.common.config.LayeredConfig;
import dev.duoguard.common.kafka.KafkaConnection;
import dev.duoguard.common.topics.Topics;
import dev.duoguard.lifecycle.BundleSignature;
import dev.duoguard.lifecycle.ModelKey;
import dev.duoguard.lifecycle.ModelsTopic;
import dev.duoguard.runtime.bundle.BundleManifest;
import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.schemas.ModelStatus;
import dev.duoguard.schemas.ModelVersion;
import dev.duoguard.schemas.Verdict;
import dev.duoguard.streams.app.StreamsApp;
import dev.duoguard.streams.cli.DuoGuardCli;
import dev.duoguard.streams.model.ModelWatcher;
import dev.duoguard.streams.topology.ModerationListener;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Stream;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Following the models topic: instances swap to the ACTIVE version, a corrupt one is marked FAILED while the old
 * model serves on, rollback works, late instances start on the ACTIVE version. And swapping the served model while traffic flows (the mechanism rolling upgrades build on): no message is lost or
 * scored twice, each verdict names the model that scored it, everything sent after the swap is scored by the new
 * model, and a bundle that does not load leaves the old one serving.
 */
class ModelSwapIT {

    @RegisterExtension
    static final Platform platform = new Platform();

    @TempDir
    static Path dir;

    /** A copy of the baseline bundle under another version: a verified bundle that is a different model version. */
    static Path version(String version) throws Exception {
        return Bundles.version(dir, version);
    }

    static Path secondVersion() throws Exception {
        return version("v2-test");
    }

    static ModelVersion candidate(Path bundle) {
        return Bundles.record(bundle, ModelStatus.CANDIDATE);
    }

    /** Writes model-version records as the trainer or another instance would. */
    static KafkaProducer<String, ModelVersion> modelProducer() {
        return new KafkaProducer<>(
                Map.<String, Object>of("bootstrap.servers", platform.kafka().bootstrapServers()),
                new StringSerializer(),
                platform.serdes().value(ModelVersion.class).serializer());
    }

    static ModelsTopic modelsTopic(String topic) {
        return new ModelsTopic(
                KafkaConnection.plaintext(platform.kafka().bootstrapServers()),
                topic,
                platform.serdes().value(ModelVersion.class).deserializer(),
                platform.serdes().value(ModelVersion.class).serializer());
    }

    /** A command with the admin token. */
    static HttpResponse<String> post(StreamsApp app, String path) throws Exception {
        return post(app, path, Platform.ADMIN_TOKEN);
    }

    /** A command with {@code token} as bearer token (null: no Authorization header). */
    static HttpResponse<String> post(StreamsApp app, String path, String token) throws Exception {
        HttpRequest.Builder r = HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + app.managementPort().orElseThrow() + path))
                .POST(HttpRequest.BodyPublishers.noBody());
        if (token != null) {
            r.header("Authorization", "Bearer " + token);
        }
        return HttpClient.newHttpClient().send(r.build(), HttpResponse.BodyHandlers.ofString());
    }

    static String metrics(StreamsApp app) throws Exception {
        return HttpClient.newHttpClient()
                .send(
                        HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                                        + app.managementPort().orElseThrow() + "/metrics"))
                                .build(),
                        HttpResponse.BodyHandlers.ofString())
                .body();
    }

    /**
     * Waits until {@code app} shadow-scores {@code version} (its shadow gauges appear), so the traffic sent next is
     * shadowed; a candidate that loads slowly (the trained bundle) would otherwise miss it.
     */
    static void awaitShadow(StreamsApp app, String version) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (!metrics(app).contains("duoguard_shadow_dropped_batches{version=\"" + version + "\"}")) {
            assertThat(System.nanoTime())
                    .as("shadow-scoring of version " + version + " did not start")
                    .isLessThan(deadline);
            Thread.sleep(100);
        }
    }

    static void awaitVersion(StreamsApp app, String version) throws InterruptedException {
        Platform.await(() -> app.model().version().equals(version), "serving version " + version);
    }

    @Test
    void instancesFollowTheActivePointerKeepServingThroughACorruptVersionAndRollBack() throws Exception {
        String s = "roll";
        String topic = Platform.topics(s).models();
        ModelsTopic models = modelsTopic(topic);
        Path v2 = version("2");
        Path v4 = version("4");
        Path v3 = version("3");
        List<ModelVersion> candidates = List.of(candidate(v2), candidate(v3), candidate(v4));
        Files.write(v3.resolve("model.onnx"), new byte[] {1, 2, 3}, StandardOpenOption.APPEND);
        try (StreamsApp a = StreamsApp.start(
                platform.appConfig(s, dir.resolve("state-" + s + "-a")).with("topics.models", topic, "test"),
                ModerationListener.NONE)) {
            assertThat(a.awaitRunning(Duration.ofSeconds(60))).isTrue();
            String name = a.model().name();
            try (var producer = modelProducer()) {
                for (ModelVersion c : candidates) {
                    producer.send(new ProducerRecord<>(topic, ModelKey.of(c).toString(), c))
                            .get();
                }
            }
            models.promote(name, "2", "test");
            awaitVersion(a, "2");
            assertThat(post(a, "/models/promote").statusCode())
                    .as("no version given")
                    .isEqualTo(400);
            int records = models.read().size();
            assertThat(post(a, "/models/promote?version=4", null).statusCode())
                    .as("no admin token")
                    .isEqualTo(401);
            assertThat(post(a, "/models/promote?version=4", "not-" + Platform.ADMIN_TOKEN)
                            .statusCode())
                    .as("another token")
                    .isEqualTo(403);
            assertThat(post(a, "/models/rollback", null).statusCode()).isEqualTo(401);
            assertThat(models.read())
                    .as("a refused command writes nothing to the models topic")
                    .hasSize(records);
            assertThat(post(a, "/models/promote?version=4").body()).contains("4 is ACTIVE"); // the management port
            awaitVersion(a, "4");

            try (StreamsApp b = StreamsApp.start(
                    platform.appConfig(s, dir.resolve("state-" + s + "-b")).with("topics.models", topic, "test"),
                    ModerationListener.NONE)) {
                assertThat(b.model().version())
                        .as("a later instance starts on the ACTIVE version")
                        .isEqualTo("4");

                assertThat(post(b, "/models/rollback").body()).contains("2 is ACTIVE again");
                awaitVersion(a, "2");
                awaitVersion(b, "2");

                models.promote(name, "3", "test"); // its model.onnx no longer matches the manifest
                long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
                List<ModelVersion> failed = List.of();
                while (failed.isEmpty() && System.nanoTime() < deadline) {
                    failed = models.read().stream()
                            .map(ModelsTopic.Entry::value)
                            .filter(v -> v.getStatus() == ModelStatus.FAILED
                                    && v.getVersion().equals("3"))
                            .toList();
                    Thread.sleep(200);
                }
                assertThat(failed).as("the corrupt version is marked FAILED").isNotEmpty();
                assertThat(failed.get(0).getStatusReason()).contains("sha256");
                assertThat(a.model().version())
                        .as("the old model keeps serving")
                        .isEqualTo("2");
                assertThat(b.model().version()).isEqualTo("2");
                for (StreamsApp app : List.of(a, b)) {
                    assertThat(metrics(app))
                            .as("a metric says so")
                            .contains("duoguard_model_events_total{event=\"failed\"} 1")
                            .contains("name=\"" + name + "\",version=\"2\"} 1");
                }
            }
        }
    }

    /**
     * Issue 14, "Signatures", on a real broker: with a trusted key and unsigned bundles refused (the default), an
     * unsigned version is neither shadowed nor swapped in (FAILED, with the reason; the old model serves on) and a
     * signed one is shadowed and served from the instance's own verified copy.
     */
    @Test
    void signedVersionsAreShadowedAndServedUnsignedOnesAreFailedWithTheReason() throws Exception {
        String s = "signed";
        String topic = Platform.topics(s).models();
        ModelsTopic models = modelsTopic(topic);
        BundleSignature.Signer trainer =
                BundleSignature.Signer.load(BundleSignature.keygen(dir.resolve("keys"), "trainer"));
        Path signed = version("5");
        BundleSignature.sign(signed, trainer);
        Path unsigned = version("6");
        Path state = dir.resolve("state-" + s);
        try (StreamsApp a = StreamsApp.start(
                platform.appConfig(s, state)
                        .with("topics.models", topic, "test")
                        .with("models.allow-unsigned", "false", "test")
                        .with(
                                "models.trusted-keys",
                                dir.resolve("keys/trainer.pub").toString(),
                                "test")
                        .with("models.artifact-roots", dir.toString(), "test"),
                ModerationListener.NONE)) {
            assertThat(a.awaitRunning(Duration.ofSeconds(60))).isTrue();
            String name = a.model().name();
            String before = a.model().version();
            try (var producer = modelProducer()) {
                ModelVersion c = candidate(unsigned);
                producer.send(new ProducerRecord<>(topic, ModelKey.of(c).toString(), c))
                        .get();
            }
            assertThat(awaitFailed(models, "6", 1).getStatusReason())
                    .as("not shadowed")
                    .contains("unsigned: the bundle has no manifest.sig");

            try (var producer = modelProducer()) {
                ModelVersion c = candidate(signed);
                producer.send(new ProducerRecord<>(topic, ModelKey.of(c).toString(), c))
                        .get();
            }
            awaitShadow(a, "5");
            assertThat(models(s, "promote", name, "5"))
                    .as("the operator's check passes")
                    .isZero();
            awaitVersion(a, "5");
            // the shadow's copy goes when the shadow is closed, the retired start-up model was the operator's own
            // bundle: what is left is the served version's copy alone
            Path copies = state.resolve("model-copies");
            List<Path> left = awaitCopies(copies, 1);
            assertThat(left.get(0).getFileName().toString()).startsWith(name + "@5.");
            assertThat(left.get(0).resolve(BundleSignature.FILE_NAME))
                    .as("loaded from the instance's own verified copy")
                    .exists();

            assertThat(models(s, "promote", name, "6"))
                    .as("the operator's promote refuses an unsigned bundle")
                    .isEqualTo(1);
            assertThat(models.read())
                    .as("and writes nothing")
                    .noneMatch(e -> e.value().getStatus() == ModelStatus.ACTIVE
                            && e.value().getVersion().equals("6"));
            assertThat(models(s, "promote", name, "6", "--allow-unsigned")).isZero();
            assertThat(models.read())
                    .as("the override is named in the ACTIVE record")
                    .anyMatch(e -> e.value().getStatus() == ModelStatus.ACTIVE
                            && e.value().getVersion().equals("6")
                            && e.value().getStatusReason().contains("with --allow-unsigned: unsigned"));
            assertThat(awaitFailed(models, "6", 2).getStatusReason())
                    .as("the instances still refuse it")
                    .contains("unsigned: the bundle has no manifest.sig");
            assertThat(metrics(a)).contains("duoguard_model_events_total{event=\"failed\"} 1");
            assertThat(a.model().version())
                    .as("the signed version keeps serving")
                    .isEqualTo("5");
            assertThat(before).isNotEqualTo("5");
        }
    }

    /**
     * Runs {@code ./duoguard models ARGS --config FILE} against test {@code s}'s topic; its exit code. The file is
     * what an instance would read: the connection and {@code models.trusted-keys} (the test's key).
     */
    int models(String s, String... args) throws IOException {
        Path config = dir.resolve("models-cli-" + s + ".properties");
        Files.writeString(
                config,
                String.join(
                        "\n",
                        "kafka.bootstrap.servers=" + platform.kafka().bootstrapServers(),
                        "registry.url=" + platform.registry().apiUrl(),
                        Topics.Names.MODELS_KEY + "=" + Platform.topics(s).models(),
                        "models.trusted-keys=" + dir.resolve("keys/trainer.pub")));
        List<String> all = new ArrayList<>(List.of(args));
        all.addAll(List.of("--config", config.toString()));
        all.add(0, "models");
        return DuoGuardCli.commandLine().execute(all.toArray(String[]::new));
    }

    /** The copies in {@code copies} once there are {@code n} of them (closing a shadow removes its copy). */
    static List<Path> awaitCopies(Path copies, int n) throws InterruptedException {
        Platform.await(() -> list(copies).size() == n, Duration.ofSeconds(30), n + " model copies in " + copies);
        return list(copies);
    }

    private static List<Path> list(Path dir) {
        try (Stream<Path> files = Files.list(dir)) {
            return files.sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The newest of at least {@code n} FAILED records of {@code version}, once they are on the topic. */
    static ModelVersion awaitFailed(ModelsTopic models, String version, int n) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        List<ModelVersion> failed = List.of();
        while (failed.size() < n && System.nanoTime() < deadline) {
            failed = models.read().stream()
                    .map(ModelsTopic.Entry::value)
                    .filter(v -> v.getStatus() == ModelStatus.FAILED
                            && v.getVersion().equals(version))
                    .toList();
            Thread.sleep(200);
        }
        assertThat(failed).as(n + " FAILED records of version " + version).hasSizeGreaterThanOrEqualTo(n);
        return failed.get(failed.size() - 1);
    }

    @Test
    void swappingUnderTrafficLosesNothingAndEveryVerdictNamesItsModel() throws Exception {
        String s = "swap";
        Path v2 = secondVersion();
        List<ChatMessage> before = Platform.messages(s + "-a", 300);
        List<ChatMessage> after = Platform.messages(s + "-b", 300);
        Map<String, Verdict> verdicts = new HashMap<>();
        List<String> all = new ArrayList<>();
        try (StreamsApp app =
                        StreamsApp.start(platform.appConfig(s, dir.resolve("state-" + s)), ModerationListener.NONE);
                var consumer = platform.verdictConsumer(Platform.topics(s).verdicts())) {
            assertThat(app.awaitRunning(Duration.ofSeconds(60))).isTrue();
            String v1 = app.model().version();
            platform.produce(Platform.topics(s).messages(), before);
            readInto(consumer, verdicts, all, 50, Duration.ofSeconds(60)); // traffic is flowing

            assertThatThrownBy(() -> app.swapModel(dir.resolve("no-such-bundle")))
                    .as("a bundle that does not load")
                    .isInstanceOf(RuntimeException.class);
            assertThat(app.model().version()).isEqualTo(v1);

            assertThat(app.swapModel(v2).version()).isEqualTo(v1);
            assertThat(app.model().version()).isEqualTo("v2-test");
            platform.produce(Platform.topics(s).messages(), after);
            readInto(consumer, verdicts, all, before.size() + after.size(), Duration.ofSeconds(90));
            platform.awaitConsumed(s);
            platform.readToEnd(consumer, r -> all.add(r.value().getMessageId()));

            assertThat(verdicts).hasSize(before.size() + after.size());
            assertThat(all).as("no message scored twice").hasSize(before.size() + after.size());
            Set<String> versions = new HashSet<>();
            verdicts.values().forEach(v -> versions.add(v.getModelVersion()));
            assertThat(versions).isSubsetOf(v1, "v2-test");
            for (ChatMessage m : after) {
                assertThat(verdicts.get(m.getMessageId()).getModelVersion())
                        .as(m.getMessageId())
                        .isEqualTo("v2-test");
            }
        }
    }

    /** The trained default bundle renamed as a version of the baseline: a candidate that disagrees with it. */
    static Path disagreeingVersion(String name, String version) throws Exception {
        Path src = Path.of("../models/default");
        Path copy = Files.createDirectories(dir.resolve("other-" + version));
        try (var files = Files.list(src)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                Files.copy(f, copy.resolve(f.getFileName()), StandardCopyOption.REPLACE_EXISTING);
            }
        }
        BundleManifest m = ModelBundle.open(src).manifest();
        ModelBundle.writeManifest(copy, m.withFiles(null).withIdentity(name, version));
        return copy;
    }

    static List<ModelVersion> awaitRecord(ModelsTopic models, ModelStatus status, String version) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
        while (System.nanoTime() < deadline) {
            List<ModelVersion> found = models.read().stream()
                    .map(ModelsTopic.Entry::value)
                    .filter(v -> v.getStatus() == status && v.getVersion().equals(version))
                    .toList();
            if (!found.isEmpty()) {
                return found;
            }
            Thread.sleep(300);
        }
        return List.of();
    }

    @Test
    void aCandidateIsShadowScoredThenPromotedInsideTheBoundsAndRejectedOutside() throws Exception {
        String s = "shadow";
        String topic = Platform.topics(s).models();
        ModelsTopic models = modelsTopic(topic);
        try (StreamsApp app = StreamsApp.start(
                        platform.appConfig(s, dir.resolve("state-" + s))
                                .with("topics.models", topic, "test")
                                .with("shadow.share", "1.0", "test")
                                .with("shadow.min-samples", "100", "test")
                                .with("shadow.min-agreement", "0.95", "test"),
                        ModerationListener.NONE);
                var producer = modelProducer()) {
            assertThat(app.awaitRunning(Duration.ofSeconds(60))).isTrue();
            String name = app.model().name();

            ModelVersion same = candidate(version("5")); // scores exactly like the active model
            producer.send(new ProducerRecord<>(topic, ModelKey.of(same).toString(), same))
                    .get();
            awaitShadow(app, "5");
            platform.produce(Platform.topics(s).messages(), Platform.messages(s + "-a", 300));
            awaitVersion(app, "5");
            List<ModelVersion> promoted = awaitRecord(models, ModelStatus.ACTIVE, "5");
            assertThat(promoted).isNotEmpty();
            assertThat(promoted.get(0).getStatusReason())
                    .contains("promoted automatically")
                    .contains("agreement 1.000");

            ModelVersion other = candidate(disagreeingVersion(name, "6")); // a different model: disagrees often
            producer.send(new ProducerRecord<>(topic, ModelKey.of(other).toString(), other))
                    .get();
            awaitShadow(app, "6");
            platform.produce(Platform.topics(s).messages(), Platform.messages(s + "-b", 300));
            List<ModelVersion> rejected = awaitRecord(models, ModelStatus.FAILED, "6");
            assertThat(rejected).as("outside the bounds").isNotEmpty();
            assertThat(rejected.get(0).getStatusReason()).contains("rejected by shadow scoring");
            assertThat(app.model().version())
                    .as("the active model keeps serving")
                    .isEqualTo("5");

            // another instance's verdict comes first: this one stops shadowing instead of judging on its own
            ModelVersion same9 = candidate(version("9"));
            producer.send(new ProducerRecord<>(topic, ModelKey.of(same9).toString(), same9))
                    .get();
            awaitShadow(app, "9");
            platform.produce(Platform.topics(s).messages(), Platform.messages(s + "-9", 40)); // fewer than min-samples
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (!metrics(app).contains("version=\"9\"") && System.nanoTime() < deadline) {
                Thread.sleep(200);
            }
            assertThat(metrics(app)).as("shadowing 9").contains("version=\"9\"");
            producer.send(new ProducerRecord<>(
                            topic,
                            ModelKey.of(same9).toString(),
                            ModelVersion.newBuilder(same9)
                                    .setStatus(ModelStatus.FAILED)
                                    .setStatusReason("rejected elsewhere")
                                    .setCreatedAt(Instant.now())
                                    .build()))
                    .get();
            deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (metrics(app).contains("version=\"9\"") && System.nanoTime() < deadline) {
                Thread.sleep(200);
            }
            platform.produce(Platform.topics(s).messages(), Platform.messages(s + "-c", 300));
            // had this instance kept shadowing 9, these 300 agreeing messages would have got it promoted: wait until
            // they are scored and the watcher has judged its shadow after that, then check that nothing happened
            awaitVerdicts(s, 300 + 300 + 40 + 300);
            awaitWatcherPoll(app, topic);
            awaitWatcherPoll(app, topic);
            assertThat(metrics(app)).as("no longer shadowing 9").doesNotContain("version=\"9\"");
            assertThat(app.model().version())
                    .as("9 was not promoted here despite agreeing")
                    .isEqualTo("5");
            assertThat(metrics(app))
                    .contains("duoguard_model_events_total{event=\"shadow_promoted\"} 1")
                    .contains("duoguard_model_events_total{event=\"shadow_rejected\"} 1");
        }
    }

    /**
     * The rolling-upgrade scenario: two instances share the traffic; a candidate is published while it
     * flows; both shadow it, one promotes it, both serve it. Every message gets exactly one verdict, and no verdict
     * names the new version before the ACTIVE pointer existed or the old one after both instances had swapped.
     */
    @Test
    void twoInstancesShadowPromoteAndServeANewVersionUnderTraffic() throws Exception {
        String s = "two";
        String topic = Platform.topics(s).models();
        ModelsTopic models = modelsTopic(topic);
        List<ChatMessage> traffic = Platform.messages(s, 1500);
        Map<String, Verdict> verdicts = new HashMap<>();
        List<String> all = new ArrayList<>();
        Function<String, LayeredConfig> config = name -> platform.appConfig(s, dir.resolve("state-" + s + "-" + name))
                .with("topics.models", topic, "test")
                .with("shadow.share", "1.0", "test")
                .with("shadow.min-samples", "100", "test")
                .with("shadow.min-agreement", "0.95", "test");
        try (StreamsApp a = StreamsApp.start(config.apply("a"), ModerationListener.NONE);
                StreamsApp b = StreamsApp.start(config.apply("b"), ModerationListener.NONE);
                var consumer = platform.verdictConsumer(Platform.topics(s).verdicts())) {
            assertThat(a.awaitRunning(Duration.ofSeconds(60))).isTrue();
            assertThat(b.awaitRunning(Duration.ofSeconds(60))).isTrue();
            String name = a.model().name();
            String v1 = a.model().version();
            Path v2 = version("8");

            // traffic flows in the background for the whole test, about 100 messages a second
            Thread producer = new Thread(() -> {
                for (int i = 0; i < traffic.size(); i += 25) {
                    platform.produce(
                            Platform.topics(s).messages(), traffic.subList(i, Math.min(traffic.size(), i + 25)));
                    try {
                        Thread.sleep(250); // the traffic's pace, not a wait for anything
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            });
            producer.start();
            readInto(consumer, verdicts, all, 200, Duration.ofSeconds(60));
            try (var p = modelProducer()) {
                ModelVersion candidate = candidate(v2);
                p.send(new ProducerRecord<>(topic, ModelKey.of(candidate).toString(), candidate))
                        .get();
            }
            awaitVersion(a, "8");
            awaitVersion(b, "8");
            // a batch that took its lease on the old model just before the swap still finishes on it: allow a second
            Instant bothSwapped = Instant.now().plusSeconds(1);
            ModelVersion pointer = awaitRecord(models, ModelStatus.ACTIVE, "8").get(0);
            assertThat(pointer.getStatusReason()).contains("promoted automatically");
            producer.join(60_000);
            readInto(consumer, verdicts, all, traffic.size(), Duration.ofSeconds(120));
            platform.awaitConsumed(s);
            platform.readToEnd(consumer, r -> all.add(r.value().getMessageId()));

            assertThat(verdicts).as("one verdict per message").hasSize(traffic.size());
            assertThat(all).as("none scored twice").hasSize(traffic.size());
            Set<String> versions = new HashSet<>();
            for (Verdict v : verdicts.values()) {
                versions.add(v.getModelVersion());
                if (v.getScoredAt().isBefore(pointer.getCreatedAt())) {
                    assertThat(v.getModelVersion())
                            .as("scored before the promotion: %s", v.getMessageId())
                            .isEqualTo(v1);
                }
                if (v.getScoredAt().isAfter(bothSwapped)) {
                    assertThat(v.getModelVersion())
                            .as("scored after both swapped: %s", v.getMessageId())
                            .isEqualTo("8");
                }
            }
            assertThat(versions).containsExactlyInAnyOrder(v1, "8");
        }
    }

    /** Waits until the verdicts of {@code s} name {@code n} distinct messages. */
    static void awaitVerdicts(String s, int n) {
        try (var consumer = platform.verdictConsumer(Platform.topics(s).verdicts())) {
            List<String> ids = Platform.readVerdicts(consumer, new ArrayList<>(), n, Duration.ofSeconds(90));
            assertThat(new HashSet<>(ids))
                    .as("messages of %s scored after 90 s", s)
                    .hasSize(n);
        }
    }

    /**
     * Writes a record the app's model watcher skips and counts (it is not Avro) and waits until it has: the watcher
     * has then polled past everything written before. It judges its shadow after every poll, so after two of
     * these (the first may arrive in the poll being handled now, the second cannot), it has judged its shadow
     * after all that was written before the first.
     */
    static void awaitWatcherPoll(StreamsApp app, String topic) throws Exception {
        ModelWatcher watcher = app.watcher().orElseThrow();
        long before = watcher.undecodable();
        try (var producer = new KafkaProducer<>(
                Map.<String, Object>of("bootstrap.servers", platform.kafka().bootstrapServers()),
                new StringSerializer(),
                new ByteArraySerializer())) {
            producer.send(new ProducerRecord<>(topic, "marker", "not Avro".getBytes(StandardCharsets.UTF_8)))
                    .get();
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (watcher.undecodable() == before) {
            assertThat(System.nanoTime())
                    .as("the watcher did not read the marker record")
                    .isLessThan(deadline);
            Thread.sleep(50);
        }
    }

    static void readInto(
            KafkaConsumer<String, Verdict> consumer,
            Map<String, Verdict> byId,
            List<String> all,
            int expected,
            Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (byId.size() < expected && System.nanoTime() < deadline) {
            for (ConsumerRecord<String, Verdict> r : consumer.poll(Duration.ofMillis(200))) {
                all.add(r.value().getMessageId());
                byId.put(r.value().getMessageId(), r.value());
            }
        }
    }
}
