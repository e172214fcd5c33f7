package dev.duoguard.trainer.service;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.duoguard.common.kafka.KafkaConnection;
import dev.duoguard.common.registry.RegistryConnection;
import dev.duoguard.common.serde.RegistryAvroSerdes;
import dev.duoguard.embedded.EmbeddedPlatform;
import dev.duoguard.lifecycle.BundleSignature;
import dev.duoguard.lifecycle.ModelKey;
import dev.duoguard.lifecycle.ModelsTopic;
import dev.duoguard.lifecycle.TrustedArtifacts;
import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.runtime.onnx.ExecutionDevice;
import dev.duoguard.runtime.scoring.GuardrailModel;
import dev.duoguard.schemas.Category;
import dev.duoguard.schemas.ModelStatus;
import dev.duoguard.schemas.ModelVersion;
import dev.duoguard.schemas.SafetyLabel;
import dev.duoguard.schemas.Seed;
import dev.duoguard.schemas.SeedReason;
import dev.duoguard.trainer.ToyData;
import dev.duoguard.trainer.data.Example;
import dev.duoguard.trainer.data.SharedData;
import dev.duoguard.trainer.loop.GeneratorStore;
import dev.duoguard.trainer.loop.LoopSettings;
import dev.duoguard.trainer.train.Calibration;
import dev.duoguard.trainer.train.ClassifierTraining;
import dev.duoguard.trainer.train.TrainPreset;
import dev.duoguard.trainer.train.TrainSettings;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The trainer service against a real broker and registry: seeds are stored once each (duplicates, re-reads after
 * lost offsets and restarts included), a malformed record is kept aside, an operator command runs an iteration,
 * and the gated candidate is published as a CANDIDATE ModelVersion that the streams app's scorer loads.
 */
class TrainerServiceIT {

    @RegisterExtension
    static final EmbeddedPlatform platform = new EmbeddedPlatform();

    @TempDir
    static Path dir;

    /** The trainer's signing key in {@code work}, made once. */
    static synchronized Path signingKey(Path work) throws IOException {
        Path key = work.resolve("keys/trainer.key");
        return Files.exists(key) ? key : BundleSignature.keygen(work.resolve("keys"), "trainer");
    }

    static RegistryAvroSerdes serdes;

    @BeforeAll
    static void topics() {
        serdes = new RegistryAvroSerdes(
                RegistryConnection.anonymous(platform.registry().apiUrl(), true));
        platform.kafka().createTopics(1, List.of("seeds", "models"));
    }

    static Seed seed(Example e) {
        return Seed.newBuilder()
                .setText(e.text())
                .setLanguage(e.lang())
                .setLabel(e.unsafe() ? SafetyLabel.UNSAFE : SafetyLabel.SAFE)
                .setCategories(e.categories().stream()
                        .map(c -> Category.valueOf(c.name()))
                        .toList())
                .setReason(SeedReason.MISCLASSIFIED)
                .setOriginMessageId(e.id())
                .setTenant("t")
                .setCreatedAt(Instant.now())
                .build();
    }

    static void produce(List<Seed> seeds, boolean withGarbage) throws Exception {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, platform.kafka().bootstrapServers());
        try (var producer = new KafkaProducer<>(
                p, new StringSerializer(), serdes.value(Seed.class).serializer())) {
            for (Seed s : seeds) {
                producer.send(new ProducerRecord<>("seeds", s.getOriginMessageId(), s))
                        .get();
            }
        }
        if (withGarbage) {
            try (var raw = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer())) {
                raw.send(new ProducerRecord<>("seeds", "bad", "{not avro}".getBytes(StandardCharsets.UTF_8)))
                        .get();
            }
        }
    }

    TrainerService service(Path home, Path active, String group, List<Example> train, List<Example> dev)
            throws Exception {
        return service(home, active, group, train, dev, tinyLoop());
    }

    TrainerService service(
            Path home, Path active, String group, List<Example> train, List<Example> dev, LoopSettings loop)
            throws Exception {
        return tinyService(
                KafkaConnection.plaintext(platform.kafka().bootstrapServers()),
                serdes,
                dir,
                home,
                active,
                group,
                train,
                dev,
                loop);
    }

    /** Tiny players: an iteration takes seconds. */
    static LoopSettings tinyLoop() {
        TrainPreset tiny = TrainPreset.scratch(
                "svc",
                "tiny",
                512,
                new TrainSettings(2, 32, 3e-3f, 0.1f, 0.01f, 1.0f, 32, 3, 1000, 1000),
                Map.of(),
                0,
                false);
        return LoopSettings.builder()
                .iterations(1)
                .promptsPerIteration(8)
                .samples(2)
                .maxNewTokens(12)
                .dpoLearningRate(5e-4f)
                .dpoEpochs(1)
                .generatorVocab(512)
                .generatorEpochs(1)
                .generatorLearningRate(3e-3f)
                .maxSeedItems(300)
                .classifier(tiny)
                .seed(5)
                .build();
    }

    /**
     * A trainer service with tiny players (an iteration takes seconds) on topics {@code seeds} and {@code models},
     * publishing into {@code work/artifacts}, signing with {@code work/keys/trainer.key}.
     */
    static TrainerService tinyService(
            KafkaConnection kafka,
            RegistryAvroSerdes serdes,
            Path work,
            Path home,
            Path active,
            String group,
            List<Example> train,
            List<Example> dev)
            throws Exception {
        return tinyService(kafka, serdes, work, home, active, group, train, dev, tinyLoop());
    }

    static TrainerService tinyService(
            KafkaConnection kafka,
            RegistryAvroSerdes serdes,
            Path work,
            Path home,
            Path active,
            String group,
            List<Example> train,
            List<Example> dev,
            LoopSettings loop)
            throws Exception {
        TrainerService.Config c = TrainerService.Config.builder()
                .kafka(kafka)
                .seedsTopic("seeds")
                .modelsTopic("models")
                .groupId(group)
                .home(home)
                .artifactStore(work.resolve("artifacts"))
                .activeBundle(active)
                .loop(loop)
                .baseTrain(train)
                .dev(dev)
                .minNewSeeds(10_000)
                .noSchedule()
                .gateMargin(0.5)
                .minSafeItems(MIN_SAFE_ITEMS)
                .managementPort(0)
                .adminToken(ADMIN_TOKEN)
                .signingKey(signingKey(work))
                .build();
        return new TrainerService(
                c,
                serdes.value(Seed.class).deserializer(),
                serdes.value(ModelVersion.class).serializer(),
                serdes.value(ModelVersion.class).deserializer(),
                new PrometheusRegistry());
    }

    static final String ADMIN_TOKEN = "it-admin-token-0123456789";
    /** The toy dev set has about 50 safe items, most in English: en and the whole set are judged. */
    static final int MIN_SAFE_ITEMS = 20;

    /** {@code POST /iterate} with {@code token} as bearer token (null: no Authorization header). */
    static HttpResponse<String> iterate(TrainerService s, String token) throws Exception {
        HttpRequest.Builder r = HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + s.managementPort() + "/iterate"))
                .POST(HttpRequest.BodyPublishers.noBody());
        if (token != null) {
            r.header("Authorization", "Bearer " + token);
        }
        return HttpClient.newHttpClient().send(r.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** Waits until the service (consumer group {@code group}) has handled every record on the seeds topic. */
    static void awaitIngested(String group) {
        // it commits a poll's offsets only once every record of it is stored, counted as a duplicate or kept aside
        platform.kafka().awaitConsumed(group, "seeds", Duration.ofSeconds(60));
    }

    /** The "active" model: a tiny classifier that saw 40 items for one epoch, so a real candidate can beat it. */
    static Path weakActive(Path work, List<Example> train) throws Exception {
        TrainPreset weak = TrainPreset.scratch(
                "active",
                "tiny",
                512,
                new TrainSettings(1, 32, 1e-4f, 0.1f, 0.01f, 1.0f, 32, 3, 1000, 1000),
                Map.of(),
                0,
                false);
        Path active = work.resolve("active");
        ClassifierTraining.builder()
                .preset(weak)
                .work(work.resolve("active-work"))
                .out(active)
                .build()
                .trainOn(
                        train.subList(0, 40),
                        List.of(),
                        Map.of(),
                        null,
                        Map.of(),
                        new PrintStream(new ByteArrayOutputStream()));
        return active;
    }

    /**
     * Toy data: up to 400 training items (those whose text is no dev item's: the service refuses training data that
     * holds dev items), 100 dev items, 60 for the seeds topic (some repeat a dev item's text, as live traffic can).
     */
    record Toy(List<Example> train, List<Example> dev, List<Example> topicSeeds) {
        static Toy in(Path work) throws IOException {
            Path data = work.resolve("toy.jsonl");
            Files.write(data, ToyData.lines("toy", 600, 11, true), StandardCharsets.UTF_8);
            List<Example> all = SharedData.readNormalized(data);
            List<Example> dev = all.subList(400, 500);
            Set<String> devTexts = dev.stream().map(Example::dedupKey).collect(Collectors.toSet());
            List<Example> train = all.subList(0, 400).stream()
                    .filter(e -> !devTexts.contains(e.dedupKey()))
                    .toList();
            return new Toy(train, dev, all.subList(500, 560));
        }

        /** Topic seeds whose text is a dev item's: the service keeps them out of training. */
        long seedsRepeatingDev() {
            Set<String> devTexts = dev.stream().map(Example::dedupKey).collect(Collectors.toSet());
            return topicSeeds.stream()
                    .filter(e -> devTexts.contains(e.dedupKey()))
                    .count();
        }
    }

    @Test
    void storesSeedsOnceSurvivesRestartsAndPublishesAGatedCandidate() throws Exception {
        Toy toy = Toy.in(dir);
        List<Example> train = toy.train();
        List<Example> dev = toy.dev();
        List<Example> topicSeeds = toy.topicSeeds();
        Path active = weakActive(dir, train);
        // the active model records the false-positive rate it was calibrated for (on items too few to move its
        // thresholds): the candidate is calibrated for that target, not the preset's 5 %
        Calibration.calibrate(
                ModelBundle.open(active),
                train.subList(0, 40),
                Calibration.Settings.DEFAULTS.withTargetFpr(0.08),
                new PrintStream(new ByteArrayOutputStream()));

        List<Seed> first = new ArrayList<>();
        topicSeeds.subList(0, 40).forEach(e -> first.add(seed(e)));
        first.add(seed(topicSeeds.get(0))); // a duplicate
        produce(first, true);

        Path home = dir.resolve("home");
        try (TrainerService s = service(home, active, "g1", train, dev)) {
            s.start();
            awaitIngested("g1");
            assertThat(s.store().count()).isEqualTo(40);
        }
        assertThat(Files.list(home.resolve("rejected"))
                        .filter(p -> p.toString().endsWith(".bin"))
                        .count())
                .as("the malformed record is kept aside, not lost")
                .isEqualTo(1);

        // while the service is down, 20 more seeds arrive; a restart stores exactly those
        List<Seed> second = new ArrayList<>();
        topicSeeds.subList(40, 60).forEach(e -> second.add(seed(e)));
        produce(second, false);
        try (TrainerService s = service(home, active, "g1", train, dev)) {
            s.start();
            awaitIngested("g1");
            assertThat(s.store().count()).isEqualTo(60);
        }
        // offsets lost (a new consumer group re-reads everything): nothing is stored twice
        ModelVersion published;
        try (TrainerService s = service(home, active, "g2", train, dev)) {
            s.start();
            awaitIngested("g2");
            assertThat(s.store().count()).isEqualTo(60);

            // an operator starts an iteration through the management port, with the admin token
            assertThat(iterate(s, null).statusCode()).as("no token").isEqualTo(401);
            assertThat(iterate(s, "not-" + ADMIN_TOKEN).statusCode())
                    .as("another token")
                    .isEqualTo(403);
            assertThat(s.state().iterations())
                    .as("a refused command starts nothing")
                    .isZero();
            HttpResponse<String> r = iterate(s, ADMIN_TOKEN);
            assertThat(r.statusCode()).isEqualTo(202);
            assertThat(r.body()).contains("iteration 1 started");
            s.awaitIteration(Duration.ofMinutes(5));
            assertThat(s.state().iterations()).isEqualTo(1);
            String metrics = HttpClient.newHttpClient()
                    .send(
                            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.managementPort() + "/metrics"))
                                    .build(),
                            HttpResponse.BodyHandlers.ofString())
                    .body();
            assertThat(metrics)
                    .contains("duoguard_trainer_iterations_total")
                    .contains("duoguard_trainer_seeds_stored 60");

            // the next iteration's yardstick: the promoted version, from a verified copy. A forged version whose
            // artifact lies outside the trainer's store (here: the install's bundle) is passed over, although it
            // is the newer ACTIVE pointer
            published = readModels().get(0);
            ModelsTopic topic = new ModelsTopic(
                    KafkaConnection.plaintext(platform.kafka().bootstrapServers()),
                    "models",
                    serdes.value(ModelVersion.class).deserializer(),
                    serdes.value(ModelVersion.class).serializer());
            topic.promote(published.getModelName(), "2", "test");
            ModelVersion forged = ModelVersion.newBuilder(published)
                    .setVersion("3")
                    .setArtifactUri(active.toUri().toString())
                    .setSha256(ModelBundle.open(active).manifestSha256())
                    .build();
            try (var producer = new KafkaProducer<>(
                    Map.<String, Object>of(
                            ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                            platform.kafka().bootstrapServers()),
                    new StringSerializer(),
                    serdes.value(ModelVersion.class).serializer())) {
                producer.send(new ProducerRecord<>("models", ModelKey.of(forged).toString(), forged))
                        .get();
            }
            topic.promote(published.getModelName(), "3", "forged");
            Path yardstick = s.yardstick();
            assertThat(ModelBundle.open(yardstick).manifest().version()).isEqualTo("2");
            assertThat(yardstick).as("a verified copy").startsWith(home.resolve("yardstick-copies"));
        }

        IterationDecision decision = IterationDecision.read(home.resolve("iterations/1/decision.json"));
        assertThat(decision.labelledSeeds()).isEqualTo(60);
        assertThat(decision.devHeldSeeds()).isEqualTo((int) toy.seedsRepeatingDev());
        assertThat(decision.gate().reason()).isNotEmpty();
        assertThat(decision.gate().rule()).isEqualTo(EvaluationGate.Rule.PASSED);
        assertThat(decision.gate().candidateFpr())
                .as("the false-positive rate was judged")
                .containsKeys("all", "en");
        assertThat(decision.outcome()).as(decision.toString()).isEqualTo(IterationDecision.Outcome.PUBLISHED);
        assertThat(decision.yardstick()).isEqualTo("duoguard-active@1");

        assertThat(published.getStatus()).isEqualTo(ModelStatus.CANDIDATE);
        assertThat(published.getVersion()).isEqualTo("2");
        assertThat(published.getLanguageMetrics()).containsKeys("all", "en");
        Path artifact = Path.of(URI.create(published.getArtifactUri()));
        assertThat(ModelBundle.open(artifact).manifestSha256()).isEqualTo(published.getSha256());
        Path copy = new TrustedArtifacts(
                        BundleSignature.trustedKeys(List.of(dir.resolve("keys/trainer.pub"))),
                        List.of(dir.resolve("artifacts")),
                        false,
                        dir.resolve("instance-state/models"))
                .fetch(published);
        assertThat(copy)
                .as("an instance trusting the trainer's key accepts the version")
                .exists();
        JsonNode calibration = new ObjectMapper()
                .readTree(artifact.resolve("manifest.json").toFile())
                .path("provenance")
                .path("data")
                .path("calibration");
        assertThat(calibration.path("target_fpr").asDouble()).isEqualTo(0.08);
        assertThat(calibration.path("fitted").asBoolean(true))
                .as("the toy data holds too few safe items to calibrate on: the iteration trains on them instead")
                .isFalse();
        try (GuardrailModel m = GuardrailModel.load(artifact, ExecutionDevice.CPU, 1, 8)) {
            assertThat(m.model().version()).isEqualTo("2");
            assertThat(m.score(List.of("comment fabriquer une bombe")).get(0).probabilities())
                    .hasSize(12);
        }

        // the generator carries over: after a restart, iteration 2 continues iteration 1's generator. Without DPO
        // in iteration 2 it is kept unchanged, weight for weight (a new one would be trained anew on the seeds)
        Path generators = TrainerService.generatorHome(home);
        byte[] afterFirst = Files.readAllBytes(generators.resolve("generator-1/model.safetensors"));
        int firstSamples =
                GeneratorStore.open(generators, tinyLoop(), 1, 20_000).samples().size();
        assertThat(firstSamples).as("iteration 1 kept generated samples").isPositive();
        try (TrainerService s = service(
                home,
                active,
                "g2",
                train,
                dev,
                tinyLoop().toBuilder().dpo(false).build())) {
            s.start();
            assertThat(iterate(s, ADMIN_TOKEN).body()).contains("iteration 2 started");
            s.awaitIteration(Duration.ofMinutes(5));
            assertThat(s.state().iterations()).isEqualTo(2);
            assertThat(s.generatorStore().runs()).isEqualTo(2);
        }
        assertThat(Files.readAllBytes(generators.resolve("generator-2/model.safetensors")))
                .isEqualTo(afterFirst);
        assertThat(home.resolve("iterations/2/loop/iter-0/generator/model.safetensors"))
                .as("no new generator trained")
                .doesNotExist();
        JsonNode iteration2 = new ObjectMapper()
                .readTree(home.resolve("iterations/2/loop/loop-report.json").toFile())
                .path("iterations")
                .get(1);
        int secondKept = 0;
        for (JsonNode n : iteration2.path("kept_by_language")) {
            secondKept += n.asInt();
        }
        assertThat(iteration2.path("synthetic_in_training").asInt())
                .as("iteration 2's classifier retrained on both iterations' samples")
                .isEqualTo(firstSamples + secondKept);
        assertThat(GeneratorStore.open(generators, tinyLoop(), 1, 20_000).samples())
                .hasSize(firstSamples + secondKept);
    }

    static List<ModelVersion> readModels() {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, platform.kafka().bootstrapServers());
        p.put(ConsumerConfig.GROUP_ID_CONFIG, "reader");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        List<ModelVersion> out = new ArrayList<>();
        try (var c = new KafkaConsumer<>(
                p, new StringDeserializer(), serdes.value(ModelVersion.class).deserializer())) {
            c.subscribe(List.of("models"));
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (out.isEmpty() && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, ModelVersion> r : c.poll(Duration.ofMillis(500))) {
                    out.add(r.value());
                }
            }
        }
        return out;
    }
}
