package dev.duoguard.streams.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.duoguard.runtime.baseline.LexiconBaseline;
import dev.duoguard.runtime.bundle.BundleManifest;
import dev.duoguard.runtime.bundle.ModelBundle;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

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
            int rc = new CommandLine(new DuoGuardCli())
                    .execute("score", "--model", bundle.toString(), "--json", "--batch", "2", "--device", "cpu");
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
        assertThat(bomb.get("categories").get("Indiscriminate weapons").asDouble())
                .isGreaterThan(0.9);
        assertThat(bomb.get("categories").size()).isEqualTo(12);
        JsonNode weather = json.readTree(lines.get(1));
        assertThat(weather.get("unsafe").asBoolean()).isFalse();
        assertThat(weather.get("language").asText()).isEqualTo("fr");
        assertThat(json.readTree(lines.get(2)).get("unsafe").asBoolean())
                .as("an empty line scores as safe")
                .isFalse();
        assertThat(json.readTree(lines.get(3))
                        .get("categories")
                        .get("Suicide and self-harm")
                        .asDouble())
                .isGreaterThan(0.9);
    }

    JsonNode scoreJson(Path bundle, String... extra) throws Exception {
        PrintStream oldOut = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
            List<String> args =
                    new ArrayList<>(List.of("score", "--model", bundle.toString(), "--json", "--device", "cpu"));
            args.addAll(List.of(extra));
            assertThat(new CommandLine(new DuoGuardCli()).execute(args.toArray(String[]::new)))
                    .isZero();
        } finally {
            System.setOut(oldOut);
        }
        return new ObjectMapper()
                .readTree(captured.toString(StandardCharsets.UTF_8)
                        .lines()
                        .findFirst()
                        .orElseThrow());
    }

    static void languageThresholds(Path bundle, Map<String, Map<String, Double>> perLanguage) throws Exception {
        BundleManifest m = ModelBundle.open(bundle).manifest();
        ModelBundle.writeManifest(bundle, m.withFiles(null).withThresholds(0.5, null, perLanguage));
    }

    @Test
    void theManifestsThresholdsForTheTextsLanguageDecide() throws Exception {
        Path bundle = dir.resolve("b");
        LexiconBaseline.build(bundle);
        String text = "je veux voler une voiture"; // one weak lexicon term: p = 0.45
        languageThresholds(bundle, Map.of("fr", Map.of("*", 0.9)));
        JsonNode strict = scoreJson(bundle, text);
        assertThat(strict.get("language").asText()).isEqualTo("fr");
        assertThat(strict.get("unsafe").asBoolean()).isFalse();
        assertThat(strict.get("thresholds").asText()).isEqualTo("fr");

        languageThresholds(bundle, Map.of("fr", Map.of("*", 0.05)));
        JsonNode loose = scoreJson(bundle, text);
        assertThat(loose.get("unsafe_score").asDouble())
                .isEqualTo(strict.get("unsafe_score").asDouble());
        assertThat(loose.get("unsafe").asBoolean()).isTrue();
        JsonNode hinted = scoreJson(bundle, "--lang", "en", text);
        assertThat(hinted.get("unsafe").asBoolean())
                .as("--lang en: the global 0.5")
                .isFalse();
        assertThat(hinted.get("thresholds").asText()).isEqualTo("global");
    }
}
