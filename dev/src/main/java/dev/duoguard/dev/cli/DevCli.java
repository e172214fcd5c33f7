package dev.duoguard.dev.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * Entry point of the dev jar: everything that runs the system on this one machine, on the embedded broker and
 * registry, not in production. {@code ./duoguard} dispatches demo, streams-demo and bench here; serve, score and
 * models go to the streams-app jar, the trainer's commands to the trainer jar.
 */
@Command(name = "duoguard", mixinStandardHelpOptions = true, version = "duoguard dev 0.1.0",
        description = "Runs DuoGuard on this machine (an in-process Kafka and a schema registry; no Docker): "
                + "the closed-loop demo, the streaming half alone, the streams benchmarks.",
        subcommands = {ClosedLoopDemoCommand.class, StreamsDemoCommand.class, BenchCommand.class})
public final class DevCli implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(new CommandLine(new DevCli()).execute(args));
    }
}
