package dev.duoguard.streams.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * Entry point of the streams-app jar, the production image's: {@code ./duoguard} dispatches serve, score and models
 * here. The demos and benches, which run an embedded broker, are the dev jar's ({@code dev.duoguard.dev.cli}).
 */
@Command(name = "duoguard", mixinStandardHelpOptions = true, version = "duoguard 0.1.0",
        description = "Multilingual LLM guardrail on Kafka Streams (DuoGuard method).",
        subcommands = {ServeCommand.class, ScoreCommand.class, ModelsCommand.class})
public final class DuoGuardCli implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(new CommandLine(new DuoGuardCli()).execute(args));
    }
}
