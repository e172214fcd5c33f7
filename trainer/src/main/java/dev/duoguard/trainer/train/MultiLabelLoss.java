package dev.duoguard.trainer.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.nn.Activation;

/**
 * DuoGuard's multi-label categorical cross-entropy (ZLPR) over the category logits z, batched:
 * <pre>  L = log(1 + Σ_{i∈neg} e^{z_i}) + log(1 + Σ_{j∈pos} e^{-z_j})</pre>
 * A safe item has no positive category, so only the first term: every category is pushed below 0.
 *
 * <p><b>Unsafe items whose category is unknown</b> (AdvBench, MaliciousInstruct, most of ToxicChat: their sources
 * label only safe/unsafe). Pushing any particular category up would teach a wrong category; treating all 12 as
 * negative would teach "safe". The decision rule is unsafe ⇔ max p &gt; 0.5 ⇔ max z &gt; 0, so such an item gets
 * exactly that as its target and nothing else:
 * <pre>  L_unknown = log(1 + e^{-max_i z_i})</pre>
 * No category is pushed down (any may be the true one), and the gradient reaches only the category the model
 * already finds most likely, so the item says "unsafe" without choosing a category for the model.
 */
public final class MultiLabelLoss {

    /** Added to masked-out logits: e^{-1e4} is exactly 0 in fp32. */
    private static final float MASKED = -1e4f;

    private MultiLabelLoss() {
    }

    /**
     * Mean loss over a batch.
     *
     * @param logits   (B, C)
     * @param positive (B, C) 1 where the item belongs to the category, else 0
     * @param unknown  (B) 1 for an unsafe item whose category is unknown (its positive row must be all 0), else 0
     */
    public static NDArray loss(NDArray logits, NDArray positive, NDArray unknown) {
        NDArray known = unknown.neg().add(1f).expandDims(1);                       // (B, 1)
        NDArray negative = positive.neg().add(1f).mul(known);                      // (B, C) no negatives if unknown
        NDArray negTerm = logOnePlusSumExp(logits, negative);
        NDArray posTerm = logOnePlusSumExp(logits.neg(), positive);
        NDArray maxLogit = logits.max(new int[]{1});
        NDArray unknownTerm = Activation.softPlus(maxLogit.neg()).mul(unknown);
        return negTerm.add(posTerm).add(unknownTerm).mean();
    }

    /** log(1 + Σ_{mask=1} e^{x}) per row, computed stably as logsumexp over [0, x masked]. */
    static NDArray logOnePlusSumExp(NDArray x, NDArray mask) {
        NDArray masked = x.add(mask.neg().add(1f).mul(MASKED));                    // (B, C)
        NDArray zero = x.getManager().zeros(new ai.djl.ndarray.types.Shape(x.getShape().get(0), 1));
        NDArray all = NDArrays.concat(new ai.djl.ndarray.NDList(zero, masked), 1);  // (B, C + 1)
        NDArray m = all.max(new int[]{1}, true);
        return all.sub(m).exp().sum(new int[]{1}).log().add(m.squeeze(1));
    }

    /** The same loss for one item in plain Java, the tests' yardstick. */
    public static double reference(float[] z, boolean[] positive, boolean unknown) {
        double neg = 1, pos = 1, max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < z.length; i++) {
            max = Math.max(max, z[i]);
            if (positive[i]) {
                pos += Math.exp(-z[i]);
            } else if (!unknown) {
                neg += Math.exp(z[i]);
            }
        }
        double l = Math.log(neg) + Math.log(pos);
        return unknown ? l + Math.log1p(Math.exp(-max)) : l;
    }
}
