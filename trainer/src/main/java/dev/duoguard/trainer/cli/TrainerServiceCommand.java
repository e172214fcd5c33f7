package dev.duoguard.trainer.cli;

import dev.duoguard.common.config.LayeredConfig;
import dev.duoguard.common.config.SecretValue;
import dev.duoguard.common.kafka.KafkaConnection;
import dev.duoguard.common.registry.RegistryConnection;
import dev.duoguard.common.serde.RegistryAvroSerdes;
import dev.duoguard.common.topics.Topic;
import dev.duoguard.common.topics.Topics;
import dev.duoguard.schemas.ModelVersion;
import dev.duoguard.schemas.Seed;
import dev.duoguard.trainer.loop.GeneratorStore;
import dev.duoguard.trainer.loop.LoopSettings;
import dev.duoguard.trainer.service.TrainerService;
import dev.duoguard.trainer.train.ClassifierTraining;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(
        name = "trainer",
        mixinStandardHelpOptions = true,
        description = {
            "The trainer service: stores seeds from guardrail.seeds (deduplicated, redacted, with",
            "retention), runs one two-player iteration at a time (enough new seeds, a schedule, or",
            "POST /iterate on the management port), gates the candidate against the active model per",
            "language and publishes it (artifact store + a CANDIDATE ModelVersion on guardrail.models).",
            "The generator (from scratch, or --generator-from with LoRA adapters) and the samples it produced",
            "carry over from one iteration to the next and across restarts (HOME/generator)."
        })
final class TrainerServiceCommand implements Callable<Integer> {

    @Option(
            names = "--kafka-config",
            description = "properties file with the kafka.* keys (bootstrap servers and client security) and the"
                    + " registry.* keys (URL, credentials, truststore) (default: $DUOGUARD_KAFKA_CONFIG_FILE);"
                    + " DUOGUARD_KAFKA_* and DUOGUARD_REGISTRY_* environment variables win over it")
    Path kafkaConfig;

    @Option(names = "--bootstrap", description = "Kafka bootstrap servers (default: kafka.bootstrap.servers)")
    String bootstrap;

    @Option(names = "--registry", description = "schema registry URL (default: registry.url)")
    String registry;

    @Option(names = "--seeds-topic", defaultValue = "${env:" + Topics.Names.SEEDS_ENV + ":-" + Topics.Names.SEEDS + "}")
    String seedsTopic;

    @Option(
            names = "--models-topic",
            defaultValue = "${env:" + Topics.Names.MODELS_ENV + ":-" + Topics.Names.MODELS + "}")
    String modelsTopic;

    @Option(names = "--group", defaultValue = "${env:DUOGUARD_TRAINER_GROUP:-duoguard-trainer}")
    String group;

    @Option(
            names = "--home",
            defaultValue = "${env:DUOGUARD_TRAINER_HOME:-runs/trainer-service}",
            description = "seed store, iterations, state")
    Path home;

    @Option(
            names = "--artifacts",
            defaultValue = "${env:DUOGUARD_ARTIFACT_STORE:-artifacts}",
            description = "artifact store directory (local or a shared volume)")
    Path artifacts;

    @Option(
            names = "--active",
            defaultValue = "${env:DUOGUARD_ACTIVE_MODEL:-models/default}",
            description =
                    "the install's model: its name is published under; the gate's yardstick until the models topic "
                            + "names a newer ACTIVE version")
    Path active;

    @Mixin
    DataOptions data;

    @Option(names = "--quick", description = "tiny models (CI, demos)")
    boolean quick;

    @Mixin
    ClassifierRecipeOptions classifier;

    @Mixin
    PlayerOptions players;

    @Option(
            names = "--keep-generators",
            defaultValue = "${env:DUOGUARD_TRAINER_KEEP_GENERATORS:-" + GeneratorStore.DEFAULT_KEEP + "}",
            description = "newest generators kept in HOME/generator (LoRA adapters, or whole checkpoints with "
                    + "--full-dpo); the newest is what the next iteration continues (default: ${DEFAULT-VALUE})")
    int keepGenerators;

    @Option(
            names = "--max-generated-samples",
            defaultValue = "${env:DUOGUARD_TRAINER_MAX_GENERATED_SAMPLES:-" + GeneratorStore.DEFAULT_MAX_SAMPLES + "}",
            description = "accepted generated samples kept in HOME/generator for the classifier to retrain on, "
                    + "newest first (default: ${DEFAULT-VALUE})")
    int maxGeneratedSamples;

    @Option(names = "--min-seeds", defaultValue = "${env:DUOGUARD_TRAINER_MIN_SEEDS:-50}")
    int minSeeds;

    @Option(names = "--interval-minutes", defaultValue = "${env:DUOGUARD_TRAINER_INTERVAL_MINUTES:-360}")
    long intervalMinutes;

    @Option(names = "--retention-days", defaultValue = "${env:DUOGUARD_SEED_RETENTION_DAYS:-30}")
    long retentionDays;

    @Option(
            names = "--no-redact",
            description = "store seed text as it came (default: e-mails, phones, cards redacted)")
    boolean noRedact;

    @Option(
            names = "--gate-margin",
            defaultValue = "${env:DUOGUARD_GATE_MARGIN:-0.02}",
            description = "largest F1 drop allowed in any language (default: ${DEFAULT-VALUE})")
    double margin;

    @Option(
            names = "--fpr-margin",
            defaultValue = "${env:DUOGUARD_GATE_FPR_MARGIN:-0.02}",
            description = "largest rise in false-positive rate allowed in any language with enough safe dev items, "
                    + "and on the whole dev set, whatever the F1 (default: ${DEFAULT-VALUE})")
    double fprMargin;

    @Option(
            names = "--min-safe-items",
            defaultValue = "${env:DUOGUARD_GATE_MIN_SAFE_ITEMS:-100}",
            description = "safe dev items from which a language's false-positive rate is judged "
                    + "(default: ${DEFAULT-VALUE})")
    int minSafeItems;

    @Option(names = "--port", defaultValue = "${env:DUOGUARD_TRAINER_HTTP_PORT:-9091}")
    int port;

    @Option(
            names = "--bind",
            defaultValue = "${env:DUOGUARD_TRAINER_HTTP_BIND:-127.0.0.1}",
            description = "address of the management port (0.0.0.0: every interface, as probes and Prometheus need "
                    + "in Kubernetes)")
    String bind;

    // the token itself comes from the environment only: a command-line argument is visible to every local user
    @Option(
            names = "--admin-token-file",
            defaultValue = "${env:DUOGUARD_TRAINER_HTTP_ADMIN_TOKEN_FILE}",
            description = "file holding the token POST /iterate requires (or env DUOGUARD_TRAINER_HTTP_ADMIN_TOKEN); "
                    + "without one /iterate is disabled")
    String adminTokenFile;

    private String adminToken() {
        SecretValue token = SecretValue.of(
                "DUOGUARD_TRAINER_HTTP_ADMIN_TOKEN",
                System.getenv("DUOGUARD_TRAINER_HTTP_ADMIN_TOKEN"),
                "--admin-token-file",
                adminTokenFile);
        return token == null ? null : token.value();
    }

    @Option(
            names = "--signing-key",
            defaultValue = "${env:DUOGUARD_MODELS_SIGNING_KEY_FILE:-}",
            description = "Ed25519 private key that signs published bundles (NAME.key with NAME.pub beside it, from"
                    + " './duoguard models keygen'); none: bundles are published unsigned")
    String signingKey;

    @Override
    public Integer call() throws Exception {
        String token = adminToken(); // a bad token file stops the start before the data is prepared
        LoopSettings loop = players.apply(quick ? LoopSettings.quick() : LoopSettings.standard())
                .classifier(classifier.recipe(quick))
                .build();
        players.check(loop);
        // a generator store made for another generator stops the start here, before the data is prepared
        GeneratorStore.open(TrainerService.generatorHome(home), loop, keepGenerators, maxGeneratedSamples);
        System.out.printf(
                "classifier recipe: preset %s, %s, at most %s base items%n",
                loop.classifier().name(),
                loop.classifier().settings(),
                loop.classifier().maxTrainItems() == 0
                        ? "all"
                        : Integer.toString(loop.classifier().maxTrainItems()));
        if (!active.isAbsolute() && !Files.exists(active)) {
            active = Path.of(System.getenv().getOrDefault("DUOGUARD_HOME", ".")).resolve(active); // the install's
        }
        ClassifierTraining.Prepared p = ClassifierTraining.builder()
                .preset(loop.classifier())
                .dataDir(data.dataDir())
                .inputs(data.inputs)
                .mappings(data.mappings)
                .work(home.resolve("mix"))
                .build()
                .prepare(System.out);
        LayeredConfig connections = connections();
        RegistryAvroSerdes serdes = new RegistryAvroSerdes(RegistryConnection.from(connections));
        Topic<String, Seed> seeds = Topics.seeds(seedsTopic, serdes);
        Topic<String, ModelVersion> models = Topics.models(modelsTopic, serdes);
        TrainerService.Config config = TrainerService.Config.builder()
                .kafka(KafkaConnection.from(connections))
                .seedsTopic(seeds.name())
                .modelsTopic(models.name())
                .groupId(group)
                .home(home)
                .artifactStore(artifacts)
                .activeBundle(active)
                .loop(loop)
                .keepGenerators(keepGenerators)
                .maxGeneratedSamples(maxGeneratedSamples)
                .baseTrain(p.train())
                .dev(p.dev())
                .minNewSeeds(minSeeds)
                .interval(Duration.ofMinutes(intervalMinutes))
                .retention(Duration.ofDays(retentionDays))
                .redact(!noRedact)
                .gateMargin(margin)
                .fprMargin(fprMargin)
                .minSafeItems(minSafeItems)
                .managementPort(port)
                .managementBind(bind)
                .adminToken(token)
                .signingKey(signingKey == null || signingKey.isBlank() ? null : Path.of(signingKey))
                .build();
        CountDownLatch stop = new CountDownLatch(1);
        try (TrainerService service = new TrainerService(
                config,
                seeds.valueDeserializer(),
                models.valueSerializer(),
                models.valueDeserializer(),
                PrometheusRegistry.defaultRegistry)) {
            Runtime.getRuntime().addShutdownHook(new Thread(stop::countDown));
            service.start();
            stop.await();
        }
        return 0;
    }

    /**
     * The same kafka.* and registry.* keys as the streams app's, from the file and the environment; --bootstrap and
     * --registry win.
     */
    private LayeredConfig connections() {
        Path file = kafkaConfig;
        if (file == null && System.getenv("DUOGUARD_KAFKA_CONFIG_FILE") != null) {
            file = Path.of(System.getenv("DUOGUARD_KAFKA_CONFIG_FILE"));
        }
        Map<String, String> defaults = new HashMap<>(KafkaConnection.DEFAULTS);
        defaults.putAll(RegistryConnection.DEFAULTS);
        LayeredConfig c = LayeredConfig.load(defaults, file, System.getenv(), Set.of());
        if (bootstrap != null) {
            c.with(KafkaConnection.BOOTSTRAP, bootstrap, "--bootstrap");
        }
        if (registry != null) {
            c.with(RegistryConnection.URL, registry, "--registry");
        }
        return c;
    }
}
