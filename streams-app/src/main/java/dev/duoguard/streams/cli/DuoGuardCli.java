package dev.duoguard.streams.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of the streams-app jar; {@code ./duoguard} dispatches demo, serve, score and bench here. */
@Command(name = "duoguard", mixinStandardHelpOptions = true, version = "duoguard 0.1.0",
        description = "Multilingual LLM guardrail on Kafka Streams (DuoGuard method).",
        subcommands = {DemoCommand.class, ServeCommand.class, ScoreCommand.class, BenchCommand.class, ModelsCommand.class})
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
