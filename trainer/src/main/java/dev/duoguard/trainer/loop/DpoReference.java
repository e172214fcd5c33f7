package dev.duoguard.trainer.loop;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import dev.duoguard.trainer.engine.DjlTransformer;
import dev.duoguard.trainer.engine.Gradients;

/**
 * DPO's reference policy π_ref: with LoRA, the generator itself with its adapters switched off (the base weights
 * never change, so no second copy is needed; as TRL does with a PEFT model); for full fine-tuning, a frozen copy of
 * every weight, closed with this object. The two differ after the first iteration: the copy is the generator before
 * this update (the paper's wording), the adapters-off base is the checkpoint the loop started from, so LoRA's DPO
 * stays anchored to the original model across iterations.
 */
public final class DpoReference implements AutoCloseable {

    private final DjlTransformer model;
    private final boolean adaptersOff;

    private DpoReference(DjlTransformer model, boolean adaptersOff) {
        this.model = model;
        this.adaptersOff = adaptersOff;
    }

    /**
     * The base of a LoRA-adapted {@code generator}: the same arrays, forwarded without the adapters.
     *
     * @throws IllegalArgumentException when the generator has no adapters (its reference would move with it)
     */
    public static DpoReference adaptersOff(DjlTransformer generator) {
        if (generator.loraConfig() == null) {
            throw new IllegalArgumentException(
                    "the generator has no LoRA adapters: its reference must be a frozen copy");
        }
        return new DpoReference(generator, true);
    }

    /** A copy of every weight of {@code generator}, LM head included (an untied lm_head.weight is its own). */
    public static DpoReference frozenCopy(DjlTransformer generator, NDManager manager) {
        return new DpoReference(
                DjlTransformer.fromTensors(generator.config(), generator.toTensors(), manager, false, true), false);
    }

    /**
     * (B) completion log-probabilities under the reference, without gradients; see {@link SequenceLogProbs}. The
     * forward runs in a scope of its own and autograd off, one layer's temporaries and one chunk of the LM head at a
     * time ({@link SequenceLogProbs#withoutGrad}), and what it made is freed when this returns, so it is not alive
     * beside the policy's forward and backward. The result is owned by
     * {@code ids}' manager and registered with the caller's scope, if any. A scope, not a sub-manager: an operation's
     * result lands on its first operand's manager, mostly the model's, so a sub-manager would own almost nothing.
     */
    @SuppressWarnings("try") // NDScope: arrays made inside are registered with it implicitly, never named
    public NDArray logProbs(NDArray ids, NDArray mask, int[] promptLengths) {
        NDArray[] out = new NDArray[1];
        try (NDScope scope = new NDScope()) {
            Gradients.withoutGrad(() -> {
                NDArray lp = adaptersOff
                        ? model.withAdaptersOff(() -> SequenceLogProbs.withoutGrad(model, ids, mask, promptLengths))
                        : SequenceLogProbs.withoutGrad(model, ids, mask, promptLengths);
                out[0] = lp.stopGradient();
            });
            NDScope.unregister(out[0]);
        }
        out[0].attach(ids.getManager());
        NDScope.register(out[0]);
        return out[0];
    }

    /** The copy's weights (a full-copy reference only), to check that they stay frozen. */
    DjlTransformer copy() {
        if (adaptersOff) {
            throw new IllegalStateException("an adapters-off reference has no copy of its own");
        }
        return model;
    }

    @Override
    public void close() {
        if (!adaptersOff) {
            model.close();
        }
    }
}
