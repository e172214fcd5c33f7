package dev.duoguard.runtime.onnx;

import java.util.Locale;

/** Where ONNX Runtime runs the model. AUTO tries CUDA and falls back to CPU, logging why. */
public enum ExecutionDevice {
    AUTO,
    CPU,
    CUDA;

    public static ExecutionDevice parse(String s) {
        try {
            return valueOf(s.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("device must be one of auto, cpu, cuda but is '" + s + "'");
        }
    }
}
