package dev.duoguard.dev.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.streams.cli.DuoGuardCli;
import dev.duoguard.trainer.cli.TrainerCli;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * The {@code ./duoguard} launcher and the three command lines tell the same story: its --help lists each jar's
 * commands, in the jar's order, under the jar's module folder, and it dispatches exactly those commands to that jar.
 * Lives in the dev module because it sees all three entry classes.
 */
class LauncherTest {

    static final Path LAUNCHER = Path.of("..", "duoguard");
    static final Pattern HEADING = Pattern.compile("^([a-z][a-z-]*): ");
    static final Pattern COMMAND = Pattern.compile("^  ([a-z][a-z-]*) {2,}\\S");
    static final Pattern DISPATCH = Pattern.compile("^ {2}([a-z|-]+)\\) module=([a-z-]+) ;;$");

    static Map<String, List<String>> byModule() {
        Map<String, List<String>> modules = new LinkedHashMap<>();
        modules.put("streams-app", names(DuoGuardCli.commandLine()));
        modules.put("trainer", names(TrainerCli.commandLine()));
        modules.put("dev", names(DevCli.commandLine()));
        return modules;
    }

    static List<String> names(CommandLine cli) {
        return List.copyOf(cli.getSubcommands().keySet());
    }

    /** The launcher's --help: the commands under each heading that has any. */
    static Map<String, List<String>> listed() throws IOException {
        String script = Files.readString(LAUNCHER);
        String usage = script.substring(script.indexOf("<<'USAGE'\n") + 9, script.indexOf("\nUSAGE\n"));
        Map<String, List<String>> groups = new LinkedHashMap<>();
        String heading = null;
        for (String line : usage.lines().toList()) {
            Matcher h = HEADING.matcher(line);
            Matcher c = COMMAND.matcher(line);
            if (h.find()) {
                heading = h.group(1);
            } else if (c.find()) {
                groups.computeIfAbsent(heading, k -> new ArrayList<>()).add(c.group(1));
            }
        }
        return groups;
    }

    /** The launcher's dispatch: which module's jar runs which commands. */
    static Map<String, List<String>> dispatched() throws IOException {
        Map<String, List<String>> modules = new LinkedHashMap<>();
        for (String line : Files.readAllLines(LAUNCHER)) {
            Matcher m = DISPATCH.matcher(line);
            if (m.find()) {
                modules.put(m.group(2), Arrays.asList(m.group(1).split("\\|")));
            }
        }
        return modules;
    }

    @Test
    void theHelpListsEachJarsCommandsUnderItsModuleFolder() throws IOException {
        assertThat(listed()).containsExactlyEntriesOf(byModule());
    }

    @Test
    void eachCommandGoesToTheJarThatHasIt() throws IOException {
        assertThat(dispatched()).containsExactlyEntriesOf(byModule());
    }

    @Test
    void eachGroupIsAModuleFolderThatBuildsTheJarTheLauncherRuns() throws IOException {
        assertThat(Files.readString(LAUNCHER)).contains("jar_of() { echo \"$HERE/$1/target/duoguard-$1.jar\"; }");
        for (String module : byModule().keySet()) {
            assertThat(Files.readString(LAUNCHER.resolveSibling(module).resolve("pom.xml")))
                    .contains("<finalName>duoguard-" + module + "</finalName>");
        }
    }
}
