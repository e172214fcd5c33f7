package dev.duoguard.streams.cli;

import dev.duoguard.common.serde.RegistryAvroSerdes;
import dev.duoguard.common.topics.Topic;
import dev.duoguard.common.topics.Topics;
import dev.duoguard.lifecycle.ModelKey;
import dev.duoguard.lifecycle.ModelsTopic;
import dev.duoguard.schemas.ModelVersion;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

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

    @Option(names = "--bootstrap", defaultValue = "${env:DUOGUARD_KAFKA_BOOTSTRAP_SERVERS:-localhost:9092}")
    String bootstrap;

    @Option(names = "--registry", defaultValue = "${env:DUOGUARD_REGISTRY_URL:-http://localhost:8080/apis/registry/v3}")
    String registry;

    @Option(names = "--topic", defaultValue = "${env:" + Topics.Names.MODELS_ENV + ":-" + Topics.Names.MODELS + "}")
    String topic;

    @Override
    public Integer call() {
        RegistryAvroSerdes serdes = new RegistryAvroSerdes(registry);
        Topic<String, ModelVersion> modelVersions = Topics.models(topic, serdes);
        ModelsTopic models = new ModelsTopic(
                        bootstrap,
                        modelVersions.name(),
                        modelVersions.valueDeserializer(),
                        modelVersions.valueSerializer())
                .schemaIds(serdes.schemaIds());
        switch (action) {
            case "list" -> {
                System.out.printf(
                        "%-36s %-12s %-10s %-25s %s%n", "key", "version", "status", "at", "reason / artifact");
                for (ModelsTopic.Entry e : models.read()) {
                    ModelVersion v = e.value();
                    System.out.printf(
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
                System.out.println(ModelKey.of(v) + " is ACTIVE");
            }
            case "rollback" -> {
                require(name != null, "usage: models rollback NAME");
                ModelVersion v = models.rollback(name);
                System.out.println(ModelKey.of(v) + " is ACTIVE again (" + v.getStatusReason() + ")");
            }
            default -> {
                System.err.println("unknown action '" + action + "': list, promote or rollback");
                return 2;
            }
        }
        return 0;
    }

    private static void require(boolean ok, String usage) {
        if (!ok) {
            throw new IllegalArgumentException(usage);
        }
    }
}
