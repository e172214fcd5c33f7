package dev.duoguard.dev.demo;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ./duoguard streams-demo} as a user runs it: the packaged jar ({@code target/duoguard-dev.jar} and the
 * {@code lib/} its manifest names, which failsafe finds built) in a JVM of its own, with the lexicon baseline (no
 * {@code models/default} under this module's directory). Every message gets its verdict, the empty message a
 * fail-closed one shown with its reason, and both bad records reach the dead-letter topic. Running the jar rather
 * than the command in this JVM also proves the runnable layout: a dependency missing from {@code lib/} (a scope
 * that drops it there while the test class path still has it) fails here.
 */
class StreamsDemoIT {

    @TempDir
    Path dir;

    @Test
    void thePackagedStreamingHalfGivesEveryMessageOneVerdict() throws IOException, InterruptedException {
        Path jar = Path.of("target/duoguard-dev.jar").toAbsolutePath();
        assertThat(jar).as("failsafe runs after package").exists();
        Path output = dir.resolve("streams-demo.out");
        Process demo = new ProcessBuilder(List.of(
                        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "-Xmx1g",
                        "-Dduoguard.registry.home=" + System.getProperty("duoguard.registry.home"),
                        "-jar",
                        jar.toString(),
                        "streams-demo",
                        "--rate",
                        "200"))
                .redirectErrorStream(true)
                .redirectOutput(output.toFile())
                .start();
        boolean ended = demo.waitFor(4, TimeUnit.MINUTES);
        if (!ended) {
            demo.destroyForcibly().waitFor();
        }
        String printed = Files.readString(output, StandardCharsets.UTF_8);
        System.out.println(printed);
        assertThat(ended).as("the demo ended within 4 minutes").isTrue();
        assertThat(demo.exitValue()).as(printed).isZero();
        Matcher counts =
                Pattern.compile("messages in: (\\d+) +verdicts out: (\\d+)").matcher(printed);
        assertThat(counts.find()).as(printed).isTrue();
        assertThat(counts.group(2)).isEqualTo(counts.group(1));
        assertThat(printed)
                .contains(
                        "fail-closed: EMPTY_TEXT",
                        "dead letters on guardrail.dlq: 2",
                        "EMPTY_TEXT: text is empty (message empty-1)",
                        "NOT_WIRE_FORMAT",
                        "⛔ STOP  │ BLOCK at char",
                        "reply stopped mid-way");
    }
}
