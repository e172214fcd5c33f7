package dev.duoguard.trainer.engine;

import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

/**
 * Low-rank adapters on a decoder's projections, as PEFT's {@code LoraConfig}: W x + (alpha / r) B A x with A (r, in)
 * and B (out, r), dropout on the adapter's input while training.
 *
 * @param rank    r, at least 1
 * @param alpha   the scale's numerator, above 0
 * @param dropout the adapter's input dropout while training, in [0, 1)
 * @param targets projection names adapted in every layer (sorted, no duplicates), from {@link #PROJECTIONS}
 */
public record LoraConfig(int rank, float alpha, float dropout, List<String> targets) {

    /** The projections of a Qwen2/Llama layer an adapter can sit on. */
    public static final List<String> PROJECTIONS =
            List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj");

    /** PEFT's default targets for Qwen2 and Llama. */
    public static final List<String> DEFAULT_TARGETS = List.of("q_proj", "v_proj");

    public static final int DEFAULT_RANK = 16;
    public static final float DEFAULT_ALPHA = 32f;

    /** @throws IllegalArgumentException naming every value out of range */
    public LoraConfig {
        List<String> problems = new ArrayList<>();
        if (rank < 1) {
            problems.add("rank must be at least 1 (got " + rank + ")");
        }
        if (!(alpha > 0) || Float.isInfinite(alpha)) {
            problems.add("alpha must be above 0 (got " + alpha + ")");
        }
        if (!(dropout >= 0 && dropout < 1)) {
            problems.add("dropout must be in [0, 1) (got " + dropout + ")");
        }
        if (targets == null || targets.isEmpty() || !PROJECTIONS.containsAll(targets)) {
            problems.add("targets must be some of " + PROJECTIONS + " (got " + targets + ")");
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException("invalid LoRA config: " + String.join("; ", problems));
        }
        targets = List.copyOf(new TreeSet<>(targets));
    }

    /** r and alpha on the default targets, no dropout. */
    public static LoraConfig of(int rank, float alpha) {
        return new LoraConfig(rank, alpha, 0f, DEFAULT_TARGETS);
    }

    /** alpha / r, what B A x is multiplied by. */
    public float scale() {
        return alpha / rank;
    }
}
