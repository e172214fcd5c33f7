package dev.duoguard.trainer.hf;

import java.nio.ByteBuffer;

/** The safetensors element types this project reads and writes. */
public enum DType {
    F32(4), F16(2), BF16(2);

    public final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }

    public static DType parse(String name, String tensor) {
        try {
            return valueOf(name);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("tensor " + tensor + " has dtype '" + name
                    + "'; supported dtypes are F32, F16 and BF16");
        }
    }

    float read(ByteBuffer b, int index) {
        return switch (this) {
            case F32 -> b.getFloat(index * 4);
            case BF16 -> Float.intBitsToFloat((b.getShort(index * 2) & 0xFFFF) << 16);
            case F16 -> halfToFloat(b.getShort(index * 2));
        };
    }

    void write(ByteBuffer b, float v) {
        switch (this) {
            case F32 -> b.putFloat(v);
            case BF16 -> b.putShort(floatToBf16(v));
            case F16 -> b.putShort(floatToHalf(v));
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

    // IEEE 754 binary16 conversions (Float.float16ToFloat exists only from Java 20; this project targets 17).
    static float halfToFloat(short h) {
        int bits = h & 0xFFFF;
        int sign = (bits & 0x8000) << 16;
        int exp = (bits >>> 10) & 0x1F;
        int mant = bits & 0x3FF;
        if (exp == 0) {
            if (mant == 0) {
                return Float.intBitsToFloat(sign);
            }
            float v = mant / 1024f * (float) Math.pow(2, -14); // subnormal
            return sign == 0 ? v : -v;
        }
        if (exp == 0x1F) {
            return Float.intBitsToFloat(sign | 0x7F800000 | (mant << 13));
        }
        return Float.intBitsToFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
    }

    static short floatToHalf(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        if (Float.isNaN(f)) {
            return (short) (sign | 0x7E00);
        }
        float abs = Math.abs(f);
        if (abs >= 65520f) {
            return (short) (sign | 0x7C00); // overflow to infinity
        }
        if (abs < 6.103515625e-5f) { // subnormal or zero: round to nearest multiple of 2^-24
            return (short) (sign | Math.round(abs / 5.9604645e-8f));
        }
        int exp = ((bits >>> 23) & 0xFF) - 127 + 15;
        int mant = bits & 0x7FFFFF;
        int half = (exp << 10) | (mant >>> 13);
        int rest = mant & 0x1FFF;
        if (rest > 0x1000 || (rest == 0x1000 && (half & 1) == 1)) {
            half++; // round to nearest even; a carry into the exponent is still correct
        }
        return (short) (sign | half);
    }
}
