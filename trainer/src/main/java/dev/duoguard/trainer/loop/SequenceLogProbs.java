package dev.duoguard.trainer.loop;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.duoguard.trainer.engine.DjlTransformer;

/**
 * Log-probability of each row's completion under a causal LM: Σ_{t ≥ promptLength} log p(x_t | x_{&lt;t}), over
 * right-padded rows {@code prompt ++ completion}. Rows are (B, T) int64 ids with a (B, T) mask.
 */
public final class SequenceLogProbs {

    private SequenceLogProbs() {}

    /** (B) completion log-probabilities; differentiable through {@code model}. */
    public static NDArray of(DjlTransformer model, NDArray ids, NDArray mask, int[] promptLengths) {
        NDManager m = ids.getManager();
        long b = ids.getShape().get(0);
        long t = ids.getShape().get(1);
        NDArray logp = model.lmLogits(ids, mask).logSoftmax(2); // (B, T, V)
        NDArray predicted = logp.get(":, :-1, :"); // predicts positions 1..T-1
        NDArray next = ids.get(":, 1:").expandDims(2); // (B, T-1, 1)
        NDArray tokenLogp = predicted.gather(next, 2).squeeze(2); // (B, T-1)
        float[] completion = new float[(int) (b * (t - 1))];
        for (int r = 0; r < b; r++) {
            for (int pos = Math.max(1, promptLengths[r]); pos < t; pos++) {
                completion[(int) (r * (t - 1) + pos - 1)] = 1f; // target position pos
            }
        }
        NDArray keep =
                m.create(completion, new Shape(b, t - 1)).mul(mask.get(":, 1:").toType(DataType.FLOAT32, false));
        return tokenLogp.mul(keep).sum(new int[] {1});
    }
}
