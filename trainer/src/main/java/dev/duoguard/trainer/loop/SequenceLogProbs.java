package dev.duoguard.trainer.loop;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.duoguard.trainer.engine.DjlTransformer;
import dev.duoguard.trainer.engine.Gradients;
import dev.duoguard.trainer.engine.Scopes;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.BiFunction;

/**
 * Log-probability of each row's completion under a causal LM: Σ_{t ≥ promptLength} log p(x_t | x_{&lt;t}), over
 * right-padded rows {@code prompt ++ completion}. Rows are (B, T) int64 ids with a (B, T) mask.
 */
public final class SequenceLogProbs {

    /**
     * Values of the LM head's (rows, T, V) fp32 logits a checkpointed pass computes at once: 2^26 (256 MiB, and as
     * much again for the log-softmax and for their gradient). A whole batch at Qwen's 151,936 tokens would be tens of
     * GiB: the head, not the layers, is then the largest part of a step.
     */
    public static final long HEAD_VALUES = 1L << 26;

    private SequenceLogProbs() {}

    /** (B) completion log-probabilities; differentiable through {@code model}. */
    public static NDArray of(DjlTransformer model, NDArray ids, NDArray mask, int[] promptLengths) {
        return ofHidden(model, model.hidden(ids, mask), ids, mask, promptLengths);
    }

    /**
     * {@link #of} without gradients and with a forward's memory, not a training pass's: one layer's temporaries at a
     * time ({@link DjlTransformer#hiddenWithoutGrad}) and the LM head {@link #HEAD_VALUES} logits at a time. DPO's
     * reference runs this way, so with activation checkpointing its forward is not the step's largest part.
     */
    public static NDArray withoutGrad(DjlTransformer model, NDArray ids, NDArray mask, int[] promptLengths) {
        return Gradients.noGrad(() -> {
            NDArray hidden = model.hiddenWithoutGrad(ids, mask);
            int rows = (int) ids.getShape().get(0);
            return byChunks(rows, rowsPerChunk(model, ids, HEAD_VALUES), (from, to) -> {
                String r = from + ":" + to;
                return ofHidden(
                        model, hidden.get(r), ids.get(r), mask.get(r), Arrays.copyOfRange(promptLengths, from, to));
            });
        });
    }

    /** Rows of {@code ids} whose LM-head logits fit in {@code headValues}, at least one. */
    private static int rowsPerChunk(DjlTransformer model, NDArray ids, long headValues) {
        long perRow = ids.getShape().get(1) * model.config().vocabSize();
        return (int) Math.max(1, Math.min(ids.getShape().get(0), headValues / perRow));
    }

    /** {@code chunk(from, to)} over the rows, {@code rowsPerChunk} at a time, each in a scope of its own, joined. */
    private static NDArray byChunks(int rows, int rowsPerChunk, BiFunction<Integer, Integer, NDArray> chunk) {
        List<NDArray> parts = new ArrayList<>();
        for (int start = 0; start < rows; start += rowsPerChunk) {
            int from = start;
            int to = Math.min(rows, from + rowsPerChunk);
            parts.add(Scopes.keepOnly(() -> chunk.apply(from, to)));
        }
        return parts.size() == 1 ? parts.get(0) : NDArrays.concat(new NDList(parts));
    }

    /** (B) completion log-probabilities from the final-norm hidden states (B, T, D) of the rows. */
    static NDArray ofHidden(DjlTransformer model, NDArray hidden, NDArray ids, NDArray mask, int[] promptLengths) {
        NDManager m = ids.getManager();
        long b = ids.getShape().get(0);
        long t = ids.getShape().get(1);
        NDArray logp = model.lmHead(hidden).logSoftmax(2); // (B, T, V)
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

    /**
     * The log-probabilities of {@link #of} from a checkpointed forward ({@link DjlTransformer#checkpoint}), for a
     * training step that builds its loss on {@link #values()} (a leaf) and then calls {@link #backward()}. Both the
     * values and their backward pass go through the LM head a few rows at a time ({@link #HEAD_VALUES}).
     */
    public static Checkpointed checkpointed(DjlTransformer model, NDArray ids, NDArray mask, int[] promptLengths) {
        return checkpointed(model, ids, mask, promptLengths, HEAD_VALUES);
    }

    /** {@link #checkpointed} with the LM head computing at most {@code headValues} logits at once (at least a row). */
    static Checkpointed checkpointed(
            DjlTransformer model, NDArray ids, NDArray mask, int[] promptLengths, long headValues) {
        return new Checkpointed(model, ids, mask, promptLengths, headValues);
    }

    /** See {@link #checkpointed}. */
    public static final class Checkpointed {
        private final DjlTransformer model;
        private final DjlTransformer.Checkpoint pass;
        private final NDArray ids;
        private final NDArray mask;
        private final int[] promptLengths;
        private final int rowsPerChunk;
        private final NDArray values;

        private Checkpointed(DjlTransformer model, NDArray ids, NDArray mask, int[] promptLengths, long headValues) {
            this.model = model;
            this.ids = ids;
            this.mask = mask;
            this.promptLengths = promptLengths;
            this.pass = model.checkpoint(ids, mask);
            this.rowsPerChunk = rowsPerChunk(model, ids, headValues);
            this.values = Gradients.noGrad(() -> byChunks(pass.rows(), rowsPerChunk, this::chunk));
            values.setRequiresGradient(true);
        }

        private NDArray chunk(int from, int to) {
            String rows = from + ":" + to;
            return ofHidden(
                    model,
                    pass.hidden(from, to),
                    ids.get(rows),
                    mask.get(rows),
                    Arrays.copyOfRange(promptLengths, from, to));
        }

        /** (B) completion log-probabilities, a leaf: build the loss on them (with autograd), run its backward. */
        public NDArray values() {
            return values;
        }

        /**
         * After the loss's backward pass: the gradient on {@link #values()} through the LM head (chunk by chunk,
         * recomputed) and then through the layers ({@link DjlTransformer.Checkpoint#backward}).
         */
        @SuppressWarnings("try") // NDScope: arrays made inside are registered with it implicitly, never named
        public void backward() {
            try (NDArray g = values.getGradient()) {
                for (int from = 0; from < pass.rows(); from += rowsPerChunk) {
                    int to = Math.min(pass.rows(), from + rowsPerChunk);
                    try (NDScope scope = new NDScope()) {
                        Gradients.backward(chunk(from, to), g.get(from + ":" + to));
                    }
                }
            }
            pass.backward();
        }
    }
}
