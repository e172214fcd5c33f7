package dev.duoguard.common.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import picocli.CommandLine;

/**
 * What every entry class's command line must do, for each of its commands: {@code --help} works, and a bad option
 * is one line and exit code 2. Shared by the tests of DuoGuardCli (streams-app), TrainerCli (trainer) and DevCli
 * (dev) through common's test-jar.
 */
public final class EntryPointChecks {

    private EntryPointChecks() {}

    record Run(int code, String out, String err) {}

    static Run run(Supplier<CommandLine> cli, List<String> args) {
        CommandLine command = cli.get();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        command.setOut(new PrintWriter(out, true));
        command.setErr(new PrintWriter(err, true));
        int code = command.execute(args.toArray(String[]::new));
        return new Run(code, out.toString(), err.toString());
    }

    /** The argument paths of the command line's commands, nested ones included: [serve], [score], [models], ... */
    public static List<List<String>> commands(CommandLine cli) {
        List<List<String>> paths = new ArrayList<>();
        cli.getSubcommands().forEach((name, sub) -> {
            paths.add(List.of(name));
            for (List<String> nested : commands(sub)) {
                List<String> path = new ArrayList<>(List.of(name));
                path.addAll(nested);
                paths.add(path);
            }
        });
        return paths;
    }

    /** {@code --help} of the root and of every command exits 0 with its usage on stdout and nothing on stderr. */
    public static void everyCommandHasHelp(Supplier<CommandLine> cli) {
        List<List<String>> commands = new ArrayList<>(commands(cli.get()));
        assertThat(commands).as("commands").isNotEmpty();
        commands.add(List.of());
        for (List<String> command : commands) {
            List<String> args = new ArrayList<>(command);
            args.add("--help");
            Run run = run(cli, args);
            assertThat(run.code()).as("%s: exit code", args).isEqualTo(Cli.OK);
            assertThat(run.err()).as("%s: stderr", args).isEmpty();
            assertThat(run.out())
                    .as("%s: usage", args)
                    .startsWith("Usage: "
                            + String.join(" ", cli.get().getCommandName(), String.join(" ", command))
                                    .strip())
                    .contains("-h, --help")
                    .contains("Exit codes:");
        }
    }

    /** {@code --bogus} after every command exits 2 with one line on stderr that names it and points to --help. */
    public static void aBadOptionIsOneLineAndExitCodeTwo(Supplier<CommandLine> cli) {
        for (List<String> command : commands(cli.get())) {
            List<String> args = new ArrayList<>(command);
            args.add("--bogus");
            Run run = run(cli, args);
            String name = String.join(" ", cli.get().getCommandName(), String.join(" ", command));
            assertThat(run.code()).as("%s: exit code", args).isEqualTo(Cli.USAGE);
            assertThat(run.out()).as("%s: stdout", args).isEmpty();
            assertThat(run.err().lines())
                    .as("%s: stderr", args)
                    .singleElement()
                    .asString()
                    .startsWith(name + ": ")
                    .contains("'--bogus'")
                    .endsWith("see '" + name + " --help'");
        }
    }
}
