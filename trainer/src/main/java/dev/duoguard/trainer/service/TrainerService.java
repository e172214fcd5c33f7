package dev.duoguard.trainer.service;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.duoguard.common.http.AdminToken;
import dev.duoguard.common.http.ManagementServer;
import dev.duoguard.common.kafka.KafkaConnection;
import dev.duoguard.common.redact.Redactor;
import dev.duoguard.common.topics.Topics;
import dev.duoguard.lifecycle.BundleSignature;
import dev.duoguard.lifecycle.ModelKey;
import dev.duoguard.lifecycle.ModelsTopic;
import dev.duoguard.lifecycle.TrustedArtifacts;
import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.runtime.onnx.ExecutionDevice;
import dev.duoguard.runtime.scoring.GuardrailModel;
import dev.duoguard.schemas.ModelVersion;
import dev.duoguard.schemas.Seed;
import dev.duoguard.trainer.data.DevHoldout;
import dev.duoguard.trainer.data.Example;
import dev.duoguard.trainer.engine.Gradients;
import dev.duoguard.trainer.eval.Evaluator;
import dev.duoguard.trainer.loop.GeneratorStore;
import dev.duoguard.trainer.loop.LoopSettings;
import dev.duoguard.trainer.loop.TwoPlayerLoop;
import dev.duoguard.trainer.train.Calibration;
import dev.duoguard.trainer.train.TrainPreset;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The trainer service ({@code ./duoguard trainer}): stores seeds from {@code guardrail.seeds} ({@link SeedIngest}),
 * runs one two-player iteration at a time when enough new labelled seeds have arrived, when the schedule says so
 * (and there is anything new), or on command ({@code POST /iterate} on the management port); gates the candidate
 * against the active model ({@link EvaluationGate}); publishes it ({@link Publisher}). Each iteration's artifacts,
 * the gate's decision and the numbers stay under {@code home/iterations/N}; the service's own state
 * ({@code state.json}: iterations run, when the last one started, the last version published) survives restarts.
 *
 * <p>The generator is one player across iterations and restarts, as in the paper's loop: {@code home/generator} (a
 * {@link GeneratorStore}) keeps the newest {@code keepGenerators} generators (from scratch: the model and its
 * tokenizer; from a checkpoint: its LoRA adapters in PEFT layout, or the whole checkpoint with full DPO) and the newest
 * {@code maxGeneratedSamples} accepted generated samples. Each iteration continues the newest generator and retrains
 * the classifier on the base data, the seeds and those samples; what it generates and its DPO update are kept
 * whatever the gate decides (the gate judges the classifier). A store made for another generator (kind, base
 * checkpoint, LoRA shape) stops the start; moving {@code home/generator} away starts the generator over.
 */
public final class TrainerService implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(TrainerService.class);
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /**
     * Build it with {@link #builder()}: it names the defaults, and {@link Builder#build()} says which value is wrong.
     *
     * @param home          seed store, iterations and state
     * @param activeBundle  the install's model: the name published under, and the gate's yardstick until the models
     *                      topic names a newer ACTIVE version of it (then that version is, see {@link #yardstick})
     * @param baseTrain     the classifier's training data besides the seeds (the configured seed datasets)
     * @param dev           the dev set the gate compares on, per language: no training step of an iteration sees
     *                      its items or their translations ({@code baseTrain} must hold none; seeds that repeat one
     *                      are kept out of training, see {@link DevHoldout})
     * @param minNewSeeds   labelled seeds stored since the last iteration that start one
     * @param interval      an iteration also starts this long after the last one when any new seed has arrived;
     *                      null: no schedule
     * @param retention     stored seeds older than this are deleted
     * @param redact        e-mails, phone and card numbers are redacted before a seed is stored
     * @param gateMargin    the largest F1 drop in any language the gate allows
     * @param fprMargin     the largest rise in false-positive rate the gate allows in any language with at least
     *                      {@code minSafeItems} safe dev items, and on the whole dev set (see {@link EvaluationGate})
     * @param minSafeItems  safe dev items a language needs for its false-positive rate to be judged; the dev set
     *                      must have at least this many in all
     * @param managementPort {@code /metrics}, health and {@code POST /iterate}; 0: any free port
     * @param managementBind the address the management port listens on
     * @param adminToken     what {@code POST /iterate} requires; without one it is disabled
     * @param keepGenerators the newest generators {@code home/generator} keeps (at least 1: the one continued)
     * @param maxGeneratedSamples accepted generated samples {@code home/generator} keeps, the newest
     * @param signingKey    the Ed25519 private key ({@code NAME.key}, its {@code NAME.pub} beside it) that signs
     *                      every published bundle; null: candidates are published unsigned, and instances refuse
     *                      them unless they allow unsigned bundles
     */
    public record Config(
            KafkaConnection kafka,
            String seedsTopic,
            String modelsTopic,
            String groupId,
            Path home,
            Path artifactStore,
            Path activeBundle,
            LoopSettings loop,
            int keepGenerators,
            int maxGeneratedSamples,
            List<Example> baseTrain,
            List<Example> dev,
            int minNewSeeds,
            Duration interval,
            Duration retention,
            boolean redact,
            double gateMargin,
            double fprMargin,
            int minSafeItems,
            int managementPort,
            String managementBind,
            AdminToken adminToken,
            Path signingKey) {

        public static final String DEFAULT_GROUP_ID = "duoguard-trainer";
        public static final int DEFAULT_MIN_NEW_SEEDS = 50;
        public static final Duration DEFAULT_INTERVAL = Duration.ofHours(6);
        public static final Duration DEFAULT_RETENTION = Duration.ofDays(30);
        public static final double DEFAULT_GATE_MARGIN = 0.02;
        public static final double DEFAULT_FPR_MARGIN = EvaluationGate.DEFAULT_FPR_MARGIN;
        public static final int DEFAULT_MIN_SAFE_ITEMS = EvaluationGate.DEFAULT_MIN_SAFE_ITEMS;
        public static final int DEFAULT_MANAGEMENT_PORT = 9091;
        /** This host only: deployments that probe or scrape from outside set {@code 0.0.0.0}. */
        public static final String DEFAULT_MANAGEMENT_BIND = "127.0.0.1";
        /** Where the trainer's admin token is set (named when {@code /iterate} is refused). */
        public static final String ADMIN_TOKEN_SOURCE =
                "env DUOGUARD_TRAINER_HTTP_ADMIN_TOKEN, or --admin-token-file / DUOGUARD_TRAINER_HTTP_ADMIN_TOKEN_FILE";

        /**
         * Required: {@code kafka}, {@code home}, {@code artifactStore}, {@code activeBundle}, {@code loop},
         * {@code baseTrain} and a non-empty {@code dev}. The rest defaults to the {@code DEFAULT_*} constants
         * and the topics to {@link Topics.Names#DEFAULTS} (the CLI's defaults), with redaction on.
         */
        public static Builder builder() {
            return new Builder();
        }

        /** Builds a {@link Config}; see {@link Config#builder()} for what is required. */
        public static final class Builder {
            private KafkaConnection kafka;
            private String seedsTopic = Topics.Names.DEFAULTS.seeds();
            private String modelsTopic = Topics.Names.DEFAULTS.models();
            private String groupId = DEFAULT_GROUP_ID;
            private Path home;
            private Path artifactStore;
            private Path activeBundle;
            private LoopSettings loop;
            private int keepGenerators = GeneratorStore.DEFAULT_KEEP;
            private int maxGeneratedSamples = GeneratorStore.DEFAULT_MAX_SAMPLES;
            private List<Example> baseTrain;
            private List<Example> dev;
            private int minNewSeeds = DEFAULT_MIN_NEW_SEEDS;
            private Duration interval = DEFAULT_INTERVAL;
            private Duration retention = DEFAULT_RETENTION;
            private boolean redact = true;
            private double gateMargin = DEFAULT_GATE_MARGIN;
            private double fprMargin = DEFAULT_FPR_MARGIN;
            private int minSafeItems = DEFAULT_MIN_SAFE_ITEMS;
            private int managementPort = DEFAULT_MANAGEMENT_PORT;
            private String managementBind = DEFAULT_MANAGEMENT_BIND;
            private String adminToken;
            private Path signingKey;

            private Builder() {}

            /** The Kafka cluster and how to authenticate to it (every client of the service uses it); required. */
            public Builder kafka(KafkaConnection v) {
                kafka = v;
                return this;
            }

            public Builder seedsTopic(String v) {
                seedsTopic = v;
                return this;
            }

            public Builder modelsTopic(String v) {
                modelsTopic = v;
                return this;
            }

            /** The seed consumer's group. */
            public Builder groupId(String v) {
                groupId = v;
                return this;
            }

            /** Seed store, iterations and state; required. */
            public Builder home(Path v) {
                home = v;
                return this;
            }

            /** Where published bundles go (a local directory or a shared volume); required. */
            public Builder artifactStore(Path v) {
                artifactStore = v;
                return this;
            }

            /** The install's model bundle; required. */
            public Builder activeBundle(Path v) {
                activeBundle = v;
                return this;
            }

            /** The two-player loop an iteration runs (with one iteration, whatever {@code loop} says); required. */
            public Builder loop(LoopSettings v) {
                loop = v;
                return this;
            }

            /** The newest generators kept in {@code home/generator}; at least 1. */
            public Builder keepGenerators(int v) {
                keepGenerators = v;
                return this;
            }

            /** Accepted generated samples kept in {@code home/generator} (the newest); at least 1. */
            public Builder maxGeneratedSamples(int v) {
                maxGeneratedSamples = v;
                return this;
            }

            /** The classifier's training data besides the seeds; required (empty: the seeds alone). */
            public Builder baseTrain(List<Example> v) {
                baseTrain = v;
                return this;
            }

            /** The dev set the gate compares on; required, not empty. */
            public Builder dev(List<Example> v) {
                dev = v;
                return this;
            }

            public Builder minNewSeeds(int v) {
                minNewSeeds = v;
                return this;
            }

            /** An iteration also starts this long after the last one when any new seed has arrived. */
            public Builder interval(Duration v) {
                interval = v;
                return this;
            }

            /** Iterations start on new seeds and on command only. */
            public Builder noSchedule() {
                interval = null;
                return this;
            }

            public Builder retention(Duration v) {
                retention = v;
                return this;
            }

            public Builder redact(boolean v) {
                redact = v;
                return this;
            }

            public Builder gateMargin(double v) {
                gateMargin = v;
                return this;
            }

            /** The largest rise in false-positive rate the gate allows in a judged language (0.02: 2 points). */
            public Builder fprMargin(double v) {
                fprMargin = v;
                return this;
            }

            /** Safe dev items from which a language's false-positive rate is judged. */
            public Builder minSafeItems(int v) {
                minSafeItems = v;
                return this;
            }

            /** 0: any free port. */
            public Builder managementPort(int v) {
                managementPort = v;
                return this;
            }

            /** The address the management port listens on. */
            public Builder managementBind(String v) {
                managementBind = v;
                return this;
            }

            /** What {@code POST /iterate} requires (at least {@value AdminToken#MIN_LENGTH} characters); null: off. */
            public Builder adminToken(String v) {
                adminToken = v;
                return this;
            }

            /** The private key that signs published bundles; none: they are published unsigned. */
            public Builder signingKey(Path v) {
                signingKey = v;
                return this;
            }

            /** @throws IllegalArgumentException naming every value that is missing or out of range */
            public Config build() {
                List<String> problems = new ArrayList<>();
                if (kafka == null) {
                    problems.add("kafka (the cluster's bootstrap servers and security) is required");
                }
                requireText(problems, "seedsTopic", seedsTopic);
                requireText(problems, "modelsTopic", modelsTopic);
                requireText(problems, "groupId", groupId);
                if (home == null) {
                    problems.add("home (seed store, iterations and state) is required");
                }
                if (artifactStore == null) {
                    problems.add("artifactStore is required");
                }
                if (activeBundle == null) {
                    problems.add("activeBundle (the install's model) is required");
                }
                if (loop == null) {
                    problems.add("loop (the LoopSettings an iteration runs) is required");
                }
                if (keepGenerators < 1) {
                    problems.add("keepGenerators must be at least 1, the generator the next iteration continues (got "
                            + keepGenerators + ")");
                }
                if (maxGeneratedSamples < 1) {
                    problems.add("maxGeneratedSamples must be at least 1 (got " + maxGeneratedSamples + ")");
                }
                if (baseTrain == null) {
                    problems.add("baseTrain is required (an empty list trains on the seeds alone)");
                }
                if (dev == null || dev.isEmpty()) {
                    problems.add("dev must not be empty: the gate compares candidate and active model on it");
                }
                if (minNewSeeds < 1) {
                    problems.add("minNewSeeds must be at least 1 (got " + minNewSeeds + ")");
                }
                if (interval != null && (interval.isNegative() || interval.isZero())) {
                    problems.add(
                            "interval must be positive (got " + interval + "); noSchedule() turns the schedule off");
                }
                if (retention == null || retention.isNegative() || retention.isZero()) {
                    problems.add("retention must be positive (got " + retention + ")");
                }
                if (!(gateMargin >= 0 && gateMargin < 1)) {
                    problems.add("gateMargin is an F1 difference, from 0 up to 1 (got " + gateMargin + ")");
                }
                if (!(fprMargin >= 0 && fprMargin < 1)) {
                    problems.add(
                            "fprMargin is a false-positive rate difference, from 0 up to 1 (got " + fprMargin + ")");
                }
                if (minSafeItems < 1) {
                    problems.add("minSafeItems must be at least 1 (got " + minSafeItems + ")");
                } else if (dev != null && !dev.isEmpty()) {
                    long safe = dev.stream().filter(e -> !e.unsafe()).count();
                    if (safe < minSafeItems) {
                        problems.add("dev has " + safe + " safe items: the gate judges false-positive rates from "
                                + minSafeItems + " (minSafeItems), so it could never accept a candidate");
                    }
                }
                if (dev != null && baseTrain != null) {
                    List<Example> seen = new DevHoldout(dev).split(baseTrain).dev();
                    if (!seen.isEmpty()) {
                        problems.add("baseTrain holds " + seen.size() + " dev items or items of a dev item's group "
                                + "(same text or group key), e.g. '"
                                + seen.get(0).id() + "': the gate must judge "
                                + "on items no training step saw");
                    }
                }
                if (managementPort < 0 || managementPort > 65535) {
                    problems.add("managementPort must be 0 (any free port) to 65535 (got " + managementPort + ")");
                }
                requireText(problems, "managementBind", managementBind);
                AdminToken token = null;
                try {
                    token = AdminToken.of(adminToken, ADMIN_TOKEN_SOURCE);
                } catch (IllegalArgumentException e) {
                    problems.add(e.getMessage());
                }
                if (!problems.isEmpty()) {
                    throw new IllegalArgumentException(
                            "invalid trainer service configuration: " + String.join("; ", problems));
                }
                return new Config(
                        kafka,
                        seedsTopic,
                        modelsTopic,
                        groupId,
                        home,
                        artifactStore,
                        activeBundle,
                        loop,
                        keepGenerators,
                        maxGeneratedSamples,
                        List.copyOf(baseTrain),
                        List.copyOf(dev),
                        minNewSeeds,
                        interval,
                        retention,
                        redact,
                        gateMargin,
                        fprMargin,
                        minSafeItems,
                        managementPort,
                        managementBind,
                        token,
                        signingKey);
            }

            private static void requireText(List<String> problems, String key, String value) {
                if (value == null || value.isBlank()) {
                    problems.add(key + " is required (got " + (value == null ? "none" : "'" + value + "'") + ")");
                }
            }
        }
    }

    /** Persistent state. */
    public record State(int iterations, long lastIterationStartedAt, int lastPublishedVersion) {}

    private final Config c;
    private final ModelsTopic modelsTopic;
    private final SeedStore store;
    private final GeneratorStore generatorStore;
    private final DevHoldout devHoldout;
    private final SeedIngest ingest;
    private final TrustedArtifacts ownVersions;
    private final Publisher publisher;
    private final Producer<String, ModelVersion> producer;
    private final ManagementServer management;
    private final ExecutorService iterations =
            Executors.newSingleThreadExecutor(r -> new Thread(r, "trainer-iteration"));
    private final ScheduledExecutorService scheduler =
            Executors.newSingleThreadScheduledExecutor(r -> new Thread(r, "trainer-scheduler"));
    private final Thread ingestThread;
    private final AtomicBoolean running = new AtomicBoolean();
    private final Counter iterationsTotal;
    private volatile State state;
    private volatile Future<?> current;
    private volatile boolean started;

    public TrainerService(
            Config config,
            Deserializer<Seed> seeds,
            Serializer<ModelVersion> models,
            Deserializer<ModelVersion> modelReader,
            PrometheusRegistry registry)
            throws IOException {
        this.c = config;
        this.devHoldout = new DevHoldout(c.dev());
        this.modelsTopic = new ModelsTopic(c.kafka(), c.modelsTopic(), modelReader, models);
        this.store = new SeedStore(c.home().resolve("seeds"), c.redact() ? new Redactor() : null);
        this.state = readState();
        this.generatorStore =
                GeneratorStore.open(generatorHome(c.home()), c.loop(), c.keepGenerators(), c.maxGeneratedSamples());
        this.ingest = new SeedIngest(
                c.kafka(), c.groupId(), c.seedsTopic(), seeds, store, c.home().resolve("rejected"));
        Map<String, Object> p = c.kafka().clientProperties();
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        this.producer = new KafkaProducer<>(p, new StringSerializer(), models);
        BundleSignature.Signer signer = signer(c.signingKey());
        this.publisher = new Publisher(c.artifactStore(), producer, c.modelsTopic(), signer);
        this.ownVersions = ownVersions(c, signer);
        this.iterationsTotal = Counter.builder()
                .name("duoguard_trainer_iterations_total")
                .help("two-player iterations by outcome")
                .labelNames("outcome")
                .register(registry);
        GaugeWithCallback.builder()
                .name("duoguard_trainer_seeds_stored")
                .help("seeds in the store")
                .callback(cb -> cb.call(safeCount()))
                .register(registry);
        GaugeWithCallback.builder()
                .name("duoguard_trainer_iteration_running")
                .help("1 while an iteration runs")
                .callback(cb -> cb.call(running.get() ? 1 : 0))
                .register(registry);
        GaugeWithCallback.builder()
                .name("duoguard_trainer_seed_records")
                .help("seed records consumed, by result")
                .labelNames("result")
                .callback(cb -> ingest.counts().forEach((k, v) -> cb.call(v, k)))
                .register(registry);
        this.ingestThread = new Thread(ingest, "seed-ingest");
        this.management = new ManagementServer(
                c.managementBind(),
                c.managementPort(),
                c.adminToken(),
                registry,
                () -> !ingestThread.isAlive() && started ? "seed ingestion stopped (see the log)" : null,
                () -> null);
        management.adminCommand("/iterate", query -> iterateNow("operator command"));
    }

    public void start() {
        ingestThread.start();
        started = true;
        scheduler.scheduleWithFixedDelay(this::checkTriggers, 2, 2, TimeUnit.SECONDS);
        log.info(
                "trainer service: seeds from {}, models to {}, management port on {} (POST /iterate {}), store {}",
                c.seedsTopic(),
                c.modelsTopic(),
                management.address(),
                c.adminToken().configured() ? "needs the admin token" : "disabled: no admin token",
                c.home());
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

    /** Where the service keeps its generator and the samples it produced: {@code home/generator}. */
    public static Path generatorHome(Path home) {
        return home.resolve("generator");
    }

    public GeneratorStore generatorStore() {
        return generatorStore;
    }

    public State state() {
        return state;
    }

    /** Iteration {@code n}'s decision, once it has one (a failed iteration has none). */
    public Optional<IterationDecision> decision(int n) throws IOException {
        Path f = c.home().resolve("iterations").resolve(Integer.toString(n)).resolve(IterationDecision.FILE);
        return Files.exists(f) ? Optional.of(IterationDecision.read(f)) : Optional.empty();
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
                int rejected = ingest.purgeRejected(c.retention(), Instant.now());
                if (rejected > 0) {
                    log.info(
                            "retention: deleted {} undecodable seed records kept more than {} ago",
                            rejected,
                            c.retention());
                }
            }
            long fresh = newLabelledSeeds();
            if (fresh >= c.minNewSeeds()) {
                iterateNow(fresh + " new labelled seeds");
            } else if (fresh > 0
                    && c.interval() != null
                    && Instant.now().toEpochMilli() - state.lastIterationStartedAt()
                            >= c.interval().toMillis()) {
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
        int lastPublished = state.lastPublishedVersion();
        try {
            Gradients.gradModeOffForThisThread();
            Files.createDirectories(dir);
            log.info("iteration {} starts ({})", n, why);
            List<Example> labelled = store.labelledExamples(c.loop().languages());
            // a seed that repeats a dev item (live traffic can) trains nothing: the gate judges on dev
            DevHoldout.Split split = devHoldout.split(labelled);
            List<Example> seeds = split.unseen();
            if (!split.dev().isEmpty()) {
                log.info(
                        "iteration {}: {} labelled seeds repeat dev items and are kept out of training",
                        n,
                        split.dev().size());
            }
            if (seeds.isEmpty()) {
                outcome = "skipped";
                new IterationDecision(
                                n,
                                why,
                                labelled.size(),
                                split.dev().size(),
                                null,
                                null,
                                null,
                                null,
                                null,
                                IterationDecision.Outcome.SKIPPED,
                                labelled.isEmpty() ? "no labelled seeds" : "every labelled seed repeats a dev item",
                                seconds(started))
                        .write(dir.resolve(IterationDecision.FILE));
                return;
            }
            List<Example> train = new ArrayList<>(c.baseTrain());
            train.addAll(seeds);
            List<TwoPlayerLoop.Iteration> result;
            List<Evaluator.Row> active;
            // resolved before training: the candidate is calibrated for the yardstick's target false-positive rate
            Path yardstick = yardstick();
            ModelBundle activeBundle;
            try {
                TrainPreset preset = c.loop().classifier();
                double targetFpr = Calibration.recordedTargetFpr(
                                ModelBundle.open(yardstick).manifest())
                        .orElse(preset.targetFpr());
                LoopSettings one = c.loop().toBuilder()
                        .iterations(1)
                        .classifier(preset.withTargetFpr(targetFpr))
                        .build();
                try (PrintStream progress = new PrintStream(Files.newOutputStream(dir.resolve("progress.log")), true)) {
                    result = new TwoPlayerLoop(one, dir.resolve("loop"), null, generatorStore, progress)
                            .run(seeds, train, c.dev());
                }
                try (GuardrailModel m = GuardrailModel.load(yardstick, ExecutionDevice.CPU, 2, 64)) {
                    active = new Evaluator(m, 64, 20)
                            .run(Map.of("dev", c.dev()), 0)
                            .rows();
                    activeBundle = m.bundle();
                }
            } finally {
                ownVersions.discard(yardstick); // a verified copy (the install's bundle is left alone)
            }
            TwoPlayerLoop.Iteration candidate = result.get(result.size() - 1);
            EvaluationGate.Decision gate =
                    new EvaluationGate(c.gateMargin(), c.fprMargin(), c.minSafeItems()).decide(active, candidate.dev());
            String yardstickKey = new ModelKey(
                            activeBundle.manifest().name(),
                            activeBundle.manifest().version())
                    .toString();
            IterationDecision decision;
            if (gate.publish()) {
                int version = Math.max(parseVersion(activeBundle.manifest().version()), lastPublished) + 1;
                ModelVersion mv = publisher.publish(
                        candidate.bundle(), activeBundle.manifest().name(), Integer.toString(version), candidate.dev());
                lastPublished = version; // the state keeps it even if writing the decision fails
                decision = new IterationDecision(
                        n,
                        why,
                        labelled.size(),
                        split.dev().size(),
                        gate,
                        yardstickKey,
                        ModelKey.of(mv).toString(),
                        mv.getArtifactUri(),
                        mv.getSha256(),
                        IterationDecision.Outcome.PUBLISHED,
                        gate.reason(),
                        seconds(started));
                outcome = "published";
            } else {
                decision = new IterationDecision(
                        n,
                        why,
                        labelled.size(),
                        split.dev().size(),
                        gate,
                        yardstickKey,
                        null,
                        null,
                        null,
                        IterationDecision.Outcome.REJECTED,
                        gate.reason(),
                        seconds(started));
                outcome = "rejected";
            }
            // on disk before the state says the iteration is done: a reader waiting on the state (the closed-loop
            // demo) finds it
            decision.write(dir.resolve(IterationDecision.FILE));
            state = new State(n, started, lastPublished);
            log.info("iteration {} {}: {}", n, outcome, gate.reason());
        } catch (Exception | Error e) { // an Error too (a native library that fails to load): the future would hide it
            log.error("iteration {} failed; the active model is unchanged", n, e);
            state = new State(n, started, lastPublished);
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

    private static BundleSignature.Signer signer(Path key) {
        if (key == null) {
            log.warn("no signing key: candidates are published unsigned, and instances refuse them unless "
                    + "models.allow-unsigned=true");
            return null;
        }
        return BundleSignature.Signer.load(key);
    }

    /**
     * How the trainer reads back versions from the models topic, which anyone who can write the topic controls:
     * like an instance ({@link TrustedArtifacts}), from a verified private copy, but trusting only its own artifact
     * store and its own signing key (without one it publishes unsigned, and accepts unsigned versions from its
     * store). A version signed by another key is not a yardstick here: the one before it is.
     */
    private static TrustedArtifacts ownVersions(Config c, BundleSignature.Signer signer) throws IOException {
        Files.createDirectories(c.artifactStore());
        return new TrustedArtifacts(
                signer == null ? Map.of() : signer.trusted(),
                List.of(c.artifactStore()),
                signer == null,
                c.home().resolve("yardstick-copies"));
    }

    /**
     * The model the streams apps serve now: a verified copy of the newest {@link ModelsTopic#servable servable}
     * version of the install's model on the models topic that passes {@link #ownVersions}, else the install's
     * bundle.
     */
    Path yardstick() {
        String name = ModelBundle.open(c.activeBundle()).manifest().name();
        for (ModelVersion mv : modelsTopic.servable(name)) {
            try {
                return ownVersions.fetch(mv);
            } catch (RuntimeException e) {
                log.warn("ACTIVE {} does not verify here ({}); trying the one before", ModelKey.of(mv), e.getMessage());
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

    private static double seconds(long startedMillis) {
        return (System.currentTimeMillis() - startedMillis) / 1000.0;
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
        Files.move(
                tmp,
                c.home().resolve("state.json"),
                StandardCopyOption.ATOMIC_MOVE,
                StandardCopyOption.REPLACE_EXISTING);
    }

    @Override
    public void close() {
        scheduler.shutdownNow();
        ingest.close();
        iterations.shutdownNow();
        try {
            ingestThread.join(10_000);
            iterations.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt(); // closing anyway: the producer and the port below still close
        }
        producer.close();
        management.close();
    }
}
