package dev.duoguard.streams.cli;

import dev.duoguard.common.config.LayeredConfig;
import dev.duoguard.common.kafka.KafkaConnection;
import dev.duoguard.common.serde.RegistryAvroSerdes;
import dev.duoguard.common.topics.Topic;
import dev.duoguard.common.topics.Topics;
import dev.duoguard.lifecycle.ModelKey;
import dev.duoguard.lifecycle.ModelsTopic;
import dev.duoguard.schemas.ModelVersion;
import dev.duoguard.streams.config.AppConfig;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(
        name = "models",
        mixinStandardHelpOptions = true,
        description = {
            "Model versions on the models topic: list | promote NAME VERSION | rollback NAME.",
            "Every streams-app instance follows the ACTIVE pointer and swaps to it."
        })
final class ModelsCommand implements Callable<Integer> {

    @Parameters(index = "0", description = "list, promote or rollback")
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

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        Path file = configFile;
        if (file == null && System.getenv("DUOGUARD_CONFIG_FILE") != null) {
            file = Path.of(System.getenv("DUOGUARD_CONFIG_FILE"));
        }
        LayeredConfig config = AppConfig.layered(file, System.getenv());
        override(config, KafkaConnection.BOOTSTRAP, bootstrap, "--bootstrap");
        override(config, "registry.url", registry, "--registry");
        override(config, Topics.Names.MODELS_KEY, topic, "--topic");
        RegistryAvroSerdes serdes = new RegistryAvroSerdes(config.required("registry.url"));
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
                ModelVersion v = models.promote(name, version, "promoted by an operator");
                out.println(ModelKey.of(v) + " is ACTIVE");
            }
            case "rollback" -> {
                require(name != null, "usage: models rollback NAME");
                ModelVersion v = models.rollback(name);
                out.println(ModelKey.of(v) + " is ACTIVE again (" + v.getStatusReason() + ")");
            }
            default -> {
                spec.commandLine().getErr().println("unknown action '" + action + "': list, promote or rollback");
                return 2;
            }
        }
        return 0;
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
