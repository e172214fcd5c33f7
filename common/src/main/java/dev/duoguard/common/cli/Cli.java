package dev.duoguard.common.cli;

import dev.duoguard.common.config.ConfigException;
import java.io.IOException;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.kafka.common.errors.TimeoutException;
import picocli.CommandLine;
import picocli.CommandLine.ExitCode;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.RunLast;

/**
 * The command-line plumbing the three entry classes share (the streams app's, the trainer's and the dev jar's; the
 * {@code ./duoguard} launcher dispatches to them): every command gets {@code -h/--help} and {@code -V/--version}, a
 * failing command prints one line naming the problem and the fix, a bad option one line and a {@code --help} hint.
 *
 * <p>Exit codes, the same for every command: {@value #OK} ok, {@value #ERROR} error, {@value #USAGE} usage (an
 * unknown option, a missing or bad argument, no command).
 */
public final class Cli {

    public static final int OK = ExitCode.OK;
    public static final int ERROR = ExitCode.SOFTWARE;
    public static final int USAGE = ExitCode.USAGE;

    /** Fixes for the failures every module can run into; an entry class adds its own (data, bundles). */
    private static final Map<Class<? extends Throwable>, String> COMMON_FIXES = Map.of(
            ConfigException.class, "check --config FILE and the DUOGUARD_* variables (README: Configuration reference)",
            IOException.class, "check the path, its permissions and the free disk space",
            TimeoutException.class, "check that the Kafka cluster in the configuration is up and reachable");

    private Cli() {}

    /**
     * The command line of an entry class, ready to {@code execute(args)}.
     *
     * @param root   the entry class: a {@code @Command} whose subcommands are the jar's commands
     * @param module the module folder the jar is built in (streams-app, trainer, dev), for {@code --version}
     * @param fixes  the module's own user-facing exceptions and the fix each one's line names; a subtype's fix wins
     *               over its supertype's. {@link IllegalArgumentException} (validation) needs none: its line points to
     *               {@code --help}. Any other exception is reported as a bug, with its stack trace in the log.
     */
    public static CommandLine commandLine(Object root, String module, Map<Class<? extends Throwable>, String> fixes) {
        Map<Class<? extends Throwable>, String> allFixes = new HashMap<>(COMMON_FIXES);
        allFixes.putAll(fixes);
        CommandLine cli = new CommandLine(root)
                .setExecutionStrategy(Cli::executeACommand)
                .setParameterExceptionHandler(new UsageErrorHandler())
                .setExecutionExceptionHandler(new OneLineErrorHandler(allFixes));
        prepare(cli, new VersionProvider(module));
        return cli;
    }

    /** Help, version and the exit codes for the command and every command below it. */
    private static void prepare(CommandLine cli, VersionProvider version) {
        CommandSpec spec = cli.getCommandSpec();
        // picocli leaves out -h/--help and -V/--version where the command has an option with one of their names
        // (the trainer's `train --version` did: `train --help` was an unknown option); fail at once instead
        spec.mixinStandardHelpOptions(true);
        if (!spec.mixinStandardHelpOptions()) {
            throw new IllegalStateException("'" + spec.qualifiedName() + "' has an option named like -h, --help, -V "
                    + "or --version, so picocli adds neither; rename that option");
        }
        spec.versionProvider(version);
        Map<String, String> exitCodes = new LinkedHashMap<>();
        exitCodes.put(Integer.toString(OK), "ok");
        exitCodes.put(Integer.toString(ERROR), "error: one line on stderr names it and the fix");
        exitCodes.put(Integer.toString(USAGE), "usage: an unknown option, a missing or bad argument, no command");
        spec.usageMessage().exitCodeListHeading("%nExit codes:%n").exitCodeList(exitCodes);
        cli.getSubcommands().values().forEach(sub -> prepare(sub, version));
    }

    /** Runs the command the arguments name; a command that only groups others (the root) is not one to run. */
    private static int executeACommand(ParseResult parsed) {
        ParseResult last = parsed;
        while (last.hasSubcommand()) {
            last = last.subcommand();
        }
        CommandLine command = last.commandSpec().commandLine();
        if (!command.getSubcommands().isEmpty() && !last.isUsageHelpRequested() && !last.isVersionHelpRequested()) {
            throw new ParameterException(
                    command,
                    "a command is required: "
                            + String.join(", ", command.getSubcommands().keySet()));
        }
        return new RunLast().execute(parsed);
    }
}
