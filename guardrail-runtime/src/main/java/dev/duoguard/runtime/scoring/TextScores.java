package dev.duoguard.runtime.scoring;

import dev.duoguard.runtime.taxonomy.SafetyCategory;

/**
 * Category probabilities of one text (sigmoid of the logits; for a long text the maximum over its windows).
 *
 * @param probabilities one per {@link SafetyCategory}, in order
 * @param windows       how many model windows the text needed
 */
public record TextScores(float[] probabilities, int windows) {

    public TextScores {
        if (probabilities.length != SafetyCategory.COUNT) {
            throw new IllegalArgumentException(
                    "expected " + SafetyCategory.COUNT + " probabilities but got " + probabilities.length);
        }
    }

    /** DuoGuard's item score: the maximum category probability. */
    public float unsafeScore() {
        float max = 0f;
        for (float p : probabilities) {
            max = Math.max(max, p);
        }
        return max;
    }

    public float probability(SafetyCategory c) {
        return probabilities[c.ordinal()];
    }
}
