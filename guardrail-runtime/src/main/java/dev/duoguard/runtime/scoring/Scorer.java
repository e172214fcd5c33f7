package dev.duoguard.runtime.scoring;

import java.util.List;

/**
 * Scores texts with a guardrail classifier. The streams topology depends only on this interface, so its tests can
 * pass a fake; production passes a {@link DynamicBatcher} over a {@link GuardrailModel}.
 */
public interface Scorer {

    /** Scores of each text, in order. Throws {@link ScoringException} when the model fails or a bounded wait expires. */
    List<TextScores> score(List<String> texts);

    /** The text DuoGuard scores for a (prompt, reply) pair; bundles may choose another separator. */
    default String pairText(String prompt, String reply) {
        return prompt + " " + reply;
    }

    /** Which model answers. */
    ModelIdentity model();

    /** @param name model name, @param version model version, @param thresholds per-category model thresholds in order */
    record ModelIdentity(String name, String version, float[] thresholds, String device) {
    }
}
