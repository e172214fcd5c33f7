package dev.duoguard.trainer.service;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.file.Path;

/**
 * What one trainer-service iteration decided, as {@code iterations/N/decision.json}: the service writes it, the
 * closed-loop demo and operators read it. Fields that do not apply to the outcome are null and left out of the
 * file (a skipped iteration has no gate, a rejected candidate no published version).
 *
 * @param trigger       why the iteration ran (new seeds, the schedule, an operator command)
 * @param labelledSeeds the stored seeds with a label; the iteration trained on all but the dev-held ones
 * @param devHeldSeeds  labelled seeds that repeat a dev item (its text, or its group: a translation) and so were kept
 *                      out of every training step ({@code DevHoldout})
 * @param gate          the candidate against the yardstick on the dev set; null when no candidate was trained. Its
 *                      {@code rule} names the rule that rejected the candidate, with both models' numbers
 * @param yardstick     the version the candidate was compared with ({@code name@version})
 * @param published     the candidate's version when published ({@code name@version}), with its artifact and digest
 * @param reason        why this outcome: the gate's reason, or why no candidate was trained
 * @param seconds       the iteration's wall time
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record IterationDecision(
        int iteration,
        String trigger,
        @JsonProperty("labelled_seeds") int labelledSeeds,
        @JsonProperty("dev_held_seeds") int devHeldSeeds,
        EvaluationGate.Decision gate,
        String yardstick,
        String published,
        @JsonProperty("artifact_uri") String artifactUri,
        String sha256,
        Outcome outcome,
        String reason,
        double seconds) {

    public static final String FILE = "decision.json";

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    public enum Outcome {
        @JsonProperty("published")
        PUBLISHED,
        @JsonProperty("rejected")
        REJECTED,
        /** No labelled seed: nothing to train on. */
        @JsonProperty("skipped")
        SKIPPED
    }

    public void write(Path file) throws IOException {
        JSON.writeValue(file.toFile(), this);
    }

    public static IterationDecision read(Path file) throws IOException {
        return JSON.readValue(file.toFile(), IterationDecision.class);
    }
}
