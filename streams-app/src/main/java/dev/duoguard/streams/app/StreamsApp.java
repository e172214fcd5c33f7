package dev.duoguard.streams.app;

import dev.duoguard.common.config.ConfigException;
import dev.duoguard.common.config.LayeredConfig;
import dev.duoguard.common.http.AdminToken;
import dev.duoguard.common.http.ManagementServer;
import dev.duoguard.common.serde.AvroSerdes;
import dev.duoguard.common.serde.RegistryAvroSerdes;
import dev.duoguard.common.topics.Topic;
import dev.duoguard.common.topics.Topics;
import dev.duoguard.lifecycle.BundleSignature;
import dev.duoguard.lifecycle.ModelsTopic;
import dev.duoguard.lifecycle.ShadowStats;
import dev.duoguard.lifecycle.TrustedArtifacts;
import dev.duoguard.runtime.language.LanguageDetection;
import dev.duoguard.runtime.language.LanguageIdentifier;
import dev.duoguard.runtime.scoring.DynamicBatcher;
import dev.duoguard.runtime.scoring.GuardrailModel;
import dev.duoguard.runtime.scoring.Scorer;
import dev.duoguard.schemas.ModelVersion;
import dev.duoguard.schemas.SeedReason;
import dev.duoguard.schemas.Verdict;
import dev.duoguard.streams.api.ModerationApi;
import dev.duoguard.streams.config.AppConfig;
import dev.duoguard.streams.metrics.KafkaStreamsCollector;
import dev.duoguard.streams.metrics.ModerationMetrics;
import dev.duoguard.streams.model.AttemptMarkers;
import dev.duoguard.streams.model.ModelSlot;
import dev.duoguard.streams.model.ModelWatcher;
import dev.duoguard.streams.model.Shadow;
import dev.duoguard.streams.topology.DeadLetter;
import dev.duoguard.streams.topology.GuardrailTopology;
import dev.duoguard.streams.topology.ModerationListener;
import dev.duoguard.streams.topology.Moderator;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The streams app's lifecycle: load and verify the model, validate the configuration, build the topology, start
 * Kafka Streams and the management port. {@link #close()} stops everything in reverse order.
 *
 * <p>Health: {@link #liveness} (the management port's {@code /health/live}) reports a problem when Kafka Streams
 * is in ERROR or stopped without {@link #close}, or the model watcher is closed, dead or stuck; a pod that is not
 * live is restarted. {@link #readiness} ({@code /health/ready}) requires Kafka Streams RUNNING; the model is loaded
 * before the port opens, so a started app always has one.
 */
public final class StreamsApp implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(StreamsApp.class);

    private final AppConfig config;
    private final ModelSlot slot;
    private final ModerationMetrics metrics;
    private final KafkaStreams streams;
    private final AttemptMarkers markers;
    /** Where verified copies of topic versions live (null when the models topic is not followed). */
    private final TrustedArtifacts artifacts;
    /** What {@link #liveness} checks: each says what is wrong, or nothing. */
    private final List<Supplier<Optional<String>>> livenessChecks = new ArrayList<>();

    private ManagementServer http;
    private LanguageDetection languages;
    private volatile ModerationApi api;
    private volatile ModelWatcher watcher;
    private volatile Throwable lastError;
    /** The batcher of the model serving now (replaced by {@link #swapModel}). */
    private volatile DynamicBatcher serving;

    private volatile boolean closing;

    private StreamsApp(
            AppConfig config,
            ModelSlot slot,
            ModerationMetrics metrics,
            KafkaStreams streams,
            AttemptMarkers markers,
            TrustedArtifacts artifacts,
            DynamicBatcher serving) {
        this.config = config;
        this.slot = slot;
        this.metrics = metrics;
        this.streams = streams;
        this.markers = markers;
        this.artifacts = artifacts;
        this.serving = serving;
        livenessChecks.add(this::streamsProblem);
        livenessChecks.add(() -> watcher == null ? Optional.empty() : watcher.problem());
        livenessChecks.add(() -> serving.problem());
        livenessChecks.add(() -> api == null ? Optional.empty() : api.problem());
    }

    /** Starts the app; {@code extra} observes moderation events next to the metrics (the demo's progress). */
    public static StreamsApp start(LayeredConfig raw, ModerationListener extra) {
        String modelPath = raw.string("model.path");
        Path bundle = ModelLocator.resolve(modelPath.isBlank() ? null : Path.of(modelPath));
        // the configuration does not depend on the model (BLOCK follows whichever model scores), so it is
        // validated in full before the model loads
        AppConfig config = AppConfig.from(raw);
        AdminToken adminToken = adminToken(config.management());
        if (config.createTopics()) {
            ensureTopics(config);
        }
        PrometheusRegistry registry = new PrometheusRegistry();
        ModerationMetrics metrics = new ModerationMetrics(registry);
        RegistryAvroSerdes serdes = new RegistryAvroSerdes(config.registry());
        RegistrySchemas.check(serdes, config.topics()); // before the model loads: a missing schema stops us at once
        AttemptMarkers markers = new AttemptMarkers(config.stateDir());
        TrustedArtifacts artifacts = config.watchModels() ? trustedArtifacts(config) : null;
        GuardrailModel model = config.watchModels()
                ? StartupModel.load(
                        bundle,
                        modelsTopic(config, serdes),
                        markers,
                        artifacts::fetch,
                        b -> loadOrDiscard(config, artifacts, b),
                        e -> metrics.modelEvent(e.label()))
                : loadModel(config, bundle);
        DynamicBatcher scorer = null;
        LanguageDetection languages = null;
        ManagementServer http = null;
        StreamsApp started = null;
        try {
            log.info("serving {} on {}", model.bundle(), model.model().device());
            // the processor already waits up to max-wait to fill a batch; the batcher only coalesces across stream
            // threads
            scorer = new DynamicBatcher(
                    model,
                    config.scoring().maxBatch(),
                    Duration.ofMillis(1),
                    config.scoring().timeout());
            scorer.onBatch(metrics::modelCall);
            metrics.model(scorer.model());
            languages = languageDetection(config.languages());
            DynamicBatcher batcher = scorer;
            ModelSlot slot = new ModelSlot(scorer, closing(artifacts, batcher, model));
            Moderator moderator = new Moderator(slot, languages, config.policy());
            registerShadowMetrics(registry, slot);
            var topology = GuardrailTopology.build(
                    GuardrailTopology.Settings.from(config), moderator, serdes, both(metrics, extra));
            KafkaStreams streams = new KafkaStreams(topology, streamsProperties(config));
            registry.register(new KafkaStreamsCollector(streams::metrics));
            StreamsApp app = new StreamsApp(config, slot, metrics, streams, markers, artifacts, scorer);
            app.languages = languages;
            started = app;
            registerBatcherMetrics(registry, app);
            if (config.management().port() >= 0) {
                http = new ManagementServer(
                        config.management().bind(),
                        config.management().port(),
                        adminToken,
                        registry,
                        () -> app.readiness().orElse(null),
                        () -> app.liveness().orElse(null));
                app.http = http;
                log.info(
                        "management port on {}: commands {}",
                        http.address(),
                        adminToken.configured() ? "need the admin token" : "disabled (no admin token)");
            }
            streams.setUncaughtExceptionHandler(e -> {
                log.error("stream thread failed; replacing it (buffered messages are restored from the changelog)", e);
                app.lastError = e;
                return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.REPLACE_THREAD;
            });
            streams.start();
            if (config.watchModels()) {
                app.watch(serdes, artifacts);
            }
            if (config.api().port() >= 0) {
                try {
                    app.api = ModerationApi.start(
                            config.api(), config.kafka(), serdes, config.topics(), config.maxTextChars(), registry);
                } catch (IOException e) {
                    throw new UncheckedIOException(
                            "cannot open the moderation endpoint (api.bind, api.port): " + e.getMessage(), e);
                }
            }
            return app;
        } catch (IOException e) {
            // as below: once the app exists it owns Kafka Streams (created, not started) and everything else
            closeQuietly(
                    started != null
                            ? new AutoCloseable[] {started}
                            : new AutoCloseable[] {http, scorer, model, pool(languages)});
            throw new UncheckedIOException("cannot open the management port: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            // once the app exists it owns Kafka Streams, the watcher, the port and the model: close them all
            closeQuietly(
                    started != null
                            ? new AutoCloseable[] {started}
                            : new AutoCloseable[] {http, scorer, model, pool(languages)});
            throw e;
        }
    }

    /** The token the management port's commands require, checked before anything starts. */
    private static AdminToken adminToken(AppConfig.Management m) {
        String source = "config key http.admin-token or http.admin-token.file, env DUOGUARD_HTTP_ADMIN_TOKEN or "
                + "DUOGUARD_HTTP_ADMIN_TOKEN_FILE";
        try {
            return AdminToken.of(m.adminToken() == null ? null : m.adminToken().value(), source);
        } catch (IllegalArgumentException e) {
            throw new ConfigException(e.getMessage());
        }
    }

    /**
     * How versions from the models topic are checked and copied (into {@code <state.dir>/model-copies}) before they are
     * served. The bundle given by {@code model.path} is the operator's own file, like this configuration, and is
     * not checked this way.
     */
    private static TrustedArtifacts trustedArtifacts(AppConfig config) {
        AppConfig.ModelSources m = config.modelSources();
        TrustedArtifacts artifacts = new TrustedArtifacts(
                BundleSignature.trustedKeys(m.trustedKeys()),
                m.artifactRoots(),
                m.allowUnsigned(),
                config.stateDir().resolve("model-copies"));
        if (m.allowUnsigned()) {
            log.warn(
                    "models.allow-unsigned=true: model versions without a trusted signature will be served ({})",
                    artifacts.describe());
        } else {
            log.info("model versions from the models topic: {}", artifacts.describe());
        }
        return artifacts;
    }

    private static void closeQuietly(AutoCloseable... resources) {
        for (AutoCloseable r : resources) {
            if (r != null) {
                try {
                    r.close();
                } catch (Exception ignored) {
                    // already failing: keep the original exception
                }
            }
        }
    }

    public static Properties streamsProperties(AppConfig c) {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, c.applicationId());
        p.putAll(c.kafka().clientProperties()); // bootstrap.servers and the client security settings
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, c.processingGuarantee());
        p.put(StreamsConfig.STATE_DIR_CONFIG, c.stateDir().toString());
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, c.processingGuarantee().startsWith("exactly") ? 100 : 1000);
        p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, -1); // the broker's default
        // no time synchronisation across a task's partitions: the scoring and reply tasks read one partition each,
        // and Kafka Streams' check before every record (PartitionGroup.readyToProcess, a set allocated per call)
        // took 14 % of the stream thread at capacity (docs/pipeline-profile.md). What it costs the feedback join:
        // after an outage, the sparse feedback side can run ahead in stream time and verdicts older than the join
        // window + grace are dropped from the join (fewer MISCLASSIFIED seeds; never a verdict); streams.max.task.
        // idle.ms=0 restores Kafka's default.
        p.put(StreamsConfig.MAX_TASK_IDLE_MS_CONFIG, StreamsConfig.MAX_TASK_IDLE_MS_DISABLED);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.MAX_POLL_RECORDS_CONFIG), 500);
        p.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), 5);
        if (c.processingGuarantee().startsWith("exactly")) {
            // flushes and registry waits are validated against this (AppConfig.checkWaitsAreBounded)
            p.put(StreamsConfig.producerPrefix(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG), (int)
                    AppConfig.TRANSACTION_TIMEOUT_MS);
        }
        // one bounded block cache and write buffer manager for all RocksDB stores (the feedback join's windows)
        p.put(StreamsConfig.ROCKSDB_CONFIG_SETTER_CLASS_CONFIG, BoundedRocksDbMemory.class);
        p.put(BoundedRocksDbMemory.TOTAL_BYTES_CONFIG, c.rocksDb().totalBytes());
        p.put(BoundedRocksDbMemory.WRITE_BUFFER_BYTES_CONFIG, c.rocksDb().writeBufferBytes());
        p.putAll(c.streamsOverrides());
        return p;
    }

    private static GuardrailModel loadModel(AppConfig c, Path bundle) {
        // the incremental graph only serves reply caches: without them it would be a second copy of the weights
        return GuardrailModel.load(
                bundle,
                c.device(),
                c.modelThreads(),
                c.scoring().maxBatch(),
                c.replies().decoderCache());
    }

    /** Loads a version's verified copy; a copy that does not load is removed (the version is marked FAILED). */
    private static GuardrailModel loadOrDiscard(AppConfig c, TrustedArtifacts artifacts, Path copy) {
        try {
            return loadModel(c, copy);
        } catch (RuntimeException | Error e) {
            if (artifacts != null) {
                artifacts.discard(copy);
            }
            throw e;
        }
    }

    /**
     * What to close when {@code model} is retired: its batcher, the model, then the verified copy it was loaded
     * from, so an instance holds copies only of the models it serves or shadows.
     */
    private static AutoCloseable closing(TrustedArtifacts artifacts, AutoCloseable batcher, GuardrailModel model) {
        return () -> {
            closeQuietly(batcher, model);
            if (artifacts != null) {
                artifacts.discard(model.bundle().directory());
            }
        };
    }

    private static ModelsTopic modelsTopic(AppConfig c, AvroSerdes serdes) {
        Topic<String, ModelVersion> models = Topics.models(c.topics().models(), serdes);
        return new ModelsTopic(c.kafka(), models.name(), models.valueDeserializer(), models.valueSerializer())
                .schemaIds(serdes.schemaIds());
    }

    /** The serving model's batcher: how often it replaced a dead or hung worker, how many model calls failed. */
    private static void registerBatcherMetrics(PrometheusRegistry registry, StreamsApp app) {
        GaugeWithCallback.builder()
                .name("duoguard_batcher_worker_restarts")
                .help("worker threads of the serving model's batcher replaced after they died (since it was loaded)")
                .callback(cb -> cb.call(app.serving.workerRestarts()))
                .register(registry);
        GaugeWithCallback.builder()
                .name("duoguard_batcher_queued")
                .help("texts waiting in the serving model's batcher for a model call")
                .callback(cb -> cb.call(app.serving.queued()))
                .register(registry);
        GaugeWithCallback.builder()
                .name("duoguard_batcher_abandoned_workers")
                .help("worker threads of the serving model's batcher abandoned in a model call nobody waited for")
                .callback(cb -> cb.call(app.serving.abandonedWorkers()))
                .register(registry);
        GaugeWithCallback.builder()
                .name("duoguard_batcher_failed_batches")
                .help("model calls of the serving model's batcher that failed (each failing exactly its batch)")
                .callback(cb -> cb.call(app.serving.failedBatches()))
                .register(registry);
        GaugeWithCallback.builder()
                .name("duoguard_shadow_dropped_batches")
                .help("batches the shadow candidate's queue could not take at once, so were not shadowed")
                .labelNames("version")
                .callback(cb -> {
                    Shadow sh = app.slot.shadow();
                    if (sh != null) {
                        cb.call(sh.stats().droppedBatches(), sh.version().getVersion());
                    }
                })
                .register(registry);
    }

    /** The shadow candidate's comparisons per language, while there is one. */
    private static void registerShadowMetrics(PrometheusRegistry registry, ModelSlot slot) {
        GaugeWithCallback.builder()
                .name("duoguard_shadow_items")
                .help("items the shadow candidate scored, by language")
                .labelNames("version", "language")
                .callback(cb -> shadowStats(slot, (v, lang, x) -> cb.call(x.compared(), v, lang)))
                .register(registry);
        GaugeWithCallback.builder()
                .name("duoguard_shadow_agreement")
                .help("share of items where candidate and active model agree on unsafe")
                .labelNames("version", "language")
                .callback(cb -> shadowStats(slot, (v, lang, x) -> cb.call(x.agreement(), v, lang)))
                .register(registry);
        GaugeWithCallback.builder()
                .name("duoguard_shadow_unsafe_rate")
                .help("unsafe rate of the active model and of the candidate on shadowed items")
                .labelNames("version", "language", "model")
                .callback(cb -> shadowStats(slot, (v, lang, x) -> {
                    cb.call(x.activeUnsafeRate(), v, lang, "active");
                    cb.call(x.candidateUnsafeRate(), v, lang, "candidate");
                }))
                .register(registry);
        GaugeWithCallback.builder()
                .name("duoguard_shadow_category_rate")
                .help("share of shadowed items on which the active model and the candidate fire each category")
                .labelNames("version", "category", "model")
                .callback(cb -> {
                    Shadow sh = slot.shadow();
                    if (sh != null) {
                        sh.stats().categories().forEach((c, v) -> {
                            cb.call(v.activeRate(), sh.version().getVersion(), c, "active");
                            cb.call(v.candidateRate(), sh.version().getVersion(), c, "candidate");
                        });
                    }
                })
                .register(registry);
        GaugeWithCallback.builder()
                .name("duoguard_shadow_latency_ms")
                .help("mean time the candidate takes per shadowed batch")
                .labelNames("version")
                .callback(cb -> {
                    Shadow sh = slot.shadow();
                    double latencyMs = sh == null ? Double.NaN : sh.stats().meanLatencyMs();
                    if (!Double.isNaN(latencyMs)) {
                        cb.call(latencyMs, sh.version().getVersion());
                    }
                })
                .register(registry);
    }

    private interface ShadowRow {
        void accept(String version, String language, ShadowStats.Language stats);
    }

    private static void shadowStats(ModelSlot slot, ShadowRow row) {
        Shadow sh = slot.shadow();
        if (sh != null) {
            sh.stats().languages().forEach((lang, x) -> row.accept(sh.version().getVersion(), lang, x));
        }
    }

    /** Loads a verified candidate for shadow scoring (its own session and batcher; closed with the shadow). */
    private Shadow loadShadow(ModelVersion mv, Path bundle) {
        GuardrailModel candidate = loadOrDiscard(config, artifacts, bundle);
        DynamicBatcher batcher = new DynamicBatcher(
                candidate,
                config.scoring().maxBatch(),
                Duration.ofMillis(1),
                config.scoring().timeout());
        return new Shadow(mv, batcher, closing(artifacts, batcher, candidate));
    }

    /** Starts following the models topic (rolling upgrades: ACTIVE pointers are loaded and swapped in). */
    private void watch(AvroSerdes serdes, TrustedArtifacts artifacts) {
        Topic<String, ModelVersion> models = Topics.models(config.topics().models(), serdes);
        ModelWatcher w = new ModelWatcher(
                        config.kafka(),
                        models.name(),
                        models.valueDeserializer(),
                        models.valueSerializer(),
                        slot.model().name(),
                        this::swapModel,
                        () -> slot.model().version())
                .onEvent(e -> metrics.modelEvent(e.label()))
                .markingAttempts(markers)
                .fetchingWith(artifacts::fetch)
                .schemaIds(serdes.schemaIds());
        AppConfig.Shadowing sh = config.shadow();
        slot.shadowShare(sh.share());
        w.shadowing(
                slot,
                this::loadShadow,
                new ShadowStats.Bounds(sh.minSamples(), sh.minAgreement(), sh.maxUnsafeRateDelta()),
                sh.autoPromote());
        if (http != null) {
            ModelsTopic topic = modelsTopic(config, serdes);
            String name = slot.model().name();
            http.adminCommand("/models/promote", query -> {
                String version = ManagementServer.queryParameter(query, "version");
                if (version == null) {
                    throw new IllegalArgumentException("usage: POST /models/promote?version=V");
                }
                return topic.promote(name, version, "promoted via the management port")
                                .getVersion() + " is ACTIVE";
            });
            http.adminCommand("/models/rollback", query -> topic.rollback(name).getVersion() + " is ACTIVE again");
        }
        watcher = w.start();
    }

    static void ensureTopics(AppConfig c) {
        try (Admin admin = Admin.create(c.kafka().clientProperties())) {
            Set<String> existing = admin.listTopics().names().get(30, TimeUnit.SECONDS);
            List<NewTopic> missing = new ArrayList<>();
            Topics.Names names = c.topics();
            for (String t : names.all()) {
                boolean models = t.equals(names.models());
                if (existing.contains(t) || models && !c.watchModels()) {
                    continue;
                }
                // the models topic: one partition keeps the order of a model's records; compaction keeps each
                // key's latest
                missing.add(
                        models
                                ? new NewTopic(t, Optional.of(1), Optional.empty())
                                        .configs(Map.of("cleanup.policy", "compact"))
                                : new NewTopic(t, Optional.of(c.topicPartitions()), Optional.empty()));
            }
            if (!missing.isEmpty()) {
                // instances starting together race to create the same topics: one that another instance created
                // in between is there, which is all this wants
                List<String> created = new ArrayList<>();
                for (var e : admin.createTopics(missing).values().entrySet()) {
                    try {
                        e.getValue().get(30, TimeUnit.SECONDS);
                        created.add(e.getKey());
                    } catch (ExecutionException ex) {
                        if (!(ex.getCause() instanceof TopicExistsException)) {
                            throw ex;
                        }
                    }
                }
                log.info("created topics {}", created);
            }
        } catch (Exception e) {
            throw new IllegalStateException("cannot check or create topics at " + c.kafka() + ": " + e.getMessage(), e);
        }
    }

    private static ModerationListener both(ModerationListener a, ModerationListener b) {
        if (b == null || b == ModerationListener.NONE) {
            return a;
        }
        return new ModerationListener() {
            @Override
            public void verdict(Verdict v) {
                a.verdict(v);
                b.verdict(v);
            }

            @Override
            public void deadLetter(DeadLetter reason, String topic) {
                a.deadLetter(reason, topic);
                b.deadLetter(reason, topic);
            }

            @Override
            public void seed(SeedReason reason) {
                a.seed(reason);
                b.seed(reason);
            }

            @Override
            public void failClosed(DeadLetter reason) {
                a.failClosed(reason);
                b.failClosed(reason);
            }

            @Override
            public void batch(int messages, long micros) {
                a.batch(messages, micros);
                b.batch(messages, micros);
            }

            @Override
            public void openReplies(int delta) {
                a.openReplies(delta);
                b.openReplies(delta);
            }

            @Override
            public void replyStop() {
                a.replyStop();
                b.replyStop();
            }

            @Override
            public void replyFinal(boolean incomplete) {
                a.replyFinal(incomplete);
                b.replyFinal(incomplete);
            }

            @Override
            public void replyChunk(String kind) {
                a.replyChunk(kind);
                b.replyChunk(kind);
            }
        };
    }

    /** Blocks until Kafka Streams is RUNNING or the timeout passes. */
    public boolean awaitRunning(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            KafkaStreams.State s = streams.state();
            if (s == KafkaStreams.State.RUNNING) {
                return true;
            }
            if (s == KafkaStreams.State.ERROR || s == KafkaStreams.State.NOT_RUNNING) {
                return false;
            }
            Thread.sleep(50);
        }
        return false;
    }

    public KafkaStreams.State state() {
        return streams.state();
    }

    /** Why this instance should be restarted, if it should (the management port's {@code /health/live}). */
    public Optional<String> liveness() {
        List<String> problems = livenessChecks.stream()
                .map(Supplier::get)
                .flatMap(Optional::stream)
                .toList();
        return problems.isEmpty() ? Optional.empty() : Optional.of(String.join("; ", problems));
    }

    /** Why this instance should not count as serving yet, if so ({@code /health/ready}). */
    public Optional<String> readiness() {
        KafkaStreams.State s = streams.state();
        return s == KafkaStreams.State.RUNNING ? Optional.empty() : Optional.of("kafka streams is " + s);
    }

    /**
     * Kafka Streams in ERROR, or stopped although nobody closed the app. REBALANCING and CREATED are normal
     * (the latter while starting); a stream thread that fails is replaced, which only ERROR ends.
     */
    private Optional<String> streamsProblem() {
        KafkaStreams.State s = streams.state();
        if (s == KafkaStreams.State.ERROR || s == KafkaStreams.State.PENDING_ERROR) {
            return Optional.of("kafka streams is " + s + (lastError == null ? "" : " (last error: " + lastError + ")"));
        }
        if (!closing && (s == KafkaStreams.State.NOT_RUNNING || s == KafkaStreams.State.PENDING_SHUTDOWN)) {
            return Optional.of("kafka streams is " + s + " but the app was not closed");
        }
        return Optional.empty();
    }

    /** The models-topic watcher, when {@code models.watch} is on. */
    public Optional<ModelWatcher> watcher() {
        return Optional.ofNullable(watcher);
    }

    public AppConfig config() {
        return config;
    }

    public Scorer.ModelIdentity model() {
        return slot.model();
    }

    /**
     * Loads {@code bundle} (verified: checksums, ONNX signature, 12 categories) while the current model keeps
     * serving, then swaps it in atomically; the retired model is closed when its last batch finishes. A bundle
     * that fails to load throws and leaves the current model serving. Returns the retired model's identity.
     */
    public synchronized Scorer.ModelIdentity swapModel(Path bundle) {
        GuardrailModel next = loadOrDiscard(config, artifacts, bundle);
        DynamicBatcher batcher;
        try {
            batcher = new DynamicBatcher(
                    next,
                    config.scoring().maxBatch(),
                    Duration.ofMillis(1),
                    config.scoring().timeout());
        } catch (RuntimeException e) { // not swapped in: nothing else will close it
            closeQuietly(closing(artifacts, null, next));
            throw e;
        }
        batcher.onBatch(metrics::modelCall);
        Scorer.ModelIdentity retired = slot.swap(batcher, closing(artifacts, batcher, next));
        serving = batcher;
        metrics.model(batcher.model());
        return retired;
    }

    /** The moderation endpoint's port, when {@code api.port} is set. */
    public Optional<Integer> apiPort() {
        return Optional.ofNullable(api).map(ModerationApi::port);
    }

    public Optional<Integer> managementPort() {
        return Optional.ofNullable(http).map(ManagementServer::port);
    }

    public Throwable lastError() {
        return lastError;
    }

    @Override
    public void close() {
        closing = true;
        if (api != null) {
            api.close();
        }
        if (watcher != null) {
            watcher.close();
        }
        streams.close(Duration.ofSeconds(30));
        closeQuietly(pool(languages));
        if (http != null) {
            http.close();
        }
        slot.close();
    }

    /**
     * Lingua per {@code language.*}: off, on the stream thread ({@code language.threads=0}), or on threads of its own.
     * Detection is the pipeline's largest CPU cost per message (docs/pipeline-profile.md).
     */
    static LanguageDetection languageDetection(AppConfig.Languages c) {
        if (!c.detect()) {
            return LanguageDetection.off();
        }
        LanguageIdentifier lingua = new LanguageIdentifier(c.codes(), c.lowAccuracy());
        return c.threads() == 0
                ? LanguageDetection.each(lingua::detect)
                : LanguageDetection.parallel(lingua::detect, c.threads());
    }

    /** The detection's threads to stop, if it has any. */
    private static AutoCloseable pool(LanguageDetection languages) {
        return languages instanceof AutoCloseable c ? c : null;
    }
}
