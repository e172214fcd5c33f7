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

    private final List<NDArray> params;
    private final Update update;
    private final Map<Outcome, Long> counts = new EnumMap<>(Outcome.class);

    /** @param params the trainable parameters: their gradients are checked, handed to {@code update} and zeroed */
    public TrainingStep(List<NDArray> params, Update update) {
        this.params = List.copyOf(params);
        this.update = update;
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
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            NDArray l = pass.loss();
            value = l.getFloat();
            if (!Float.isFinite(value)) {
                return new Result(value, Double.NaN, Outcome.NON_FINITE_LOSS);
            }
            pass.backward(gc, l);
        }
        double norm = Gradients.norm(params);
        if (!Double.isFinite(norm)) {
            return new Result(value, norm, Outcome.NON_FINITE_GRADIENT);
        }
        Gradients.withoutGrad(() -> update.apply(lr, norm));
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
        return reasons.isEmpty() ? head : head + " (" + reasons + ")";
    }
}
