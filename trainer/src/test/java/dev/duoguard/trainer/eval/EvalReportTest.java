package dev.duoguard.trainer.eval;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import dev.duoguard.trainer.data.Example;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** eval.json and a manifest's metrics: one document, with the field names they have always had. */
class EvalReportTest {

    static Example item(String id, boolean unsafe) {
        return new Example(
                id, "text " + id, "fr", unsafe, unsafe ? Set.of(SafetyCategory.values()[0]) : Set.of(), "t", "", null);
    }

    @Test
    void theJsonReportAndTheManifestMetricsAreTheSameDocument(@TempDir Path dir) throws IOException {
        Evaluator.Row mixed = Evaluator.row(
                "xstest", "fr", List.of(item("a", true), item("b", false), item("c", false)), new float[] {
                    0.9f, 0.6f, 0.1f
                });
        Evaluator.Row safeOnly = Evaluator.row("xstest", "de", List.of(item("d", false)), new float[] {0.2f});
        Evaluator.Result r = new Evaluator.Result(
                "duoguard-test 1",
                List.of(mixed, safeOnly),
                new Evaluator.Speed(0, Double.NaN, Double.NaN, Double.NaN, 4, 200.0),
                "global 0.500");
        Path file = dir.resolve("eval.json");
        EvalReport.writeJson(r, file);

        JsonNode json = new ObjectMapper().readTree(file.toFile());
        // as text: the tree holds an undefined latency as a NaN number, the file as the string "NaN"
        assertThat(json.toString()).isEqualTo(EvalReport.manifestMetrics(r).toString());
        assertThat(json.path("model").asText()).isEqualTo("duoguard-test 1");
        assertThat(json.path("thresholds").asText()).isEqualTo("global 0.500");
        assertThat(json.path("rule").asText()).startsWith("unsafe iff any category probability");
        JsonNode row = json.path("rows").get(0);
        assertThat(row.path("dataset").asText()).isEqualTo("xstest");
        assertThat(row.path("lang").asText()).isEqualTo("fr");
        assertThat(row.path("threshold_source").asText()).isEqualTo("0.5");
        assertThat(row.path("model").path("tp").asInt()).isEqualTo(1);
        assertThat(row.path("model").path("fp").asInt()).isEqualTo(1);
        assertThat(row.path("model").path("precision").asDouble()).isEqualTo(0.5);
        assertThat(row.path("flag_everything").path("fpr").asDouble()).isEqualTo(1.0);
        assertThat(row.path("flag_nothing").path("recall").asDouble()).isZero();
        assertThat(json.path("rows").get(1).path("model").path("f1").isNull())
                .as("no unsafe item")
                .isTrue();
        assertThat(json.path("throughput").path("items").asInt()).isEqualTo(4);
        assertThat(json.path("throughput").path("items_per_second").asDouble()).isEqualTo(200.0);
        assertThat(json.path("latency_ms").path("samples").asInt()).isZero();
        assertThat(json.path("latency_ms").has("p95")).isTrue();
    }
}
