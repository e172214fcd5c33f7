package dev.duoguard.streams.cli;

import dev.duoguard.common.cli.Cli;
import dev.duoguard.runtime.bundle.InvalidBundleException;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * Entry point of the streams-app jar, the production image's: {@code ./duoguard} dispatches serve, score, models and schemas
 * here. The demos and benches, which run an embedded broker, are the dev jar's ({@code dev.duoguard.dev.cli}).
 */
@Command(
        name = "duoguard",
        description = "Multilingual LLM guardrail on Kafka Streams (DuoGuard method).",
        subcommands = {ServeCommand.class, ScoreCommand.class, ModelsCommand.class, SchemasCommand.class})
public final class DuoGuardCli {

    /** The command line {@link #main} runs, with the shared help, version and error handling. */
    public static CommandLine commandLine() {
        return Cli.commandLine(
                new DuoGuardCli(),
                "streams-app",
                Map.of(InvalidBundleException.class, "use a bundle directory that train or export wrote, unchanged"));
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }
}
