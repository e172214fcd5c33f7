package dev.duoguard.dev.cli;

import dev.duoguard.common.cli.Cli;
import dev.duoguard.runtime.bundle.InvalidBundleException;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * Entry point of the dev jar: everything that runs the system on this one machine, on the embedded broker and
 * registry, not in production. {@code ./duoguard} dispatches demo, streams-demo and bench here; serve, score and
 * models go to the streams-app jar, the trainer's commands to the trainer jar.
 */
@Command(
        name = "duoguard",
        description = "Runs DuoGuard on this machine (an in-process Kafka and a schema registry; no Docker): "
                + "the closed-loop demo, the streaming half alone, the streams benchmarks.",
        subcommands = {
            ClosedLoopDemoCommand.class,
            StreamsDemoCommand.class,
            BenchCommand.class,
            ClientBenchCommand.class,
            ReplyBenchCommand.class
        })
public final class DevCli {

    /** The command line {@link #main} runs, with the shared help, version and error handling. */
    public static CommandLine commandLine() {
        return Cli.commandLine(
                new DevCli(),
                "dev",
                Map.of(
                        InvalidBundleException.class,
                        "use a bundle directory that train or export wrote, unchanged (--model, DUOGUARD_MODEL)"));
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }
}
