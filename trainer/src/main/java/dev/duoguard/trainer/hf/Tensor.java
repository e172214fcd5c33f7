package dev.duoguard.trainer.hf;

import java.util.Arrays;

/** A named float tensor in row-major order (checkpoints in fp16/bf16 are widened to fp32 on load). */
public record Tensor(String name, long[] shape, float[] data) {

    public Tensor {
        long n = numel(shape);
        if (n != data.length) {
            throw new IllegalArgumentException("tensor " + name + " has shape " + Arrays.toString(shape) + " (" + n
                    + " values) but " + data.length + " values");
        }
    }

    public static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    /** Throws unless the shape is {@code expected}, naming the tensor. */
    public Tensor requireShape(long... expected) {
        if (!Arrays.equals(shape, expected)) {
            throw new IllegalArgumentException("tensor " + name + " has shape " + Arrays.toString(shape)
                    + " but the config expects " + Arrays.toString(expected));
        }
        return this;
    }
}
