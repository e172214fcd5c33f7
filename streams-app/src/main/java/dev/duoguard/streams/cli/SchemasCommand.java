package dev.duoguard.streams.cli;

import dev.duoguard.common.config.ConfigException;
import dev.duoguard.common.config.LayeredConfig;
import dev.duoguard.common.registry.RegistryConnection;
import dev.duoguard.common.serde.RegistryAvroSerdes;
import dev.duoguard.common.serde.RegistryErrors;
import dev.duoguard.common.topics.Topics;
import dev.duoguard.streams.app.RegistrySchemas;
import dev.duoguard.streams.config.AppConfig;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * Registers the product's schemas with a principal that may write, so that every component can run with
 * registry.auto-register=false and read-only registry credentials. Each schema is first looked up as the
 * components look it up (by content, under the artifact their serde files it); only a schema not found is
 * registered, by the same serde with auto-registration on, so the artifacts are exactly the ones the components'
 * serdes find. Running it again registers nothing new.
 */
@Command(
        name = "schemas",
        mixinStandardHelpOptions = true,
        description = {
            "Schemas in the registry: register (every schema DuoGuard writes, idempotent) | check (exit 1 if one is",
            "missing). Run register once per release with registry credentials that may write; the components",
            "then run with registry.auto-register=false."
        })
final class SchemasCommand implements Callable<Integer> {

    @Parameters(index = "0", description = "register or check")
    String action;

    @Option(
            names = "--config",
            description = "a properties file with the registry.* keys (and topics.* when renamed); default"
                    + " $DUOGUARD_CONFIG_FILE; DUOGUARD_* environment variables win, as for serve")
    Path configFile;

    @Option(names = "--registry", description = "schema registry URL (default: registry.url)")
    String registry;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        if (!action.equals("register") && !action.equals("check")) {
            spec.commandLine().getErr().println("unknown action '" + action + "': register or check");
            return 2;
        }
        Path file = configFile;
        if (file == null && System.getenv("DUOGUARD_CONFIG_FILE") != null) {
            file = Path.of(System.getenv("DUOGUARD_CONFIG_FILE"));
        }
        LayeredConfig config = AppConfig.layered(file, System.getenv());
        if (registry != null) {
            config.with(RegistryConnection.URL, registry, "--registry");
        }
        RegistryConnection connection = RegistryConnection.from(config);
        RegistryAvroSerdes lookup = new RegistryAvroSerdes(connection.withAutoRegister(false));
        RegistryAvroSerdes writer = new RegistryAvroSerdes(connection.withAutoRegister(true));
        PrintWriter out = spec.commandLine().getOut();
        out.println("schema registry " + connection.withAutoRegister(action.equals("register")));
        int missing = 0;
        for (RegistrySchemas.Schema schema : RegistrySchemas.of(Topics.Names.from(config))) {
            String outcome;
            int id;
            try {
                id = RegistrySchemas.resolve(lookup, schema);
                outcome = "found";
            } catch (RuntimeException notFound) {
                if (RegistryErrors.status(notFound) != 0 || RegistryErrors.isUnreachable(notFound)) {
                    // refused credentials, no answer: not a missing schema, and the same for every one
                    throw new ConfigException(RegistrySchemas.failure(notFound, lookup.connection(), schema));
                }
                if (action.equals("check")) {
                    out.printf("%-10s %s%n", "MISSING", RegistrySchemas.failure(notFound, lookup.connection(), schema));
                    missing++;
                    continue;
                }
                try {
                    id = RegistrySchemas.resolve(writer, schema);
                } catch (RuntimeException e) {
                    throw new ConfigException(RegistrySchemas.failure(e, writer.connection(), schema));
                }
                outcome = "registered";
            }
            out.printf("%-10s %-45s %-40s content id %d%n", outcome, schema.artifact(), schema.describe(), id);
        }
        out.flush();
        return missing == 0 ? 0 : 1;
    }
}
