package dev.duoguard.trainer.engine;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;

/**
 * Multiplying, dividing or raising an array that may need gradients by a constant. Use these instead of DJL's
 * {@code x.mul(0.5f)}, {@code x.div(n)} and {@code x.pow(2)} on anything a loss is computed from.
 *
 * <p>Why (the cause of the sporadic non-finite gradients once seen in about one test run of ten): DJL 0.36's
 * PyTorch engine implements {@code x.mul(Number)} (likewise div, pow, maximum, minimum) by wrapping the number in a
 * 0-d tensor over a 4-byte Java direct buffer ({@code torch::from_blob}, no copy) and closing that tensor as soon as
 * the op returns. Autograd still holds it: the backward pass of {@code x * s} computes {@code grad * s}, that of
 * {@code x ^ e} computes {@code grad * e * x ^ (e - 1)}. When a garbage collection runs between the forward and the
 * backward pass, the buffer is freed and malloc hands its bytes to the next small allocation, so the backward pass
 * reads whatever lies there: NaN, a huge number, a pointer's bits, or another constant (an exponent of 0 zeroes
 * every gradient without any sign). {@code ScalarsTest} shows the mechanism and that the models are immune.
 *
 * <p>Here the constant is a tensor libtorch allocates itself ({@code torch::full}): the saved graph owns a reference
 * to it, so closing the Java handle cannot free it. The result is bit for bit what DJL's version computes when
 * nothing goes wrong (the same tensor-tensor kernel with the same 0-d float operand). Adding or subtracting a
 * number is safe as it is: the backward pass of add and sub does not read the constant.
 */
public final class Scalars {

    private Scalars() {}

    /** {@code x * s}. */
    public static NDArray mul(NDArray x, double s) {
        try (NDArray c = constant(x, s)) {
            return x.mul(c);
        }
    }

    /** {@code x / s}. */
    public static NDArray div(NDArray x, double s) {
        try (NDArray c = constant(x, s)) {
            return x.div(c);
        }
    }

    /** {@code x ^ e}. */
    public static NDArray pow(NDArray x, double e) {
        try (NDArray c = constant(x, e)) {
            return x.pow(c);
        }
    }

    /** A 0-d float32 tensor holding {@code value} (rounded to float, as DJL rounds a Number), owned by libtorch. */
    private static NDArray constant(NDArray like, double value) {
        return like.getManager().full(new Shape(), (float) value);
    }
}
