package dev.duoguard.trainer.hf;

import dev.duoguard.runtime.onnx.Half;
import java.nio.ByteBuffer;

/** The safetensors element types this project reads and writes. */
public enum DType {
    F32(4),
    F16(2),
    BF16(2);

    public final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }

    public static DType parse(String name, String tensor) {
        try {
            return valueOf(name);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(
                    "tensor " + tensor + " has dtype '" + name + "'; supported dtypes are F32, F16 and BF16");
        }
    }

    float read(ByteBuffer b, int index) {
        return switch (this) {
            case F32 -> b.getFloat(index * 4);
            case BF16 -> Float.intBitsToFloat((b.getShort(index * 2) & 0xFFFF) << 16);
            case F16 -> Half.toFloat(b.getShort(index * 2));
        };
    }

    void write(ByteBuffer b, float v) {
        switch (this) {
            case F32 -> b.putFloat(v);
            case BF16 -> b.putShort(floatToBf16(v));
            case F16 -> b.putShort(Half.fromFloat(v));
        }
    }

    /** Round to nearest even, keeping NaN a NaN. */
    static short floatToBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) {
            return (short) ((bits >>> 16) | 0x40);
        }
        int rounding = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }
}
