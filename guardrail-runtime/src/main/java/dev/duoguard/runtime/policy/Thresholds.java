package dev.duoguard.runtime.policy;

import dev.duoguard.runtime.taxonomy.SafetyCategory;

import java.util.Arrays;

/**
 * Per-category REVIEW and BLOCK thresholds on the category probability. A category at or above its BLOCK
 * threshold blocks the message; at or above REVIEW (and below BLOCK) it sends it to review.
 */
public record Thresholds(float[] review, float[] block) {

    public Thresholds {
        if (review.length != SafetyCategory.COUNT || block.length != SafetyCategory.COUNT) {
            throw new IllegalArgumentException("thresholds need " + SafetyCategory.COUNT + " values per level");
        }
        for (SafetyCategory c : SafetyCategory.ordered()) {
            float r = review[c.ordinal()];
            float b = block[c.ordinal()];
            if (!(r > 0 && r <= 1) || !(b > 0 && b <= 1)) {
                throw new IllegalArgumentException("thresholds of " + c.key() + " must be in (0, 1] but are review="
                        + r + " block=" + b);
            }
            if (r > b) {
                throw new IllegalArgumentException("review threshold of " + c.key() + " (" + r
                        + ") is above its block threshold (" + b + ")");
            }
        }
        review = review.clone();
        block = block.clone();
    }

    public static Thresholds uniform(float review, float block) {
        float[] r = new float[SafetyCategory.COUNT];
        float[] b = new float[SafetyCategory.COUNT];
        Arrays.fill(r, review);
        Arrays.fill(b, block);
        return new Thresholds(r, b);
    }

    public Thresholds with(SafetyCategory c, Float reviewValue, Float blockValue) {
        float[] r = review.clone();
        float[] b = block.clone();
        if (reviewValue != null) {
            r[c.ordinal()] = reviewValue;
        }
        if (blockValue != null) {
            b[c.ordinal()] = blockValue;
        }
        return new Thresholds(r, b);
    }
}
