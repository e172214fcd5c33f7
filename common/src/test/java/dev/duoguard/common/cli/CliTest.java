package dev.duoguard.common.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.duoguard.common.config.ConfigException;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.common.errors.TimeoutException;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

class CliTest {

    /** Stands for a module's own user-facing exception (the trainer's DataException). */
    static final class BadData extends RuntimeException {
        BadData(String message) {
            super(message);
        }
    }

    @Command(
            name = "duoguard",
            subcommands = {Fail.class, Nothing.class})
    static final class Root {}

    @Command(name = "fail", description = "Throws the exception KIND names.")
    static final class Fail implements Callable<Integer> {
        @Parameters(paramLabel = "KIND")
        String kind;

        @Option(names = "--count")
        int count;

        @Override
        public Integer call() throws Exception {
            throw switch (kind) {
                case "config" -> new ConfigException("config key 'rate' must be an integer but is 'fast'");
                case "validation" -> new IllegalArgumentException("--rate must be positive but is -1");
                case "file" -> new NoSuchFileException("/nowhere/texts.txt");
                case "data" -> new BadData("data.jsonl line 3: no 'text'");
                case "wrapped" -> new ExecutionException(new ConfigException("config key 'rate' is required"));
                case "kafka" ->
                    new ExecutionException(new TimeoutException("Timed out waiting for a node assignment."));
                default -> new IllegalStateException("a bug,\non two lines");
            };
        }
    }

    @Command(name = "nothing", description = "Does nothing.")
    static final class Nothing implements Callable<Integer> {
        @Override
        public Integer call() {
            return 0;
        }
    }

    @Command(name = "duoguard", subcommands = ModelVersionAsVersion.class)
    static final class RootWithAClash {}

    @Command(name = "export")
    static final class ModelVersionAsVersion implements Runnable {
        @Option(names = "--version")
        String version;

        @Override
        public void run() {}
    }

    /** What one execution wrote: the command's out and err, and what else reached System.err (the log). */
    record Run(int code, String out, String err, String log) {
        String errLine() {
            assertThat(err.lines()).as("stderr: %s", err).hasSize(1);
            return err.strip();
        }
    }

    static Run run(String... args) {
        CommandLine cli = Cli.commandLine(new Root(), "test", Map.of(BadData.class, "check the data files"));
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        PrintStream stderr = System.err;
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        System.setErr(new PrintStream(log, true, StandardCharsets.UTF_8));
        try {
            int code = cli.execute(args);
            return new Run(code, out.toString(), err.toString(), log.toString(StandardCharsets.UTF_8));
        } finally {
            System.setErr(stderr);
        }
    }

    static void assertUserError(Run run, String line) {
        assertThat(run.code()).isEqualTo(Cli.ERROR);
        assertThat(run.errLine()).isEqualTo(line);
        assertThat(run.err() + run.log()).doesNotContain("\tat ").doesNotContain("Exception");
    }

    @Test
    void aConfigErrorIsOneLineWithTheConfigFix() {
        assertUserError(
                run("fail", "config"),
                "duoguard fail: config key 'rate' must be an integer but is 'fast'; "
                        + "fix: check --config FILE and the DUOGUARD_* variables (README: Configuration reference)");
    }

    @Test
    void aValidationErrorPointsToTheCommandsHelp() {
        assertUserError(
                run("fail", "validation"),
                "duoguard fail: --rate must be positive but is -1; fix: see 'duoguard fail --help'");
    }

    @Test
    void aMissingFileIsNamedAsSuch() {
        assertUserError(
                run("fail", "file"),
                "duoguard fail: no such file or directory: /nowhere/texts.txt; "
                        + "fix: check the path, its permissions and the free disk space");
    }

    @Test
    void aModulesOwnExceptionGetsTheFixItRegistered() {
        assertUserError(run("fail", "data"), "duoguard fail: data.jsonl line 3: no 'text'; fix: check the data files");
    }

    @Test
    void aWrappedProblemIsReportedAsItself() {
        assertUserError(
                run("fail", "wrapped"),
                "duoguard fail: config key 'rate' is required; "
                        + "fix: check --config FILE and the DUOGUARD_* variables (README: Configuration reference)");
    }

    @Test
    void anUnreachableKafkaClusterIsNamedWithTheFix() {
        assertUserError(
                run("fail", "kafka"),
                "duoguard fail: Timed out waiting for a node assignment.; "
                        + "fix: check that the Kafka cluster in the configuration is up and reachable");
    }

    @Test
    void anUnexpectedExceptionIsOneLineAndItsStackTraceIsLogged() {
        Run run = run("fail", "bug");
        assertThat(run.code()).isEqualTo(Cli.ERROR);
        assertThat(run.errLine())
                .isEqualTo("duoguard fail: unexpected java.lang.IllegalStateException: a bug, on two "
                        + "lines; this is a bug: the stack trace is in the log above");
        assertThat(run.log()).contains("duoguard fail failed").contains("\tat ");
    }

    @Test
    void anUnknownOptionIsAUsageError() {
        Run run = run("fail", "--bogus", "config");
        assertThat(run.code()).isEqualTo(Cli.USAGE);
        assertThat(run.errLine()).isEqualTo("duoguard fail: Unknown option: '--bogus'; see 'duoguard fail --help'");
        assertThat(run.out()).isEmpty();
    }

    @Test
    void aMisspelledOptionGetsASuggestion() {
        Run run = run("fail", "config", "--counts");
        assertThat(run.code()).isEqualTo(Cli.USAGE);
        assertThat(run.errLine())
                .contains("'--counts'")
                .contains("did you mean --count?")
                .endsWith("see 'duoguard fail --help'");
    }

    @Test
    void anUnknownOptionIsReportedBeforeAMissingParameter() {
        Run run = run("fail", "--counts");
        assertThat(run.code()).isEqualTo(Cli.USAGE);
        assertThat(run.errLine())
                .isEqualTo("duoguard fail: Unknown option: '--counts'; did you mean --count?; "
                        + "see 'duoguard fail --help'");
    }

    @Test
    void aMissingParameterIsAUsageError() {
        Run run = run("fail");
        assertThat(run.code()).isEqualTo(Cli.USAGE);
        assertThat(run.errLine())
                .isEqualTo("duoguard fail: Missing required parameter: 'KIND'; " + "see 'duoguard fail --help'");
    }

    @Test
    void noCommandIsAUsageErrorThatListsThem() {
        Run run = run();
        assertThat(run.code()).isEqualTo(Cli.USAGE);
        assertThat(run.errLine()).isEqualTo("duoguard: a command is required: fail, nothing; see 'duoguard --help'");
    }

    @Test
    void everyCommandHasHelpWithTheExitCodes() {
        for (String[] args : new String[][] {{"--help"}, {"fail", "--help"}, {"nothing", "-h"}}) {
            Run run = run(args);
            assertThat(run.code()).isEqualTo(Cli.OK);
            assertThat(run.err()).isEmpty();
            assertThat(run.out())
                    .contains("Usage: duoguard")
                    .contains("-h, --help")
                    .contains("-V, --version")
                    .contains("Exit codes:")
                    .contains("  2   usage: an unknown option");
        }
    }

    @Test
    void versionNamesTheModuleTheProjectVersionAndTheJvm() {
        for (String[] args : new String[][] {{"--version"}, {"fail", "-V"}}) {
            Run run = run(args);
            assertThat(run.code()).isEqualTo(Cli.OK);
            assertThat(run.out().lines().toList()).hasSize(2);
            assertThat(run.out()).matches("(?s)duoguard test \\d+\\.\\d+\\.\\d+[^$]*\\RJava \\d+.*");
        }
    }

    @Test
    void anOptionThatHidesTheStandardOnesIsRefusedAtOnce() {
        assertThatThrownBy(() -> Cli.commandLine(new RootWithAClash(), "test", Map.of()))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("'duoguard export'");
    }
}
