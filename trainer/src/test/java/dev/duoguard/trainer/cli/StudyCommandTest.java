package dev.duoguard.trainer.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.duoguard.trainer.data.Example;
import dev.duoguard.trainer.eval.Evaluator;
import dev.duoguard.trainer.loop.TwoPlayerLoop;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class StudyCommandTest {

    @Test
    void aStudyRowWritesUndefinedRatesAsNull() {
        List<Example> safeOnly = List.of(
                new Example("a", "hallo", "de", false, Set.of(), "t", "", null),
                new Example("b", "guten tag", "de", false, Set.of(), "t", "", null));
        TwoPlayerLoop.Iteration it = new TwoPlayerLoop.Iteration(
                0,
                Map.of(),
                0,
                Map.of(),
                Map.of(),
                Map.of(),
                0,
                Double.NaN,
                0,
                Map.of("de", 2),
                List.of(Evaluator.row("dev", "de", safeOnly, new float[] {0.9f, 0.1f})),
                Path.of("bundle"));
        JsonNode row = new ObjectMapper().valueToTree(StudyCommand.StudyRow.of(it));
        assertThat(row.path("iteration").asInt()).isZero();
        assertThat(row.path("misclassification_rate").isNull())
                .as("nothing generated")
                .isTrue();
        assertThat(row.path("kept").asInt()).isZero();
        assertThat(row.path("synthetic_in_training").asInt()).isZero();
        assertThat(row.path("dev").path("de").path("f1").isNull())
                .as("no unsafe dev item")
                .isTrue();
        assertThat(row.path("dev").path("de").path("fpr").asDouble()).isEqualTo(0.5);
        assertThat(row.path("dev").path("de").path("n").asInt()).isEqualTo(2);
    }
}
