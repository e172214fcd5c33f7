package dev.duoguard.dev.demo;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.dev.cli.DevCli;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * {@code ./duoguard streams-demo} through the CLI, as a user runs it (with the lexicon baseline: no
 * {@code models/default} under this module's directory): every message gets its verdict, the empty message a
 * fail-closed one shown with its reason, and both bad records reach the dead-letter topic.
 */
class StreamsDemoIT {

    @Test
    void theStreamingHalfGivesEveryMessageOneVerdict() {
        PrintStream original = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        int code;
        try (PrintStream out = new PrintStream(captured, true, StandardCharsets.UTF_8)) {
            System.setOut(out);
            code = new CommandLine(new DevCli()).execute("streams-demo", "--rate", "200");
        } finally {
            System.setOut(original);
        }
        String printed = captured.toString(StandardCharsets.UTF_8);
        original.println(printed);
        assertThat(code).as(printed).isZero();
        Matcher counts =
                Pattern.compile("messages in: (\\d+) +verdicts out: (\\d+)").matcher(printed);
        assertThat(counts.find()).as(printed).isTrue();
        assertThat(counts.group(2)).isEqualTo(counts.group(1));
        assertThat(printed)
                .contains(
                        "fail-closed: EMPTY_TEXT",
                        "dead letters on guardrail.dlq: 2",
                        "EMPTY_TEXT: text is empty (message empty-1)",
                        "NOT_WIRE_FORMAT");
    }
}
