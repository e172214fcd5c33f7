package dev.duoguard.trainer.service;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.duoguard.common.http.ManagementServer;
import dev.duoguard.lifecycle.ModelArtifacts;
import dev.duoguard.lifecycle.ModelKey;
import dev.duoguard.lifecycle.ModelsTopic;
import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.runtime.onnx.ExecutionDevice;
import dev.duoguard.runtime.scoring.GuardrailModel;
import dev.duoguard.schemas.ModelVersion;
import dev.duoguard.schemas.Seed;
import dev.duoguard.trainer.data.Example;
import dev.duoguard.trainer.engine.Gradients;
import dev.duoguard.trainer.eval.Evaluator;
import dev.duoguard.trainer.loop.LoopSettings;
import dev.duoguard.trainer.loop.TwoPlayerLoop;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The trainer service ({@code ./duoguard trainer}): stores seeds from {@code guardrail.seeds} ({@link SeedIngest}),
 * runs one two-player iteration at a time when enough new labelled seeds have arrived, when the schedule says so
 * (and there is anything new), or on command ({@code POST /iterate} on the management port); gates the candidate
 * against the active model ({@link EvaluationGate}); publishes it ({@link Publisher}). Each iteration's artifacts,
 * the gate's decision and the numbers stay under {@code home/iterations/N}; the service's own state
 * ({@code state.json}: iterations run, when the last one started, the last version published) survives restarts.
 */
public final class TrainerService implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(TrainerService.class);
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /**
     * @param home          seed store, iterations and state
     * @param activeBundle  the install's model: the name published under, and the gate's yardstick until the models
     *                      topic names a newer ACTIVE version of it (then that version is, see {@link #yardstick})
     * @param baseTrain     the classifier's training data besides the seeds (the configured seed datasets)
     * @param dev           the dev set the gate compares on, per language
     * @param minNewSeeds   labelled seeds stored since the last iteration that start one
     * @param interval      an iteration also starts this long after the last one when any new seed has arrived
     */
    public record Config(String bootstrap, String seedsTopic, String modelsTopic, String groupId, Path home,
                         Path artifactStore, Path activeBundle, LoopSettings loop, List<Example> baseTrain,
                         List<Example> dev, int minNewSeeds, Duration interval, Duration retention, boolean redact,
                         double gateMargin, int managementPort) {
    }

    /** Persistent state. */
    public record State(int iterations, long lastIterationStartedAt, int lastPublishedVersion) {
    }

    private final Config c;
    private final Deserializer<ModelVersion> modelReader;
    private final SeedStore store;
    private final SeedIngest ingest;
    private final Publisher publisher;
    private final Producer<String, ModelVersion> producer;
    private final ManagementServer management;
    private final ExecutorService iterations = Executors.newSingleThreadExecutor(r -> new Thread(r, "trainer-iteration"));
    private final ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor(
            r -> new Thread(r, "trainer-scheduler"));
    private final Thread ingestThread;
    private final AtomicBoolean running = new AtomicBoolean();
    private final Counter iterationsTotal;
    private volatile State state;
    private volatile Future<?> current;
    private volatile boolean started;

    public TrainerService(Config config, Deserializer<Seed> seeds, Serializer<ModelVersion> models,
                          Deserializer<ModelVersion> modelReader, PrometheusRegistry registry) throws IOException {
        this.c = config;
        this.modelReader = modelReader;
        this.store = new SeedStore(c.home().resolve("seeds"), c.redact() ? new Redactor() : null);
        this.state = readState();
        this.ingest = new SeedIngest(c.bootstrap(), c.groupId(), c.seedsTopic(), seeds, store, c.home().resolve("rejected"));
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, c.bootstrap());
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        this.producer = new KafkaProducer<>(p, new StringSerializer(), models);
        this.publisher = new Publisher(c.artifactStore(), producer, c.modelsTopic());
        this.iterationsTotal = Counter.builder().name("duoguard_trainer_iterations_total")
                .help("two-player iterations by outcome").labelNames("outcome").register(registry);
        GaugeWithCallback.builder().name("duoguard_trainer_seeds_stored").help("seeds in the store")
                .callback(cb -> cb.call(safeCount())).register(registry);
        GaugeWithCallback.builder().name("duoguard_trainer_iteration_running").help("1 while an iteration runs")
                .callback(cb -> cb.call(running.get() ? 1 : 0)).register(registry);
        GaugeWithCallback.builder().name("duoguard_trainer_seed_records").help("seed records consumed, by result")
                .labelNames("result").callback(cb -> ingest.counts().forEach((k, v) -> cb.call(v, k))).register(registry);
        this.ingestThread = new Thread(ingest, "seed-ingest");
        this.management = new ManagementServer(c.managementPort(), registry,
                () -> !ingestThread.isAlive() && started ? "seed ingestion stopped (see the log)" : null);
        management.command("/iterate", query -> iterateNow("operator command"));
    }

    public void start() {
        ingestThread.start();
        started = true;
        scheduler.scheduleWithFixedDelay(this::checkTriggers, 2, 2, TimeUnit.SECONDS);
        log.info("trainer service: seeds from {}, models to {}, management port {}, store {}", c.seedsTopic(),
                c.modelsTopic(), management.port(), c.home());
    }

    public int managementPort() {
        return management.port();
    }

    /** Seed store, iterations (each with progress.log and decision.json) and state.json. */
    public Path home() {
        return c.home();
    }

    public SeedStore store() {
        return store;
    }

    public State state() {
        return state;
    }

    /** Starts an iteration unless one is running; says which. */
    public synchronized String iterateNow(String why) {
        if (current != null && !current.isDone()) {
            return "an iteration is already running";
        }
        current = iterations.submit(() -> runIteration(why));
        return "iteration " + (state.iterations() + 1) + " started (" + why + ")";
    }

    /** Waits for the running iteration, if any. */
    public void awaitIteration(Duration timeout) throws Exception {
        Future<?> f = current;
        if (f != null) {
            f.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    private void checkTriggers() {
        try {
            if (c.retention() != null) {
                int purged = store.purge(c.retention(), Instant.now());
                if (purged > 0) {
                    log.info("retention: deleted {} seeds stored more than {} ago", purged, c.retention());
                }
            }
            long fresh = newLabelledSeeds();
            if (fresh >= c.minNewSeeds()) {
                iterateNow(fresh + " new labelled seeds");
            } else if (fresh > 0 && c.interval() != null
                    && Instant.now().toEpochMilli() - state.lastIterationStartedAt() >= c.interval().toMillis()) {
                iterateNow("schedule");
            }
        } catch (Exception e) {
            log.warn("trigger check failed: {}", e.toString());
        }
    }

    private long newLabelledSeeds() {
        return store.labelledStoredAfter(state.lastIterationStartedAt());
    }

    private void runIteration(String why) {
        running.set(true);
        long started = System.currentTimeMillis();
        int n = state.iterations() + 1;
        Path dir = c.home().resolve("iterations").resolve(Integer.toString(n));
        String outcome = "failed";
        try {
            Gradients.gradModeOffForThisThread();
            Files.createDirectories(dir);
            log.info("iteration {} starts ({})", n, why);
            List<Example> seeds = new ArrayList<>();
            for (SeedStore.Stored s : store.all()) {
                Example e = s.toExample();
                if (e != null) {
                    seeds.add(e);
                }
            }
            if (seeds.isEmpty()) {
                outcome = "skipped";
                writeJson(dir.resolve("decision.json"), Map.of("outcome", outcome, "reason", "no labelled seeds"));
                return;
            }
            List<Example> train = new ArrayList<>(c.baseTrain());
            train.addAll(seeds);
            List<TwoPlayerLoop.Iteration> result;
            try (PrintStream progress = new PrintStream(Files.newOutputStream(dir.resolve("progress.log")), true)) {
                LoopSettings one = withIterations(c.loop(), 1);
                result = new TwoPlayerLoop(one, dir.resolve("loop"), null, progress).run(seeds, train, c.dev());
            }
            TwoPlayerLoop.Iteration candidate = result.get(result.size() - 1);
            List<Evaluator.Row> active;
            Path yardstick = yardstick();
            try (GuardrailModel m = GuardrailModel.load(yardstick, ExecutionDevice.CPU, 2, 64)) {
                active = new Evaluator(m, 64, 20).run(Map.of("dev", c.dev()), 0).rows();
            }
            EvaluationGate.Decision decision = new EvaluationGate(c.gateMargin()).decide(active, candidate.dev());
            ObjectNode record = JSON.createObjectNode();
            record.put("iteration", n);
            record.put("trigger", why);
            record.put("labelled_seeds", seeds.size());
            record.set("gate", JSON.valueToTree(decision));
            ModelBundle activeBundle = ModelBundle.open(yardstick);
            record.put("yardstick", new ModelKey(activeBundle.manifest().name(), activeBundle.manifest().version()).toString());
            if (decision.publish()) {
                int version = Math.max(parseVersion(activeBundle.manifest().version()), state.lastPublishedVersion()) + 1;
                ModelVersion mv = publisher.publish(candidate.bundle(), activeBundle.manifest().name(),
                        Integer.toString(version), candidate.dev());
                record.put("published", ModelKey.of(mv).toString());
                record.put("artifact_uri", mv.getArtifactUri());
                record.put("sha256", mv.getSha256());
                state = new State(n, started, version);
                outcome = "published";
            } else {
                state = new State(n, started, state.lastPublishedVersion());
                outcome = "rejected";
            }
            record.put("outcome", outcome);
            record.put("seconds", (System.currentTimeMillis() - started) / 1000.0);
            writeJson(dir.resolve("decision.json"), record);
            log.info("iteration {} {}: {}", n, outcome, decision.reason());
        } catch (Exception | Error e) {   // an Error too (a native library that fails to load): the future would hide it
            log.error("iteration {} failed; the active model is unchanged", n, e);
            state = new State(n, started, state.lastPublishedVersion());
        } finally {
            iterationsTotal.labelValues(outcome).inc();
            try {
                writeState();
            } catch (IOException e) {
                log.error("cannot write trainer state", e);
            }
            running.set(false);
        }
    }

    /**
     * The model the streams apps serve now: the newest ACTIVE version of the install's model on the models topic
     * that verifies (what the instances serve: {@link ModelArtifacts#verify}), else the install's bundle.
     */
    Path yardstick() {
        String name = ModelBundle.open(c.activeBundle()).manifest().name();
        List<ModelVersion> history = ModelsTopic.activeHistory(c.bootstrap(), c.modelsTopic(), modelReader, name);
        for (int i = history.size() - 1; i >= 0; i--) {
            try {
                return ModelArtifacts.verify(history.get(i));
            } catch (RuntimeException e) {
                log.warn("ACTIVE {} does not verify here ({}); trying the one before", ModelKey.of(history.get(i)),
                        e.getMessage());
            }
        }
        return c.activeBundle();
    }

    static int parseVersion(String v) {
        try {
            return Integer.parseInt(v.replaceFirst("^v", ""));
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    static LoopSettings withIterations(LoopSettings s, int k) {
        return new LoopSettings(k, s.languages(), s.promptsPerIteration(), s.samples(), s.temperature(),
                s.maxNewTokens(), s.beta(), s.rpoAlpha(), s.dpoLearningRate(), s.dpoEpochs(), s.dpo(), s.synthetic(),
                s.hardOnly(), s.generatorShape(), s.generatorVocab(), s.generatorEpochs(), s.generatorLearningRate(),
                s.maxSeedItems(), s.classifier(), s.seed());
    }

    private double safeCount() {
        return store.count();
    }

    private State readState() throws IOException {
        Path f = c.home().resolve("state.json");
        return Files.exists(f) ? JSON.readValue(f.toFile(), State.class) : new State(0, 0, 0);
    }

    private void writeState() throws IOException {
        Path tmp = c.home().resolve("state.json.tmp");
        JSON.writeValue(tmp.toFile(), state);
        Files.move(tmp, c.home().resolve("state.json"), java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    private static void writeJson(Path f, Object value) throws IOException {
        JSON.writeValue(f.toFile(), value);
    }

    @Override
    public void close() throws Exception {
        scheduler.shutdownNow();
        ingest.close();
        ingestThread.join(10_000);
        iterations.shutdownNow();
        iterations.awaitTermination(10, TimeUnit.SECONDS);
        producer.close();
        management.close();
    }
}
