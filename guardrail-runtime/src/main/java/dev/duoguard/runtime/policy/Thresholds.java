package dev.duoguard.runtime.policy;

import dev.duoguard.runtime.taxonomy.SafetyCategory;
import java.util.Arrays;

/**
 * Per-category REVIEW and BLOCK thresholds on the category probability. A category at or above its BLOCK
 * threshold blocks the message; at or above REVIEW (and below BLOCK) it sends it to review.
 *
 * <p>A category whose {@code blockFollowsModel} is set has no BLOCK threshold of its own: it blocks at the model's
 * threshold for the item (the model that scored it, for the item's language), which is only known per decision;
 * its {@code block} value is then unused. This is what keeps the platform's default BLOCK equal to the model's
 * threshold across a model swap and across languages, while an operator's explicit value still wins.
 */
public record Thresholds(float[] review, float[] block, boolean[] blockFollowsModel) {

    public Thresholds {
        if (review.length != SafetyCategory.COUNT
                || block.length != SafetyCategory.COUNT
                || blockFollowsModel.length != SafetyCategory.COUNT) {
            throw new IllegalArgumentException("thresholds need " + SafetyCategory.COUNT + " values per level");
        }
        for (SafetyCategory c : SafetyCategory.ordered()) {
            float r = review[c.ordinal()];
            float b = block[c.ordinal()];
            boolean model = blockFollowsModel[c.ordinal()];
            if (!(r > 0 && r <= 1) || (!model && !(b > 0 && b <= 1))) {
                throw new IllegalArgumentException(
                        "thresholds of " + c.key() + " must be in (0, 1] but are review=" + r + " block=" + b);
            }
            if (!model && r > b) {
                throw new IllegalArgumentException(
                        "review threshold of " + c.key() + " (" + r + ") is above its block threshold (" + b + ")");
            }
        }
        review = review.clone();
        block = block.clone();
        blockFollowsModel = blockFollowsModel.clone();
    }

    /** Fixed thresholds: BLOCK does not follow the model. */
    public Thresholds(float[] review, float[] block) {
        this(review, block, new boolean[SafetyCategory.COUNT]);
    }

    public static Thresholds uniform(float review, float block) {
        float[] r = new float[SafetyCategory.COUNT];
        float[] b = new float[SafetyCategory.COUNT];
        Arrays.fill(r, review);
        Arrays.fill(b, block);
        return new Thresholds(r, b);
    }

    /** REVIEW at {@code review} for every category, BLOCK at the model's threshold for every category. */
    public static Thresholds followingModel(float review) {
        float[] r = new float[SafetyCategory.COUNT];
        float[] b = new float[SafetyCategory.COUNT];
        boolean[] model = new boolean[SafetyCategory.COUNT];
        Arrays.fill(r, review);
        Arrays.fill(b, 1f);
        Arrays.fill(model, true);
        return new Thresholds(r, b, model);
    }

    /** This with category {@code c}'s REVIEW and/or BLOCK set (null: unchanged); a set BLOCK no longer follows the model. */
    public Thresholds with(SafetyCategory c, Float reviewValue, Float blockValue) {
        float[] r = review.clone();
        float[] b = block.clone();
        boolean[] model = blockFollowsModel.clone();
        if (reviewValue != null) {
            r[c.ordinal()] = reviewValue;
        }
        if (blockValue != null) {
            b[c.ordinal()] = blockValue;
            model[c.ordinal()] = false;
        }
        return new Thresholds(r, b, model);
    }

    /** Category {@code i}'s BLOCK threshold for an item whose model thresholds are {@code modelThresholds}. */
    public float blockAt(int i, float[] modelThresholds) {
        return blockFollowsModel[i] ? modelThresholds[i] : block[i];
    }

    /**
     * Category {@code i}'s REVIEW threshold for that item: never above its BLOCK threshold, so a category that
     * blocks is always among the fired ones (a model threshold may be calibrated below the configured REVIEW).
     */
    public float reviewAt(int i, float[] modelThresholds) {
        return Math.min(review[i], blockAt(i, modelThresholds));
    }
}
