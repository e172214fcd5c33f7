package dev.duoguard.trainer.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** decision.json: written by the trainer service, read by the closed-loop demo and operators. */
class IterationDecisionTest {

    @Test
    void aPublishedDecisionRoundTripsWithItsFileFieldNames(@TempDir Path dir) throws IOException {
        EvaluationGate.Decision gate = new EvaluationGate(0.02, 0.02, 100)
                .decide(
                        EvaluationGateTest.evaluation(EvaluationGateTest.languages(
                                new EvaluationGateTest.Counts(100, 50, 100, 5),
                                new EvaluationGateTest.Counts(100, 50, 100, 5))),
                        EvaluationGateTest.evaluation(EvaluationGateTest.languages(
                                new EvaluationGateTest.Counts(100, 60, 100, 5),
                                new EvaluationGateTest.Counts(100, 60, 100, 5))));
        IterationDecision d = new IterationDecision(
                3,
                "operator command",
                60,
                2,
                gate,
                "duoguard-default@2",
                "duoguard-default@3",
                "file:///artifacts/duoguard-default/3",
                "ab12",
                IterationDecision.Outcome.PUBLISHED,
                gate.reason(),
                12.5);
        Path f = dir.resolve(IterationDecision.FILE);
        d.write(f);

        assertThat(IterationDecision.read(f)).isEqualTo(d);
        JsonNode json = new ObjectMapper().readTree(f.toFile());
        assertThat(json.path("labelled_seeds").asInt()).isEqualTo(60);
        assertThat(json.path("artifact_uri").asText()).isEqualTo("file:///artifacts/duoguard-default/3");
        assertThat(json.path("outcome").asText()).isEqualTo("published");
        assertThat(json.path("dev_held_seeds").asInt()).isEqualTo(2);
        assertThat(json.path("gate").path("rule").asText()).isEqualTo("passed");
        assertThat(json.path("gate").path("reason").asText()).startsWith("mean F1 0.7273 > 0.6452");
        assertThat(json.path("gate").path("candidateF1").path("fr").asDouble()).isCloseTo(0.7273, within(1e-4));
        assertThat(json.path("gate").path("candidateFpr").path("fr").asDouble()).isEqualTo(0.05);
        assertThat(json.path("gate").path("safeItems").path("all").asInt()).isEqualTo(200);
        assertThat(json.path("gate").path("fprMargin").asDouble()).isEqualTo(0.02);
    }

    @Test
    void aSkippedDecisionLeavesOutWhatDoesNotApplyAndARejectionWithoutCommonLanguagesRoundTrips(@TempDir Path dir)
            throws IOException {
        IterationDecision skipped = new IterationDecision(
                1,
                "schedule",
                0,
                0,
                null,
                null,
                null,
                null,
                null,
                IterationDecision.Outcome.SKIPPED,
                "no labelled seeds",
                0.1);
        Path f = dir.resolve("skipped.json");
        skipped.write(f);
        JsonNode json = new ObjectMapper().readTree(f.toFile());
        assertThat(json.has("gate")).isFalse();
        assertThat(json.has("published")).isFalse();
        assertThat(json.path("outcome").asText()).isEqualTo("skipped");
        assertThat(IterationDecision.read(f)).isEqualTo(skipped);

        // no language in both evaluations: the gate's means and values are undefined (NaN), and survive the file
        EvaluationGate.Decision gate = new EvaluationGate(0.02, 0.02, 100).decide(List.of(), List.of());
        IterationDecision rejected = new IterationDecision(
                2,
                "schedule",
                5,
                0,
                gate,
                "m@1",
                null,
                null,
                null,
                IterationDecision.Outcome.REJECTED,
                gate.reason(),
                1.0);
        Path g = dir.resolve("rejected.json");
        rejected.write(g);
        IterationDecision back = IterationDecision.read(g);
        assertThat(back.gate().activeMean()).isNaN();
        assertThat(back.gate().rule()).isEqualTo(EvaluationGate.Rule.FALSE_POSITIVE_RATE_UNJUDGED);
        assertThat(back).isEqualTo(rejected);
    }
}
