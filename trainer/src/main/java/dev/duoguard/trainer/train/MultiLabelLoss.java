package dev.duoguard.trainer.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;

/**
 * DuoGuard's multi-label categorical cross-entropy (ZLPR) over the category logits z, batched:
 * <pre>  L = log(1 + Σ_{i∈neg} e^{z_i}) + log(1 + Σ_{j∈pos} e^{-z_j})</pre>
 * A safe item has no positive category, so only the first term: every category is pushed below 0.
 *
 * <p><b>Unsafe items whose category is unknown</b> (those of AdvBench, MaliciousInstruct, ToxicChat, ... that no
 * inference rule names). Pushing one particular category up would teach a wrong category; treating all 12 as
 * negative would teach "safe". Such an item's target is "at least one category", written as a soft maximum that
 * never exceeds the true one, the log-mean-exp:
 * <pre>  L_unknown = log(1 + e^{-LME(z)}),  LME(z) = log (1/C) Σ_i e^{z_i}  ≤  max_i z_i</pre>
 * so a small loss implies max z &gt; 0 (the item is flagged). No category is pushed down. The gradient on z_c is
 * {@code -σ(-LME) · softmax(z)_c}: spread over the categories in proportion to how likely the model already finds
 * them, so while the model is unsure it is spread evenly and no fixed category absorbs every unknown item. (The earlier target, {@code log(1 + e^{-max z})}, gave the whole
 * gradient to the current top category: with 75 % of the labelled unsafe items in Hate, every unknown item taught
 * "Hate".)
 *
 * <p>Items carry loss weights (see {@code MixWeights}); the batch loss is {@code Σ w L / Σ w}.
 */
public final class MultiLabelLoss {

    /** Added to masked-out logits: e^{-1e4} is exactly 0 in fp32. */
    private static final float MASKED = -1e4f;

    private MultiLabelLoss() {}

    /** Unweighted mean loss over a batch; see {@link #loss(NDArray, NDArray, NDArray, NDArray)}. */
    public static NDArray loss(NDArray logits, NDArray positive, NDArray unknown) {
        return loss(logits, positive, unknown, unknown.onesLike());
    }

    /**
     * Weighted mean loss over a batch.
     *
     * @param logits   (B, C)
     * @param positive (B, C) 1 where the item belongs to the category, else 0
     * @param unknown  (B) 1 for an unsafe item whose category is unknown (its positive row must be all 0), else 0
     * @param weights  (B) loss weight of each item
     */
    public static NDArray loss(NDArray logits, NDArray positive, NDArray unknown, NDArray weights) {
        NDArray known = unknown.neg().add(1f).expandDims(1); // (B, 1)
        NDArray negative = positive.neg().add(1f).mul(known); // (B, C) no negatives if unknown
        NDArray negTerm = logOnePlusSumExp(logits, negative);
        NDArray posTerm = logOnePlusSumExp(logits.neg(), positive);
        NDArray lse = logits.logSoftmax(1).neg().add(logits).get(":, 0"); // LSE(z) = z_0 - log_softmax(z)_0
        NDArray lme = lse.sub((float) Math.log(logits.getShape().get(1))); // log-mean-exp
        NDArray unknownTerm = Activation.softPlus(lme.neg()).mul(unknown);
        NDArray perItem = negTerm.add(posTerm).add(unknownTerm);
        return perItem.mul(weights).sum().div(weights.sum());
    }

    /** log(1 + Σ_{mask=1} e^{x}) per row, computed stably as logsumexp over [0, x masked]. */
    static NDArray logOnePlusSumExp(NDArray x, NDArray mask) {
        NDArray masked = x.add(mask.neg().add(1f).mul(MASKED)); // (B, C)
        NDArray zero = x.getManager().zeros(new Shape(x.getShape().get(0), 1));
        NDArray all = NDArrays.concat(new NDList(zero, masked), 1); // (B, C + 1)
        NDArray m = all.max(new int[] {1}, true);
        return all.sub(m).exp().sum(new int[] {1}).log().add(m.squeeze(1));
    }

    /** The same loss for one item in plain Java, the tests' yardstick. */
    public static double reference(float[] z, boolean[] positive, boolean unknown) {
        double neg = 1, pos = 1, sumExp = 0;
        for (int i = 0; i < z.length; i++) {
            sumExp += Math.exp(z[i]);
            if (positive[i]) {
                pos += Math.exp(-z[i]);
            } else if (!unknown) {
                neg += Math.exp(z[i]);
            }
        }
        double l = Math.log(neg) + Math.log(pos);
        return unknown ? l + Math.log1p(z.length / sumExp) : l;
    }
}
