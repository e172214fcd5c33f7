package dev.duoguard.trainer.engine;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.training.GradientCollector;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import java.util.stream.Collectors;

/**
 * One optimisation step, done the same way by every training loop (classifier, generator SFT and DPO, the training
 * bench): the forward pass to a scalar loss with autograd recording, a finite check of the loss, the backward pass,
 * the global gradient norm (which is also the finite check of the gradients), the update, and zeroing the
 * gradients (PyTorch adds every backward pass to them). A step whose loss or gradient norm is not finite is
 * skipped, never applied, and counted by reason, as mixed-precision trainers skip a step that overflowed.
 *
 * <p>The sporadic non-finite gradients this guard was added for had a cause, now fixed (see {@link Scalars}); the
 * guard stays, because a diverging run or a bad batch must not write NaN into the weights. The tests expect no
 * skipped step.
 */
public final class TrainingStep {

    /** What became of a step. */
    public enum Outcome {
        APPLIED("applied"),
        NON_FINITE_LOSS("non-finite loss"),
        NON_FINITE_GRADIENT("non-finite gradient norm");

        private final String text;

        Outcome(String text) {
            this.text = text;
        }

        @Override
        public String toString() {
            return text;
        }
    }

    /**
     * @param loss         the loss of the batch (also when the step was skipped)
     * @param gradientNorm global L2 norm of the gradients before any clipping; NaN when the loss was not finite
     *                     (no backward pass ran)
     */
    public record Result(double loss, double gradientNorm, Outcome outcome) {

        public boolean skipped() {
            return outcome != Outcome.APPLIED;
        }
    }

    /** Changes the parameters from their gradients; runs with autograd recording off. */
    @FunctionalInterface
    public interface Update {

        /** @param gradientNorm the global L2 norm of the gradients, finite (for clipping) */
        void apply(float lr, double gradientNorm);
    }

    /**
     * Dynamic loss scaling, for a backward pass through fp16 activations (mixed precision's usual guard): the loss is
     * multiplied by the scale before its backward pass, so gradients too small for fp16 (below 6e-8) survive it,
     * and the gradients are divided by it before they are checked, clipped and applied. A step whose gradients
     * overflowed is skipped (as any non-finite step is) and halves the scale; {@code growthInterval} applied steps
     * in a row double it.
     */
    public static final class LossScale {
        private float scale;
        private final int growthInterval;
        private int applied;

        public LossScale(float initial, int growthInterval) {
            if (!(initial >= 1) || growthInterval < 1) {
                throw new IllegalArgumentException("a loss scale starts at 1 or more and grows after at least one"
                        + " step (got " + initial + ", " + growthInterval + ")");
            }
            this.scale = initial;
            this.growthInterval = growthInterval;
        }

        /**
         * 2^10, doubled after 200 applied steps: lower than the 2^16 PyTorch's GradScaler starts at, because DPO runs
         * are short (a skipped step is a larger share of one) and halving takes one skipped step per factor of 2.
         */
        public static LossScale forFp16() {
            return new LossScale(1024f, 200);
        }

        public float value() {
            return scale;
        }

        void overflowed() {
            scale = Math.max(1f, scale / 2);
            applied = 0;
        }

        void applied() {
            if (++applied >= growthInterval) {
                scale *= 2;
                applied = 0;
            }
        }
    }

    private final List<NDArray> params;
    private final Update update;
    private final Map<Outcome, Long> counts = new EnumMap<>(Outcome.class);
    private LossScale lossScale; // null: none

    /** @param params the trainable parameters: their gradients are checked, handed to {@code update} and zeroed */
    public TrainingStep(List<NDArray> params, Update update) {
        this.params = List.copyOf(params);
        this.update = update;
    }

    /** Scales the loss dynamically ({@link LossScale}); for backward passes through fp16 activations. */
    public TrainingStep withLossScale(LossScale scale) {
        this.lossScale = scale;
        return this;
    }

    /** The loss scale in use; null when the loss is not scaled. */
    public LossScale lossScale() {
        return lossScale;
    }

    /** Plain SGD without clipping, {@code p -= lr * grad}. */
    public static TrainingStep sgd(List<NDArray> params) {
        return new TrainingStep(
                params, (lr, norm) -> params.forEach(p -> p.subi(p.getGradient().mul(lr))));
    }

    /**
     * A forward pass whose backward pass the caller drives: a loss computed through {@link DjlTransformer#checkpoint}
     * takes its gradient to the weights in several backward passes (the loss's, then one per recomputed piece).
     */
    public interface Pass {

        /** The loss, computed with autograd recording. */
        NDArray loss();

        /** Puts the gradients of {@code loss} on the parameters; called for a finite loss only. */
        void backward(GradientCollector collector, NDArray loss);

        /** The plain pass: {@code loss}, then one backward pass from it. */
        static Pass of(Supplier<NDArray> loss) {
            return new Pass() {
                @Override
                public NDArray loss() {
                    return loss.get();
                }

                @Override
                public void backward(GradientCollector collector, NDArray l) {
                    collector.backward(l);
                }
            };
        }
    }

    /** Runs the forward pass {@code loss} with autograd recording, then, unless a check fails, the update at lr. */
    public Result step(Supplier<NDArray> loss, float lr) {
        return step(Pass.of(loss), lr);
    }

    /** {@link #step(Supplier, float)} with a backward pass of the caller's. */
    public Result step(Pass pass, float lr) {
        Result r;
        try {
            r = run(pass, lr);
        } finally {
            Gradients.zero(params);
        }
        counts.merge(r.outcome(), 1L, Long::sum);
        return r;
    }

    private Result run(Pass pass, float lr) {
        float value;
        float scale = lossScale == null ? 1f : lossScale.value();
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            NDArray l = pass.loss();
            value = l.getFloat();
            if (!Float.isFinite(value)) {
                return new Result(value, Double.NaN, Outcome.NON_FINITE_LOSS);
            }
            pass.backward(gc, scale == 1f ? l : Scalars.mul(l, scale));
        }
        if (scale != 1f) {
            Gradients.withoutGrad(() -> params.forEach(p -> {
                if (p.hasGradient()) {
                    try (NDArray g = p.getGradient()) {
                        g.divi(scale);
                    }
                }
            }));
        }
        double norm = Gradients.norm(params);
        if (!Double.isFinite(norm)) {
            if (lossScale != null) {
                lossScale.overflowed();
            }
            return new Result(value, norm, Outcome.NON_FINITE_GRADIENT);
        }
        Gradients.withoutGrad(() -> update.apply(lr, norm));
        if (lossScale != null) {
            lossScale.applied();
        }
        return new Result(value, norm, Outcome.APPLIED);
    }

    /** Steps run so far. */
    public long steps() {
        return counts.values().stream().mapToLong(Long::longValue).sum();
    }

    /** Steps skipped so far, for any reason. */
    public long skipped() {
        return steps() - counts.getOrDefault(Outcome.APPLIED, 0L);
    }

    /** For the logs: {@code "120 steps, 0 skipped"} or {@code "120 steps, 2 skipped (non-finite gradient norm: 2)"}. */
    public String summary() {
        String head = steps() + " steps, " + skipped() + " skipped";
        String reasons = counts.entrySet().stream()
                .filter(e -> e.getKey() != Outcome.APPLIED)
                .map(e -> e.getKey() + ": " + e.getValue())
                .collect(Collectors.joining(", "));
        String scaled = lossScale == null ? "" : ", loss scale " + lossScale.value();
        return (reasons.isEmpty() ? head : head + " (" + reasons + ")") + scaled;
    }
}
