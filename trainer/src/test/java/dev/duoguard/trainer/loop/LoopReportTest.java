package dev.duoguard.trainer.loop;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import dev.duoguard.trainer.data.Example;
import dev.duoguard.trainer.eval.Evaluator;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** loop-report.json's field names, and undefined rates as null rather than a crash or a NaN. */
class LoopReportTest {

    static Example item(String id, String lang, boolean unsafe) {
        return new Example(
                id, "text " + id, lang, unsafe, unsafe ? Set.of(SafetyCategory.values()[0]) : Set.of(), "t", "", null);
    }

    @Test
    void writesEveryIterationWithTheFileFieldNames(@TempDir Path dir) throws IOException {
        List<Example> en = List.of(item("a", "en", true), item("b", "en", false));
        List<Example> de = List.of(item("c", "de", false), item("d", "de", false)); // no unsafe item: F1 undefined
        List<Evaluator.Row> dev = List.of(
                Evaluator.row("dev", "en", en, new float[] {0.9f, 0.1f}),
                Evaluator.row("dev", "de", de, new float[] {0.9f, 0.1f}));
        TwoPlayerLoop.Iteration first = new TwoPlayerLoop.Iteration(
                0,
                Map.of(),
                0,
                Map.of(),
                Map.of(),
                Map.of(),
                0,
                Double.NaN,
                0,
                Map.of("en", 2, "de", 2),
                dev,
                dir.resolve("iter-0/bundle"));
        TwoPlayerLoop.Iteration second = new TwoPlayerLoop.Iteration(
                1,
                Map.of("de", 3),
                12,
                Map.of("language", 2),
                Map.of("de", 10),
                Map.of("de", 4),
                4,
                0.25,
                10,
                Map.of("en", 2, "de", 12),
                dev,
                dir.resolve("iter-1/bundle"));
        LoopReport.write(List.of(first, second), LoopSettings.quick(), dir);

        JsonNode report =
                new ObjectMapper().readTree(dir.resolve("loop-report.json").toFile());
        assertThat(report.path("settings").path("promptsPerIteration").asInt()).isEqualTo(48);
        JsonNode it0 = report.path("iterations").get(0);
        assertThat(it0.path("misclassification_rate").isNull())
                .as("nothing generated yet")
                .isTrue();
        assertThat(it0.path("dpo_margin_after").isNull()).isTrue();
        assertThat(it0.path("dev").path("en").path("f1").asDouble()).isEqualTo(1.0);
        assertThat(it0.path("dev").path("de").path("f1").isNull())
                .as("no unsafe item in de")
                .isTrue();
        assertThat(it0.path("dev").path("de").path("fpr").asDouble()).isEqualTo(0.5);
        assertThat(it0.path("dev").path("de").path("flag_everything_f1").isNull())
                .isTrue();
        JsonNode it1 = report.path("iterations").get(1);
        assertThat(it1.path("requests_by_language").path("de").asInt()).isEqualTo(3);
        assertThat(it1.path("dropped_by_filter").path("language").asInt()).isEqualTo(2);
        assertThat(it1.path("kept_by_language").path("de").asInt()).isEqualTo(10);
        assertThat(it1.path("misclassified_by_language").path("de").asInt()).isEqualTo(4);
        assertThat(it1.path("misclassification_rate").asDouble()).isEqualTo(0.4);
        assertThat(it1.path("preference_pairs").asInt()).isEqualTo(4);
        assertThat(it1.path("dpo_margin_after").asDouble()).isEqualTo(0.25);
        assertThat(it1.path("synthetic_in_training").asInt()).isEqualTo(10);
        assertThat(it1.path("train_by_language").path("de").asInt()).isEqualTo(12);
        assertThat(it1.path("bundle").asText())
                .isEqualTo(dir.resolve("iter-1/bundle").toString());
        assertThat(dir.resolve("loop.png")).exists();
    }
}
