package dev.duoguard.runtime.onnx;

/**
 * IEEE 754 binary16 conversions, round to nearest even (Float.floatToFloat16 exists only from Java 20; this project
 * targets 17). Used for fp16 ONNX initializers and fp16 safetensors.
 */
public final class Half {

    private Half() {}

    public static float toFloat(short h) {
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

    public static short fromFloat(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        if (Float.isNaN(f)) {
            return (short) (sign | 0x7E00);
        }
        float abs = Math.abs(f);
        if (abs >= 65520f) {
            return (short) (sign | 0x7C00); // overflow to infinity
        }
        if (abs < 6.103515625e-5f) { // subnormal or zero: nearest multiple of 2^-24
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
