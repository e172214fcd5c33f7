package dev.duoguard.dev.demo;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.duoguard.common.config.LayeredConfig;
import dev.duoguard.common.kafka.KafkaConnection;
import dev.duoguard.common.registry.RegistryConnection;
import dev.duoguard.common.serde.RegistryAvroSerdes;
import dev.duoguard.common.topics.Topic;
import dev.duoguard.common.topics.Topics;
import dev.duoguard.embedded.EmbeddedKafka;
import dev.duoguard.embedded.EmbeddedRegistry;
import dev.duoguard.lifecycle.ModelKey;
import dev.duoguard.lifecycle.ModelsTopic;
import dev.duoguard.schemas.Category;
import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.schemas.Feedback;
import dev.duoguard.schemas.FeedbackSource;
import dev.duoguard.schemas.ModelStatus;
import dev.duoguard.schemas.ModelVersion;
import dev.duoguard.schemas.Role;
import dev.duoguard.schemas.SafetyLabel;
import dev.duoguard.schemas.Seed;
import dev.duoguard.schemas.Verdict;
import dev.duoguard.streams.app.ModelLocator;
import dev.duoguard.streams.app.StreamsApp;
import dev.duoguard.streams.config.AppConfig;
import dev.duoguard.streams.topology.ModerationListener;
import dev.duoguard.trainer.data.Example;
import dev.duoguard.trainer.eval.Metrics;
import dev.duoguard.trainer.loop.LoopSettings;
import dev.duoguard.trainer.service.IterationDecision;
import dev.duoguard.trainer.service.Publisher;
import dev.duoguard.trainer.service.TrainerService;
import dev.duoguard.trainer.train.TrainPreset;
import dev.duoguard.trainer.train.TrainSettings;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * {@code ./duoguard demo}: the whole DuoGuard cycle on one machine. A real KRaft broker (in this process) and a real
 * schema registry (child process); two streams-app instances serving the default model (v1, ACTIVE on the models
 * topic); the trainer service. Then, with progress shown:
 * <ol>
 *   <li>held-out evaluation traffic is scored by v1;</li>
 *   <li>live traffic is scored and reviewers label it: disagreements and uncertain items become seeds;</li>
 *   <li>enough labelled seeds start one two-player iteration in the trainer service (generator, DPO, classifier
 *       retraining), whose gate compares the candidate with v1 per language and publishes it as CANDIDATE (v2);</li>
 *   <li>both instances shadow-score v2 on live traffic and promote it when it is inside the shadow bounds; both
 *       swap atomically;</li>
 *   <li>the same evaluation traffic is scored by v2; the summary puts v1 and v2 side by side per language.</li>
 * </ol>
 * With {@code iterations} &gt; 1, steps 2-5 repeat (v3, ...) on further slices of the live traffic.
 * Everything is stopped and the temporary data deleted at the end; the summary stays in {@code results}.
 */
public final class ClosedLoopDemo {

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /**
     * @param quick        CI size: small generator budget, fewer shadow samples
     * @param iterations   rounds of the loop; the live traffic is split between them
     * @param rate         messages per second replayed
     * @param shadowBounds min-samples (per instance), min agreement and max unsafe-rate delta for auto-promotion
     * @param model        v1's bundle (null: the project's default bundle)
     * @param results      where summary.json and summary.md are written
     */
    public record Options(
            boolean quick,
            int iterations,
            int rate,
            int classifierEpochs,
            int prompts,
            long shadowSamples,
            double minAgreement,
            double maxUnsafeDelta,
            Path model,
            Path results,
            boolean keep) {}

    private final PrintStream out;
    private final Options o;
    private final long t0 = System.nanoTime();
    /** The management ports' commands need a token: one made for this run, which the demo's POST /iterate sends. */
    private final String adminToken = newAdminToken();

    private final Map<String, Example> sentExamples = new HashMap<>();
    private final Map<String, Verdict> verdicts = new HashMap<>();
    private final Map<String, Integer> seedsByReason = new TreeMap<>();
    private final Map<String, Double> timeline = new LinkedHashMap<>();
    private int duplicates;
    private int sent;

    public ClosedLoopDemo(PrintStream out, Options options) {
        this.out = out;
        this.o = options;
    }

    private String at() {
        return String.format(Locale.ROOT, "[%5.1f s]", (System.nanoTime() - t0) / 1e9);
    }

    private void step(String what) {
        out.println(at() + " ▶ " + what);
    }

    private void mark(String event) {
        timeline.put(event, Math.round((System.nanoTime() - t0) / 1e8) / 10.0);
    }

    public int run() throws Exception {
        Path work = Files.createTempDirectory("duoguard-loop-demo-");
        try (EmbeddedKafka kafka = new EmbeddedKafka(work.resolve("kafka"))) {
            step("starting a single-node Kafka (KRaft) in this process and the schema registry (child process) …");
            kafka.start();
            try (EmbeddedRegistry registry = new EmbeddedRegistry(work).start()) {
                out.println("          broker " + kafka.bootstrapServers() + ", registry " + registry.apiUrl());
                return runWith(kafka, registry, work);
            }
        } finally {
            if (!o.keep()) {
                StreamsDemo.deleteQuietly(work);
            }
            step("stopped the trainer, both streams-app instances, the registry and the broker"
                    + (o.keep() ? "; kept " + work : "; removed " + work));
        }
    }

    private LayeredConfig instanceConfig(
            EmbeddedKafka kafka, EmbeddedRegistry registry, Path work, String name, Path v1) {
        return AppConfig.layered(null, Map.of())
                .with("kafka.bootstrap.servers", kafka.bootstrapServers(), "demo")
                .with("registry.url", registry.apiUrl(), "demo")
                .with("registry.auto-register", "true", "demo") // the demo's own registry: anyone may write
                .with("application.id", "duoguard-demo", "demo")
                .with("state.dir", work.resolve("streams-" + name).toString(), "demo")
                .with("topics.partitions", "2", "demo")
                .with("http.port", "0", "demo")
                .with("http.admin-token", adminToken, "demo")
                .with("model.path", v1.toString(), "demo")
                // the demo's trainer does not sign, and v1 goes on the topic from where it is installed
                .with("models.allow-unsigned", "true", "demo")
                .with("models.artifact-roots", work + "," + v1, "demo")
                .with("shadow.share", "1.0", "demo")
                .with("shadow.min-samples", Long.toString(o.shadowSamples()), "demo")
                .with("shadow.min-agreement", Double.toString(o.minAgreement()), "demo")
                .with("shadow.max-unsafe-rate-delta", Double.toString(o.maxUnsafeDelta()), "demo");
    }

    private int runWith(EmbeddedKafka kafka, EmbeddedRegistry registry, Path work) throws Exception {
        DemoCorpus corpus = DemoCorpus.load();
        Path v1 = o.model() != null ? o.model() : ModelLocator.resolve(null);
        RegistryAvroSerdes serdes = new RegistryAvroSerdes(RegistryConnection.anonymous(registry.apiUrl(), true));

        step("starting streams-app instance A (creates the topics; guardrail.models is compacted) …");
        try (StreamsApp a = StreamsApp.start(instanceConfig(kafka, registry, work, "a", v1), ModerationListener.NONE)) {
            AppConfig c = a.config();
            Topic<String, ModelVersion> modelVersions = Topics.models(c.topics().models(), serdes);
            ModelsTopic models = new ModelsTopic(
                    KafkaConnection.plaintext(kafka.bootstrapServers()),
                    modelVersions.name(),
                    modelVersions.valueDeserializer(),
                    modelVersions.valueSerializer());
            String name = a.model().name();
            String v1Version = a.model().version();
            // the install's model becomes version 1 on the topic: its record, then the ACTIVE pointer to it
            sendModel(
                    kafka,
                    serdes,
                    c.topics().models(),
                    new ModelKey(name, v1Version).toString(),
                    Publisher.describe(v1, ModelStatus.CANDIDATE, List.of()));
            models.promote(name, v1Version, "the install's default model");
            out.println("          v1 = " + new ModelKey(name, v1Version) + " (" + v1 + ") is ACTIVE on "
                    + c.topics().models());
            step("starting instance B (it reads the ACTIVE version from the models topic first) …");
            try (StreamsApp b =
                    StreamsApp.start(instanceConfig(kafka, registry, work, "b", v1), ModerationListener.NONE)) {
                if (!a.awaitRunning(Duration.ofSeconds(90)) || !b.awaitRunning(Duration.ofSeconds(90))) {
                    out.println("✗ Kafka Streams did not reach RUNNING: A " + a.state() + ", B " + b.state());
                    return 1;
                }
                out.printf(
                        "          A serves %s, B serves %s; management ports %s and %s (/metrics, /health/ready)%n",
                        new ModelKey(name, a.model().version()),
                        new ModelKey(name, b.model().version()),
                        a.managementPort().orElse(-1),
                        b.managementPort().orElse(-1));
                mark("streams apps running");
                try (TrainerService trainer = trainer(kafka, serdes, c, work, v1, corpus)) {
                    trainer.start();
                    out.println("          trainer service: management port " + trainer.managementPort()
                            + " (/metrics, POST /iterate)");
                    return cycle(kafka, serdes, c, models, a, b, trainer, corpus, name, v1Version);
                }
            }
        }
    }

    private TrainerService trainer(
            EmbeddedKafka kafka, RegistryAvroSerdes serdes, AppConfig c, Path work, Path v1, DemoCorpus corpus)
            throws IOException {
        // a classifier sized for the demo's data: the tiny shape, more epochs over a few hundred items
        TrainPreset classifier = TrainPreset.scratch(
                "demo",
                "tiny",
                1024,
                new TrainSettings(o.classifierEpochs(), 16, 3e-3f, 0.1f, 0.01f, 1.0f, 64, 17, 50, 100_000),
                Map.of(),
                0,
                false);
        LoopSettings loop = LoopSettings.quick().toBuilder()
                .iterations(1)
                .promptsPerIteration(o.prompts())
                .classifier(classifier)
                .build();
        // iterations start on the demo's POST /iterate only: no seed count or schedule triggers one
        TrainerService.Config config = TrainerService.Config.builder()
                .kafka(KafkaConnection.plaintext(kafka.bootstrapServers()))
                .seedsTopic(c.topics().seeds())
                .modelsTopic(c.topics().models())
                .home(work.resolve("trainer"))
                .artifactStore(work.resolve("artifacts"))
                .activeBundle(v1)
                .loop(loop)
                .baseTrain(corpus.baseTrain())
                .dev(corpus.dev())
                // 15 safe dev items per language: the false-positive rule judges the whole dev set only
                .minSafeItems(
                        (int) corpus.dev().stream().filter(e -> !e.unsafe()).count())
                .minNewSeeds(Integer.MAX_VALUE)
                .noSchedule()
                .managementPort(0)
                .adminToken(adminToken)
                .build();
        Topics topics = Topics.of(c.topics(), serdes);
        return new TrainerService(
                config,
                topics.seeds().valueDeserializer(),
                topics.models().valueSerializer(),
                topics.models().valueDeserializer(),
                new PrometheusRegistry());
    }

    /** What one round of the loop did. */
    private record Round(int round, String outcome, String version, String gate, String shadow) {}

    /**
     * {@code summary.json}: per evaluated version and language the served verdicts' metrics, the rounds, and
     * whether anything was lost, duplicated or attributed to a version that was not ACTIVE.
     */
    private record Summary(
            @JsonProperty("versions_evaluated") List<String> versionsEvaluated,
            Map<String, Map<String, Metrics.Report>> evaluation,
            List<Round> rounds,
            @JsonProperty("messages_in") int messagesIn,
            @JsonProperty("verdicts_out") int verdictsOut,
            long lost,
            int duplicates,
            @JsonProperty("unexpected_version") int unexpectedVersion,
            Map<String, Integer> seeds,
            @JsonProperty("timeline_s") Map<String, Double> timelineSeconds,
            Options options) {}

    private int cycle(
            EmbeddedKafka kafka,
            RegistryAvroSerdes serdes,
            AppConfig c,
            ModelsTopic models,
            StreamsApp a,
            StreamsApp b,
            TrainerService trainer,
            DemoCorpus corpus,
            String name,
            String v1Version)
            throws Exception {
        Map<String, Object> producerConfig = Map.of(
                ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(), ProducerConfig.ACKS_CONFIG, "all");
        Topics topics = Topics.of(c.topics(), serdes);
        try (var messages = new KafkaProducer<>(
                        producerConfig,
                        topics.messages().keySerializer(),
                        topics.messages().valueSerializer());
                var feedback = new KafkaProducer<>(
                        producerConfig,
                        topics.feedback().keySerializer(),
                        topics.feedback().valueSerializer());
                var verdictConsumer = StreamsDemo.consumer(kafka, "verdicts", topics.verdicts());
                var seedConsumer = StreamsDemo.consumer(kafka, "seeds", topics.seeds())) {
            Traffic traffic = new Traffic(messages, feedback, verdictConsumer, seedConsumer, c);
            List<String> evaluated = new ArrayList<>();
            List<Round> rounds = new ArrayList<>();

            step("evaluation traffic (" + corpus.evaluationTraffic().size() + " held-out items, en/fr/es/de) scored "
                    + "by v" + v1Version + " …");
            evaluate(traffic, corpus, v1Version, evaluated);

            String serving = v1Version;
            for (int r = 1; r <= o.iterations(); r++) {
                List<Example> live = slice(corpus.liveTraffic(), r - 1, o.iterations());
                step("round " + r + ": live traffic (" + live.size() + " items) scored by v" + serving + "; reviewers "
                        + "label every item after its verdict (disagreements become MISCLASSIFIED seeds, the "
                        + "uncertainty band UNCERTAIN seeds) …");
                traffic.replay("live" + r, live, true);
                traffic.awaitVerdicts(Duration.ofSeconds(90));
                mark("round " + r + ": live traffic scored and labelled");

                step("round " + r + ": the trainer service stores the seeds; once all are in, the demo asks it for "
                        + "one two-player iteration (POST /iterate, as an operator or a schedule would) …");
                awaitStored(trainer, traffic);
                out.println("          " + post(trainer.managementPort(), "/iterate"));
                long deadline = System.nanoTime() + Duration.ofMinutes(20).toNanos();
                int lastLines = 0;
                while (trainer.state().iterations() < r && System.nanoTime() < deadline) {
                    Thread.sleep(2000);
                    traffic.drain();
                    lastLines = printProgress(trainer, r, lastLines);
                }
                IterationDecision decision = trainer.decision(r).orElse(null);
                if (decision == null) {
                    out.println("✗ the trainer did not finish iteration " + r + " in time (or it failed: see the log); "
                            + "seeds stored: " + trainer.store().count());
                    printSummary(corpus, evaluated, rounds, trainer);
                    return 1;
                }
                mark("round " + r + ": iteration done");
                String gate = decision.reason();
                out.printf(
                        "          iteration %d: %s in %.0f s from %d labelled seeds; gate (against v%s): %s%n",
                        r,
                        decision.outcome().name().toLowerCase(Locale.ROOT),
                        decision.seconds(),
                        decision.labelledSeeds(),
                        serving,
                        gate);
                if (decision.outcome() != IterationDecision.Outcome.PUBLISHED) {
                    out.println("          the gate kept v" + serving + " (the loop working as designed)");
                    rounds.add(new Round(r, "rejected by the gate", null, gate, null));
                    continue;
                }
                String candidate = ModelKey.parse(decision.published()).version();
                out.println("          published " + new ModelKey(name, candidate) + " as CANDIDATE on "
                        + c.topics().models());

                step("round " + r + ": both instances shadow-score v" + candidate + " on live traffic next to v"
                        + serving + " (verdicts still come from v" + serving + ") …");
                ModelVersion verdict = null;
                int shadowRound = 0;
                deadline = System.nanoTime() + Duration.ofMinutes(5).toNanos();
                while (System.nanoTime() < deadline) {
                    if (candidate.equals(a.model().version())
                            && candidate.equals(b.model().version())) {
                        break;
                    }
                    verdict = decided(models, candidate);
                    if (verdict != null && verdict.getStatus() == ModelStatus.FAILED) {
                        break;
                    }
                    traffic.replay("shadow" + r + "." + (shadowRound++), corpus.liveTraffic(), false);
                }
                verdict = decided(models, candidate);
                traffic.awaitVerdicts(Duration.ofSeconds(90));
                if (verdict == null || verdict.getStatus() != ModelStatus.ACTIVE) {
                    String why = verdict == null ? "no decision in time" : String.valueOf(verdict.getStatusReason());
                    out.println("          v" + candidate + " was not promoted: " + why);
                    rounds.add(new Round(r, "not promoted", candidate, gate, why));
                    continue;
                }
                mark("round " + r + ": v" + candidate + " promoted");
                out.println("          " + verdict.getStatusReason());
                out.printf(
                        "          A serves %s, B serves %s%n",
                        new ModelKey(name, a.model().version()),
                        new ModelKey(name, b.model().version()));
                rounds.add(new Round(r, "promoted", candidate, gate, String.valueOf(verdict.getStatusReason())));
                serving = candidate;

                step("the same evaluation traffic scored by v" + serving + " …");
                evaluate(traffic, corpus, serving, evaluated);
            }
            return printSummary(corpus, evaluated, rounds, trainer);
        }
    }

    private void evaluate(Traffic traffic, DemoCorpus corpus, String version, List<String> evaluated) throws Exception {
        traffic.replay("eval-" + version, corpus.evaluationTraffic(), false);
        traffic.awaitVerdicts(Duration.ofSeconds(90));
        evaluated.add(version);
        mark("v" + version + " evaluation traffic scored");
    }

    /** Every {@code n}-th item from {@code offset}: rounds see different live messages, all languages in each. */
    static List<Example> slice(List<Example> items, int offset, int n) {
        List<Example> out = new ArrayList<>();
        for (int i = offset; i < items.size(); i += n) {
            out.add(items.get(i));
        }
        return out;
    }

    /** Waits until the trainer has stored every seed the streams apps wrote (deduplicated: at most that many). */
    private void awaitStored(TrainerService trainer, Traffic traffic) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        long stored = -1;
        int stable = 0;
        while (stable < 3 && System.nanoTime() < deadline) {
            Thread.sleep(1000);
            traffic.drain();
            long now = trainer.store().count();
            stable = now == stored && now > 0 ? stable + 1 : 0;
            stored = now;
        }
        out.printf(
                "%s   seeds on the topic %s; stored by the trainer (deduplicated, redacted) %d%n",
                at(), seedsByReason, stored);
    }

    private static String newAdminToken() {
        byte[] random = new byte[32];
        new SecureRandom().nextBytes(random);
        return Base64.getUrlEncoder().withoutPadding().encodeToString(random);
    }

    private String post(int port, String path) throws Exception {
        var response = HttpClient.newHttpClient()
                .send(
                        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                                .header("Authorization", "Bearer " + adminToken)
                                .POST(HttpRequest.BodyPublishers.noBody())
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
        return "POST " + path + " → " + response.statusCode() + " "
                + response.body().strip();
    }

    /** The newest ACTIVE or FAILED record of {@code version} on the models topic, or null. */
    private static ModelVersion decided(ModelsTopic models, String version) {
        ModelVersion found = null;
        for (ModelsTopic.Entry e : models.read()) {
            ModelVersion v = e.value();
            if (v.getVersion().equals(version)
                    && (v.getStatus() == ModelStatus.ACTIVE || v.getStatus() == ModelStatus.FAILED)) {
                found = v;
            }
        }
        return found;
    }

    /** Prints the iteration's progress log lines written since the last call (the loop's own steps). */
    private int printProgress(TrainerService trainer, int iteration, int printed) throws IOException {
        Path log = trainer.home().resolve("iterations/" + iteration + "/progress.log");
        if (!Files.exists(log)) {
            out.printf(
                    "%s   seeds stored by the trainer: %d%n",
                    at(), trainer.store().count());
            return printed;
        }
        List<String> lines = Files.readAllLines(log);
        for (int i = printed; i < lines.size(); i++) {
            String l = lines.get(i).strip();
            if (l.startsWith("==") || l.contains("kept") || l.contains("dev") || l.contains("DPO")) {
                out.println(at() + "   " + (l.length() > 110 ? l.substring(0, 109) + "…" : l));
            }
        }
        return lines.size();
    }

    /** Sends traffic, labels it, and reads verdicts and seeds back. */
    private final class Traffic {
        private final KafkaProducer<String, ChatMessage> messages;
        private final KafkaProducer<String, Feedback> feedback;
        private final KafkaConsumer<String, Verdict> verdictConsumer;
        private final KafkaConsumer<String, Seed> seedConsumer;
        private final AppConfig c;
        private final Map<String, Example> toLabel = new HashMap<>();

        Traffic(
                KafkaProducer<String, ChatMessage> messages,
                KafkaProducer<String, Feedback> feedback,
                KafkaConsumer<String, Verdict> verdictConsumer,
                KafkaConsumer<String, Seed> seedConsumer,
                AppConfig c) {
            this.messages = messages;
            this.feedback = feedback;
            this.verdictConsumer = verdictConsumer;
            this.seedConsumer = seedConsumer;
            this.c = c;
        }

        void replay(String phase, List<Example> items, boolean label) throws Exception {
            long gap = 1_000_000_000L / Math.max(1, o.rate());
            long next = System.nanoTime();
            int i = 0;
            List<Example> shuffled = new ArrayList<>(items); // languages and labels interleaved, as in real traffic
            Collections.shuffle(shuffled, new Random(phase.hashCode()));
            for (Example e : shuffled) {
                String id = phase + "-" + (i++);
                sentExamples.put(id, e);
                if (label) {
                    toLabel.put(id, e);
                }
                ChatMessage m = ChatMessage.newBuilder()
                        .setMessageId(id)
                        .setConversationId("conv-" + phase + "-" + (i % 37))
                        .setTenant("demo")
                        .setRole(Role.USER)
                        .setText(e.text())
                        .setTimestamp(Instant.now())
                        .build();
                messages.send(new ProducerRecord<>(c.topics().messages(), m.getConversationId(), m));
                sent++;
                next += gap;
                long wait = next - System.nanoTime();
                if (wait > 0) {
                    Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                }
                if (i % 20 == 0) {
                    drain();
                }
            }
            messages.flush();
            drain();
        }

        void drain() {
            for (ConsumerRecord<String, Verdict> r : verdictConsumer.poll(Duration.ofMillis(20))) {
                Verdict v = r.value();
                if (verdicts.put(v.getMessageId(), v) != null) {
                    duplicates++;
                }
                Example e = toLabel.remove(v.getMessageId());
                if (e != null) { // a reviewer answers after the verdict
                    feedback.send(new ProducerRecord<>(
                            c.topics().feedback(),
                            v.getMessageId(),
                            Feedback.newBuilder()
                                    .setMessageId(v.getMessageId())
                                    .setTenant(v.getTenant())
                                    .setLabel(e.unsafe() ? SafetyLabel.UNSAFE : SafetyLabel.SAFE)
                                    .setCategories(e.categories().stream()
                                            .map(x -> Category.valueOf(x.name()))
                                            .toList())
                                    .setSource(FeedbackSource.REVIEW)
                                    .setReviewer("demo-reviewer")
                                    .setTimestamp(Instant.now())
                                    .build()));
                }
            }
            for (ConsumerRecord<String, Seed> r : seedConsumer.poll(Duration.ofMillis(5))) {
                seedsByReason.merge(r.value().getReason().name(), 1, Integer::sum);
            }
        }

        void awaitVerdicts(Duration timeout) throws InterruptedException {
            long deadline = System.nanoTime() + timeout.toNanos();
            long lastPrint = System.nanoTime();
            while ((verdicts.size() < sent || !toLabel.isEmpty()) && System.nanoTime() < deadline) {
                drain();
                if (System.nanoTime() - lastPrint > 5_000_000_000L) {
                    progress();
                    lastPrint = System.nanoTime();
                }
            }
            feedback.flush();
            Thread.sleep(300);
            drain();
            progress();
        }

        void progress() {
            out.printf("%s   messages in %d, verdicts out %d, seeds %s%n", at(), sent, verdicts.size(), seedsByReason);
        }
    }

    /** How a round can end: the gate keeps v1, the shadow bounds keep v1, or the candidate is promoted. */
    static final Set<String> ROUND_OUTCOMES = Set.of("rejected by the gate", "not promoted", "promoted");

    /** Per language, every version that served on the evaluation traffic (labels from the corpus, decisions from
     * the verdicts); exit code 0 when every round ended in one of {@link #ROUND_OUTCOMES} and nothing was lost,
     * duplicated or misattributed. */
    private int printSummary(DemoCorpus corpus, List<String> evaluated, List<Round> rounds, TrainerService trainer)
            throws IOException {
        out.println();
        out.println("── summary ───────────────────────────────────────────────────────────────────────────");
        Map<String, Map<String, Metrics>> byVersion = new LinkedHashMap<>();
        for (String v : evaluated) {
            byVersion.put(v, metricsByLanguage("eval-" + v));
        }
        out.println(
                "held-out evaluation traffic (templates never trained on), unsafe = the served verdict's decision:");
        StringBuilder head = new StringBuilder(String.format("  %-5s %5s", "", ""));
        StringBuilder cols = new StringBuilder(String.format("  %-5s %5s", "lang", "n"));
        for (String v : evaluated) {
            head.append(String.format(" │ %-19s", "v" + v));
            cols.append(String.format(" │ %5s  %5s  %5s", "F1", "rec.", "FPR"));
        }
        out.println(head);
        out.println(cols);
        Map<String, Metrics> first = byVersion.get(evaluated.get(0));
        for (String lang : first.keySet()) {
            StringBuilder row = new StringBuilder(
                    String.format("  %-5s %5d", lang, first.get(lang).n()));
            byVersion.values().forEach(m -> row.append(" │ ").append(m.containsKey(lang) ? cells(m.get(lang)) : ""));
            out.println(row);
        }
        Map<String, String> wrongVersion = servedBy();
        long lost = sentExamples.keySet().stream()
                .filter(id -> !verdicts.containsKey(id))
                .count();
        out.printf(
                "messages in %d, verdicts out %d, lost %d, duplicates %d, verdicts from an unexpected version %d%n",
                sent, verdicts.size(), lost, duplicates, wrongVersion.size());
        out.println("seeds on the seeds topic: " + seedsByReason + "; stored by the trainer (deduplicated): "
                + trainer.store().count());
        for (Round r : rounds) {
            out.println(
                    "round " + r.round() + ": " + r.outcome() + (r.version() == null ? "" : " (v" + r.version() + ")")
                            + "; gate: " + r.gate() + (r.shadow() == null ? "" : "; shadow verdict: " + r.shadow()));
        }
        out.println("timeline (s): " + timeline);

        Map<String, Map<String, Metrics.Report>> evaluation = new LinkedHashMap<>();
        byVersion.forEach((v, m) -> {
            Map<String, Metrics.Report> perLanguage = new LinkedHashMap<>();
            m.forEach((lang, metrics) -> perLanguage.put(lang, metrics.report()));
            evaluation.put(v, perLanguage);
        });
        Summary summary = new Summary(
                evaluated,
                evaluation,
                rounds,
                sent,
                verdicts.size(),
                lost,
                duplicates,
                wrongVersion.size(),
                seedsByReason,
                timeline,
                o);
        Files.createDirectories(o.results());
        JSON.writeValue(o.results().resolve("summary.json").toFile(), summary);
        out.println("written: " + o.results().resolve("summary.json"));
        // whether a candidate is promoted is the models' outcome (the gate or the shadow bounds may rightly keep v1,
        // as they do with the current default as v1); the system failed only if a message was lost, scored twice or
        // attributed to a version that was not ACTIVE, or a round ended in none of the loop's outcomes
        boolean roundsEnded = !rounds.isEmpty() && rounds.stream().allMatch(r -> ROUND_OUTCOMES.contains(r.outcome()));
        return roundsEnded && lost == 0 && duplicates == 0 && wrongVersion.isEmpty() ? 0 : 1;
    }

    /** Evaluation verdicts ({@code eval-<version>-i}) that name another version than the one that was ACTIVE. */
    private Map<String, String> servedBy() {
        Map<String, String> wrong = new TreeMap<>();
        verdicts.forEach((id, v) -> {
            if (id.startsWith("eval-")) {
                String expected = id.substring(5, id.lastIndexOf('-'));
                if (!expected.equals(v.getModelVersion())) {
                    wrong.put(id, v.getModelVersion());
                }
            }
        });
        return wrong;
    }

    private Map<String, Metrics> metricsByLanguage(String phase) {
        Map<String, List<String>> ids = new TreeMap<>();
        sentExamples.forEach((id, e) -> {
            if (id.startsWith(phase + "-") && verdicts.containsKey(id)) {
                ids.computeIfAbsent(e.lang(), k -> new ArrayList<>()).add(id);
                ids.computeIfAbsent("all", k -> new ArrayList<>()).add(id);
            }
        });
        Map<String, Metrics> out = new LinkedHashMap<>();
        ids.forEach((lang, list) -> {
            float[] scores = new float[list.size()];
            boolean[] unsafe = new boolean[list.size()];
            for (int i = 0; i < list.size(); i++) {
                scores[i] = verdicts.get(list.get(i)).getUnsafe() ? 1f : 0f;
                unsafe[i] = sentExamples.get(list.get(i)).unsafe();
            }
            out.put(lang, Metrics.of(scores, unsafe, 0.5));
        });
        return out;
    }

    private static String cells(Metrics m) {
        return String.format(Locale.ROOT, "%5.1f  %5.1f  %5.1f", 100 * m.f1(), 100 * m.recall(), 100 * m.fpr());
    }

    private static void sendModel(
            EmbeddedKafka kafka, RegistryAvroSerdes serdes, String topic, String key, ModelVersion value)
            throws Exception {
        try (var p = new KafkaProducer<>(
                Map.<String, Object>of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()),
                new StringSerializer(),
                serdes.value(ModelVersion.class).serializer())) {
            p.send(new ProducerRecord<>(topic, key, value)).get();
        }
    }
}
