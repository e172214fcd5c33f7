package dev.duoguard.trainer.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.duoguard.trainer.engine.Gradients;
import dev.duoguard.trainer.hf.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * AdamW (decoupled weight decay, Loshchilov and Hutter) with global gradient-norm clipping, updating parameters in
 * place. Written here rather than taken from DJL's {@code Adam} because resuming a run needs the moment estimates,
 * and DJL keeps them private; here they are {@link #state() tensors} that go into the checkpoint.
 * Weight decay skips biases and norm weights, as is usual for transformers.
 */
public final class AdamW {

    private final Map<String, NDArray> params;
    private final Map<String, NDArray> m = new LinkedHashMap<>();
    private final Map<String, NDArray> v = new LinkedHashMap<>();
    private final float beta1;
    private final float beta2;
    private final float eps;
    private final float weightDecay;
    private long step;

    /** @param params trainable parameters by name (their gradients are read, their values updated) */
    public AdamW(
            Map<String, NDArray> params, NDManager manager, float beta1, float beta2, float eps, float weightDecay) {
        this.params = params;
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        params.forEach((name, p) -> {
            m.put(name, manager.zeros(p.getShape()));
            v.put(name, manager.zeros(p.getShape()));
        });
    }

    /**
     * One update at learning rate {@code lr}, with gradients scaled down so their global norm is at most
     * {@code clip} (no clipping when clip ≤ 0).
     *
     * @param gradientNorm the global L2 norm of the gradients ({@link Gradients#norm}), finite
     */
    public void step(float lr, float clip, double gradientNorm) {
        float scale = clip > 0 && gradientNorm > clip ? (float) (clip / (gradientNorm + 1e-6)) : 1f;
        step++;
        float bc1 = 1f - (float) Math.pow(beta1, step);
        float bc2 = 1f - (float) Math.pow(beta2, step);
        Gradients.withoutGrad(() -> params.forEach((name, p) -> {
            NDArray g = p.getGradient();
            NDArray mi = m.get(name);
            NDArray vi = v.get(name);
            try (NDArray gs = g.mul(scale)) {
                mi.muli(beta1).addi(gs.mul(1f - beta1));
                vi.muli(beta2).addi(gs.square().muli(1f - beta2));
            }
            if (weightDecay > 0 && decays(name)) {
                p.muli(1f - lr * weightDecay);
            }
            try (NDArray update = mi.div(bc1).divi(vi.div(bc2).sqrt().addi(eps)).muli(lr)) {
                p.subi(update);
            }
        }));
    }

    static boolean decays(String name) {
        return !(name.endsWith(".bias") || name.endsWith("norm.weight"));
    }

    public long steps() {
        return step;
    }

    /** Moments as tensors ({@code <name>.exp_avg}, {@code <name>.exp_avg_sq}) for a checkpoint. */
    public Map<String, Tensor> state() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        m.forEach((name, a) -> out.put(
                name + ".exp_avg", new Tensor(name + ".exp_avg", a.getShape().getShape(), a.toFloatArray())));
        v.forEach((name, a) -> out.put(
                name + ".exp_avg_sq",
                new Tensor(name + ".exp_avg_sq", a.getShape().getShape(), a.toFloatArray())));
        return out;
    }

    /** Restores moments written by {@link #state()} and the step count. */
    public void load(Map<String, Tensor> state, long steps) {
        params.forEach((name, p) -> {
            restore(m.get(name), state.get(name + ".exp_avg"), name);
            restore(v.get(name), state.get(name + ".exp_avg_sq"), name);
        });
        this.step = steps;
    }

    private static void restore(NDArray into, Tensor t, String name) {
        if (t == null) {
            throw new IllegalArgumentException("optimizer state has no moments for " + name);
        }
        t.requireShape(into.getShape().getShape());
        into.set(t.data());
    }
}
