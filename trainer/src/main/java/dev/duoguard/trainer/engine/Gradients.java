package dev.duoguard.trainer.engine;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import java.util.List;
import java.util.function.Supplier;

/** Gradient helpers for {@link TrainingStep} and the models: the global norm, zeroing, and autograd on and off. */
public final class Gradients {

    private Gradients() {}

    /**
     * Global L2 norm of the gradients of {@code params}: NaN or infinite when any gradient is (or when the squares
     * overflow float32), so it is also the finite check of a step. Summed in double, parameter by parameter in
     * list order, as the clipping in {@code AdamW} has always taken it.
     */
    public static double norm(List<NDArray> params) {
        double sq = 0;
        for (NDArray p : params) {
            if (!p.hasGradient()) {
                continue;
            }
            try (NDArray g = p.getGradient();
                    NDArray g2 = g.square();
                    NDArray sum = g2.sum()) {
                sq += sum.getFloat();
            }
        }
        return Math.sqrt(sq);
    }

    /**
     * Sets every gradient of {@code params} to zero (PyTorch accumulates gradients across backward passes) by
     * overwriting it: {@code g - g} or {@code g * 0} would keep a NaN a NaN forever, and one bad step would poison
     * every later one.
     */
    public static void zero(List<NDArray> params) {
        for (NDArray p : params) {
            if (p.hasGradient()) {
                p.getGradient().set(new NDIndex("..."), 0f);
            }
        }
    }

    /**
     * Runs {@code update} (in-place changes of parameters) with autograd recording off. PyTorch's grad mode is per
     * thread and on by default, and DJL's gradient collector restores the previous mode when it closes, so on a
     * fresh thread (the trainer service's iteration thread) an in-place update of a parameter would be recorded
     * and refused ("a leaf Variable that requires grad is being used in an in-place operation").
     */
    public static void withoutGrad(Runnable update) {
        boolean previous = JniUtils.isGradMode();
        JniUtils.setGradMode(false);
        try {
            update.run();
        } finally {
            JniUtils.setGradMode(previous);
        }
    }

    /** {@code forward} with autograd recording off (what it makes has no graph), the previous mode restored after. */
    public static <T> T noGrad(Supplier<T> forward) {
        boolean previous = JniUtils.isGradMode();
        JniUtils.setGradMode(false);
        try {
            return forward.get();
        } finally {
            JniUtils.setGradMode(previous);
        }
    }

    /**
     * Backward pass from a non-scalar {@code output} whose gradient is already known ({@code gradient}, same shape):
     * adds d(output · gradient)/dw to every weight's gradient, the vector-Jacobian product. DJL's gradient collector
     * takes scalars only (it backpropagates ones); activation checkpointing needs this to carry a gradient through
     * a recomputed piece of the graph.
     */
    public static void backward(NDArray output, NDArray gradient) {
        JniUtils.backward((PtNDArray) output, (PtNDArray) gradient, false, false);
    }

    /**
     * {@code x} in {@code type}, differentiable: the gradient flows back through the conversion (in the other type).
     * DJL 0.36's {@code toType} converts under PyTorch's no-grad guard, so what it returns has no graph and cuts the
     * backward pass; an fp16 base with fp32 LoRA adapters needs casts in both directions. PyTorch's cumulative
     * product takes a result type and casts its input to it first, inside autograd; over a dimension of size 1 it
     * is the identity, so it is a differentiable cast. The same type: {@code x} itself.
     */
    public static NDArray cast(NDArray x, DataType type) {
        if (x.getDataType() == type) {
            return x;
        }
        int last = x.getShape().dimension();
        return JniUtils.cumProd((PtNDArray) x.expandDims(last), last, type).squeeze(last);
    }

    /**
     * Softmax over the last axis computed in fp32 and returned in {@code x}'s type, differentiable (PyTorch's
     * softmax with a result type); for fp32 {@code x}, the plain softmax.
     */
    public static NDArray softmaxInFp32(NDArray x) {
        if (x.getDataType() == DataType.FLOAT32) {
            return x.softmax(-1);
        }
        int last = x.getShape().dimension() - 1;
        return cast(JniUtils.softmax((PtNDArray) x, last, DataType.FLOAT32), x.getDataType());
    }

    /** Turns autograd recording off for the calling thread: inference and updates; collectors turn it on. */
    public static void gradModeOffForThisThread() {
        Engine.getEngine("PyTorch"); // loads the native library if nothing in this JVM has yet
        JniUtils.setGradMode(false);
    }
}
