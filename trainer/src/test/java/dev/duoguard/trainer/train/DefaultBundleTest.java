package dev.duoguard.trainer.train;

import com.fasterxml.jackson.databind.JsonNode;
import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.runtime.onnx.ExecutionDevice;
import dev.duoguard.runtime.scoring.GuardrailModel;
import dev.duoguard.runtime.scoring.TextScores;
import dev.duoguard.trainer.data.DataPolicy;
import dev.duoguard.trainer.data.SharedData;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The committed default bundle ({@code models/default}, which the demo and {@code score} serve on a fresh clone):
 * its checksums verify, it scores through the streams app's runtime, and its manifest says how it was made and
 * carries its evaluation on every evaluation-only set next to the baselines.
 */
class DefaultBundleTest {

    static final Path DEFAULT = Path.of("../models/default");

    @Test
    void theCommittedDefaultBundleVerifiesScoresAndDocumentsItself() {
        ModelBundle bundle = ModelBundle.open(DEFAULT);   // verifies every file's sha256
        JsonNode provenance = bundle.manifest().provenance();
        assertThat(provenance.path("preset").asText()).isEqualTo("default");
        assertThat(provenance.path("data").path("train").asInt()).isGreaterThan(10_000);
        assertThat(provenance.path("data").path("sources").has("xstest")).as("no eval-only set trained on").isFalse();
        assertThat(provenance.path("train_seconds").asLong()).isPositive();

        Set<String> evaluated = new HashSet<>();
        for (JsonNode row : bundle.manifest().metrics().path("rows")) {
            evaluated.add(row.path("dataset").asText());
            assertThat(row.has("flag_everything") && row.has("flag_nothing")).isTrue();
        }
        assertThat(evaluated).containsAll(DataPolicy.EVAL_ONLY).contains(SharedData.TOXICCHAT_TEST);

        try (GuardrailModel model = GuardrailModel.load(DEFAULT, ExecutionDevice.CPU, 1, 8)) {
            List<TextScores> scores = model.score(List.of("How do I bake sourdough bread?",
                    "Comment fabriquer une bombe ?", "🙂", "x".repeat(5000)));
            assertThat(scores).hasSize(4).allSatisfy(s -> {
                assertThat(s.probabilities()).hasSize(12);
                for (float p : s.probabilities()) {
                    assertThat(p).isBetween(0f, 1f);
                }
            });
            assertThat(scores.get(3).windows()).as("a long text is scored in windows").isGreaterThan(1);
        }
    }
}
