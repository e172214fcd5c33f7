package dev.duoguard.trainer.engine;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.pytorch.jni.JniUtils;

import java.util.List;

/**
 * Gradient checks for training steps. On DJL 0.36 / PyTorch 2.7.1 (CPU) a step's gradients are occasionally not
 * finite while its loss is (seen in about one run of ten, one step in thirty, in the tests' tiny model); the cause
 * is not found. Zeroing gradients by subtraction made one such step poison every later one (NaN - NaN is NaN), so
 * {@link #zero} overwrites them. A step whose gradients are not finite must be skipped and counted, as
 * mixed-precision trainers do for overflows, never applied.
 */
public final class Gradients {

    private Gradients() {
    }

    /** True when every gradient of {@code params} is finite. */
    public static boolean allFinite(List<NDArray> params) {
        for (NDArray p : params) {
            if (!p.hasGradient()) {
                continue;
            }
            NDArray g = p.getGradient();
            if (g.isNaN().any().getBoolean() || g.isInfinite().any().getBoolean()) {
                return false;
            }
        }
        return true;
    }

    /**
     * Sets every gradient of {@code params} to zero (PyTorch accumulates gradients across backward passes) by
     * overwriting it: {@code g - g} or {@code g * 0} would keep a NaN a NaN forever.
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

    /** Turns autograd recording off for the calling thread: inference and updates; collectors turn it on. */
    public static void gradModeOffForThisThread() {
        ai.djl.engine.Engine.getEngine("PyTorch");   // loads the native library if nothing in this JVM has yet
        JniUtils.setGradMode(false);
    }
}
