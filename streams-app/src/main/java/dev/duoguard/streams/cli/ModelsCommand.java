package dev.duoguard.streams.cli;

import dev.duoguard.common.config.LayeredConfig;
import dev.duoguard.common.kafka.KafkaConnection;
import dev.duoguard.common.registry.RegistryConnection;
import dev.duoguard.common.serde.RegistryAvroSerdes;
import dev.duoguard.common.topics.Topic;
import dev.duoguard.common.topics.Topics;
import dev.duoguard.lifecycle.BundleSignature;
import dev.duoguard.lifecycle.ModelKey;
import dev.duoguard.lifecycle.ModelsTopic;
import dev.duoguard.lifecycle.TrustedArtifacts;
import dev.duoguard.schemas.ModelVersion;
import dev.duoguard.streams.config.AppConfig;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PublicKey;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(
        name = "models",
        mixinStandardHelpOptions = true,
        description = {
            "Model versions on the models topic: list | promote NAME VERSION | rollback NAME;",
            "keygen writes an Ed25519 key pair that signs bundles (--out, --key-name).",
            "Every streams-app instance follows the ACTIVE pointer and swaps to it once its bundle's",
            "signature verifies (see models.trusted-keys)."
        })
final class ModelsCommand implements Callable<Integer> {

    private static final Logger log = LoggerFactory.getLogger(ModelsCommand.class);
    private static final Path ANY_PATH = Path.of("/");

    @Parameters(index = "0", description = "list, promote, rollback or keygen")
    String action;

    @Parameters(index = "1", arity = "0..1", description = "model name (promote, rollback)")
    String name;

    @Parameters(index = "2", arity = "0..1", description = "version (promote)")
    String version;

    @Option(
            names = "--config",
            description = "the streams app's properties file (default: $DUOGUARD_CONFIG_FILE): the Kafka connection "
                    + "and its security (kafka.*), the registry and the topic come from it and the DUOGUARD_* "
                    + "environment, as for serve")
    Path configFile;

    @Option(names = "--bootstrap", description = "Kafka bootstrap servers (default: kafka.bootstrap.servers)")
    String bootstrap;

    @Option(names = "--registry", description = "schema registry URL (default: registry.url)")
    String registry;

    @Option(names = "--topic", description = "the models topic (default: " + Topics.Names.MODELS_KEY + ")")
    String topic;

    @Option(
            names = "--trusted-keys",
            description = "promote: Ed25519 public keys (files or directories, comma-separated) the bundle's"
                    + " signature must verify with, as on the instances (default: models.trusted-keys)")
    String trustedKeys;

    @Option(
            names = "--allow-unsigned",
            description = "promote: point ACTIVE at a bundle whose signature does not check here (logged, and"
                    + " named in the record's reason); instances still refuse it unless models.allow-unsigned=true")
    boolean allowUnsigned;

    @Option(names = "--out", defaultValue = "keys", description = "keygen: directory for NAME.key and NAME.pub")
    Path keyDir;

    @Option(names = "--key-name", defaultValue = "duoguard-models", description = "keygen: the key files' NAME")
    String keyName;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        if (action.equals("keygen")) {
            Path key = BundleSignature.keygen(keyDir, keyName);
            out.println("wrote " + key + " (the trainer's --signing-key; keep it secret) and "
                    + key.resolveSibling(keyName + ".pub") + " (the instances' models.trusted-keys)");
            return 0;
        }
        Path file = configFile;
        if (file == null && System.getenv("DUOGUARD_CONFIG_FILE") != null) {
            file = Path.of(System.getenv("DUOGUARD_CONFIG_FILE"));
        }
        LayeredConfig config = AppConfig.layered(file, System.getenv());
        override(config, KafkaConnection.BOOTSTRAP, bootstrap, "--bootstrap");
        override(config, RegistryConnection.URL, registry, "--registry");
        override(config, Topics.Names.MODELS_KEY, topic, "--topic");
        override(config, "models.trusted-keys", trustedKeys, "--trusted-keys");
        RegistryAvroSerdes serdes = new RegistryAvroSerdes(RegistryConnection.from(config));
        Topic<String, ModelVersion> modelVersions = Topics.models(config.required(Topics.Names.MODELS_KEY), serdes);
        ModelsTopic models = new ModelsTopic(
                        KafkaConnection.from(config),
                        modelVersions.name(),
                        modelVersions.valueDeserializer(),
                        modelVersions.valueSerializer())
                .schemaIds(serdes.schemaIds());
        switch (action) {
            case "list" -> {
                out.printf("%-36s %-12s %-10s %-25s %s%n", "key", "version", "status", "at", "reason / artifact");
                for (ModelsTopic.Entry e : models.read()) {
                    ModelVersion v = e.value();
                    out.printf(
                            "%-36s %-12s %-10s %-25s %s%n",
                            e.key(),
                            v.getVersion(),
                            v.getStatus(),
                            v.getCreatedAt(),
                            v.getStatusReason() != null ? v.getStatusReason() : v.getArtifactUri());
                }
            }
            case "promote" -> {
                require(name != null && version != null, "usage: models promote NAME VERSION");
                String reason = "promoted by an operator";
                String problem = signatureProblem(
                        models.usable(name, version),
                        AppConfig.modelSources(config).trustedKeys());
                if (problem != null) {
                    if (!allowUnsigned) {
                        spec.commandLine()
                                .getErr()
                                .println("not promoting " + new ModelKey(name, version) + ": " + problem
                                        + " (--allow-unsigned promotes it anyway)");
                        return 1;
                    }
                    log.warn("promoting {} with --allow-unsigned: {}", new ModelKey(name, version), problem);
                    reason = "promoted by an operator with --allow-unsigned: " + problem;
                }
                ModelVersion v = models.promote(name, version, reason);
                out.println(ModelKey.of(v) + " is ACTIVE");
            }
            case "rollback" -> {
                require(name != null, "usage: models rollback NAME");
                ModelVersion v = models.rollback(name);
                out.println(ModelKey.of(v) + " is ACTIVE again (" + v.getStatusReason() + ")");
            }
            default -> {
                spec.commandLine()
                        .getErr()
                        .println("unknown action '" + action + "': list, promote, rollback or keygen");
                return 2;
            }
        }
        return 0;
    }

    /**
     * Why {@code mv}'s bundle would not be served here: its signature with the trusted keys, every file listed and
     * matching (the instances check the artifact roots themselves); null when it checks.
     */
    private static String signatureProblem(ModelVersion mv, List<Path> keys) throws IOException {
        Map<String, PublicKey> trusted = BundleSignature.trustedKeys(keys); // a bad key file is an error, no override
        Path staging = Files.createTempDirectory("duoguard-promote-check-");
        try {
            new TrustedArtifacts(trusted, List.of(ANY_PATH), false, staging).check(mv);
            return null;
        } catch (RuntimeException e) {
            return e.getMessage();
        } finally {
            Files.deleteIfExists(staging);
        }
    }

    private static void override(LayeredConfig config, String key, String value, String option) {
        if (value != null) {
            config.with(key, value, option);
        }
    }

    private static void require(boolean ok, String usage) {
        if (!ok) {
            throw new IllegalArgumentException(usage);
        }
    }
}
