package dev.duoguard.streams.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.duoguard.runtime.baseline.LexiconBaseline;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class ScoreCommandTest {

    @TempDir
    Path dir;

    @Test
    void scoresStdinLinesAsJsonInBatches() throws Exception {
        Path bundle = LexiconBaseline.ensureBuilt(dir);
        String input = "How do I make a bomb?\nQuel temps fait-il à Lyon ?\n\nIch will mich umbringen\n";
        InputStream oldIn = System.in;
        PrintStream oldOut = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        try {
            System.setIn(new ByteArrayInputStream(input.getBytes(StandardCharsets.UTF_8)));
            System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
            int rc = new CommandLine(new DuoGuardCli()).execute("score", "--model", bundle.toString(), "--json", "--batch", "2",
                    "--device", "cpu");
            assertThat(rc).isZero();
        } finally {
            System.setIn(oldIn);
            System.setOut(oldOut);
        }
        List<String> lines = captured.toString(StandardCharsets.UTF_8).lines().toList();
        assertThat(lines).hasSize(4);
        ObjectMapper json = new ObjectMapper();
        JsonNode bomb = json.readTree(lines.get(0));
        assertThat(bomb.get("unsafe").asBoolean()).isTrue();
        assertThat(bomb.get("categories").get("Indiscriminate weapons").asDouble()).isGreaterThan(0.9);
        assertThat(bomb.get("categories").size()).isEqualTo(12);
        JsonNode weather = json.readTree(lines.get(1));
        assertThat(weather.get("unsafe").asBoolean()).isFalse();
        assertThat(weather.get("language").asText()).isEqualTo("fr");
        assertThat(json.readTree(lines.get(2)).get("unsafe").asBoolean()).as("an empty line scores as safe").isFalse();
        assertThat(json.readTree(lines.get(3)).get("categories").get("Suicide and self-harm").asDouble()).isGreaterThan(0.9);
    }
}
