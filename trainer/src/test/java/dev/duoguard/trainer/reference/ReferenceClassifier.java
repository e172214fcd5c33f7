package dev.duoguard.trainer.reference;

import dev.duoguard.trainer.hf.Qwen2Weights;
import dev.duoguard.trainer.hf.TransformerConfig;

/**
 * A plain-Java forward pass of a Qwen2/Llama-family sequence classifier: clear float loops, no libraries, one
 * sequence at a time. It is the yardstick the ONNX export (and later the DJL engine) must match, so it follows the
 * formulas literally. Slow: for tiny configs in tests.
 *
 * <p>Conventions (the same as the exported graph): positions count real tokens only (cumsum(mask) - 1), so left and
 * right padding give the same result; attention is causal and ignores padded keys; the classification head reads
 * the hidden state of the last real token.
 */
public final class ReferenceClassifier {

    private final Qwen2Weights w;
    private final TransformerConfig c;

    public ReferenceClassifier(Qwen2Weights weights) {
        this.w = weights;
        this.c = weights.config;
    }

    /** Logits [labels] of one sequence; {@code mask[t]} is 1 for real tokens. */
    public float[] logits(long[] ids, long[] mask) {
        int t = ids.length;
        int d = c.hiddenSize();
        float[][] x = new float[t][];
        for (int i = 0; i < t; i++) {
            x[i] = row(w.embed, (int) ids[i], d); // token embedding
        }
        int[] pos = new int[t];
        int seen = 0;
        int last = 0;
        for (int i = 0; i < t; i++) {
            if (mask[i] != 0) {
                seen++;
                last = i;
            }
            pos[i] = Math.max(0, seen - 1);
        }
        for (Qwen2Weights.Layer l : w.layers) {
            float[][] h = new float[t][];
            for (int i = 0; i < t; i++) {
                h[i] = rmsNorm(x[i], l.inputNorm, (float) c.rmsNormEps()); // norm
            }
            float[][] attn = attention(h, mask, pos, l); // q/k/v → RoPE → attention → o_proj
            for (int i = 0; i < t; i++) {
                add(x[i], attn[i]); // residual
                float[] h2 = rmsNorm(x[i], l.postNorm, (float) c.rmsNormEps()); // norm
                float[] gate = linear(h2, l.gate, null, c.intermediateSize());
                float[] up = linear(h2, l.up, null, c.intermediateSize());
                for (int j = 0; j < gate.length; j++) {
                    gate[j] = silu(gate[j]) * up[j]; // SwiGLU
                }
                add(x[i], linear(gate, l.down, null, d)); // residual
            }
        }
        float[] hLast = rmsNorm(x[last], w.finalNorm, (float) c.rmsNormEps()); // final norm, last real token
        return linear(hLast, w.score, null, c.numLabels()); // bias-free score head
    }

    private float[][] attention(float[][] h, long[] mask, int[] pos, Qwen2Weights.Layer l) {
        int t = h.length;
        int dh = c.headDim();
        int qDim = c.heads() * dh;
        int kvDim = c.kvHeads() * dh;
        double[] invFreq = c.inverseFrequencies();
        float[][] q = new float[t][];
        float[][] k = new float[t][];
        float[][] v = new float[t][];
        for (int i = 0; i < t; i++) {
            q[i] = linear(h[i], l.q, l.qBias, qDim);
            k[i] = linear(h[i], l.k, l.kBias, kvDim);
            v[i] = linear(h[i], l.v, l.vBias, kvDim);
            for (int head = 0; head < c.heads(); head++) {
                rope(q[i], head * dh, dh, pos[i], invFreq);
            }
            for (int head = 0; head < c.kvHeads(); head++) {
                rope(k[i], head * dh, dh, pos[i], invFreq);
            }
        }
        float scale = (float) (1 / Math.sqrt(dh));
        float[][] out = new float[t][qDim];
        for (int head = 0; head < c.heads(); head++) {
            int kvHead = head / c.kvGroups(); // GQA: query heads share a KV head
            for (int i = 0; i < t; i++) {
                float[] scores = new float[t];
                float max = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < t; j++) {
                    boolean visible = j <= i && mask[j] != 0; // causal + padding mask
                    float s = visible ? dot(q[i], head * dh, k[j], kvHead * dh, dh) * scale : -1e9f;
                    scores[j] = s;
                    max = Math.max(max, s);
                }
                float sum = 0;
                for (int j = 0; j < t; j++) {
                    scores[j] = (float) Math.exp(scores[j] - max);
                    sum += scores[j];
                }
                for (int j = 0; j < t; j++) {
                    float p = scores[j] / sum;
                    for (int e = 0; e < dh; e++) {
                        out[i][head * dh + e] += p * v[j][kvHead * dh + e];
                    }
                }
            }
        }
        float[][] projected = new float[t][];
        for (int i = 0; i < t; i++) {
            projected[i] = linear(out[i], l.o, null, c.hiddenSize());
        }
        return projected;
    }

    /** RMSNorm: x / sqrt(mean(x²) + eps) * weight. */
    public static float[] rmsNorm(float[] x, float[] weight, float eps) {
        double ss = 0;
        for (float v : x) {
            ss += (double) v * v;
        }
        float inv = (float) (1 / Math.sqrt(ss / x.length + eps));
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = x[i] * inv * weight[i];
        }
        return out;
    }

    /**
     * Rotary embedding in Hugging Face's rotate-half layout, in place on {@code v[off, off+dh)}: element j pairs with
     * j + dh/2, both rotated by angle pos / theta^(2j/dh).
     */
    public static void rope(float[] v, int off, int dh, int pos, double theta) {
        double[] inv = new double[dh / 2];
        for (int j = 0; j < inv.length; j++) {
            inv[j] = 1 / Math.pow(theta, 2.0 * j / dh);
        }
        rope(v, off, dh, pos, inv);
    }

    /** The same with explicit inverse frequencies (one per pair), e.g. Llama 3's scaled ones. */
    public static void rope(float[] v, int off, int dh, int pos, double[] invFreq) {
        int half = dh / 2;
        for (int j = 0; j < half; j++) {
            double angle = pos * invFreq[j];
            float cos = (float) Math.cos(angle);
            float sin = (float) Math.sin(angle);
            float a = v[off + j];
            float b = v[off + j + half];
            v[off + j] = a * cos - b * sin;
            v[off + j + half] = b * cos + a * sin;
        }
    }

    /** y = W x + b with W in [out, in] layout. */
    static float[] linear(float[] x, float[] weight, float[] bias, int out) {
        int in = x.length;
        float[] y = new float[out];
        for (int o = 0; o < out; o++) {
            double s = bias == null ? 0 : bias[o];
            for (int i = 0; i < in; i++) {
                s += (double) weight[o * in + i] * x[i];
            }
            y[o] = (float) s;
        }
        return y;
    }

    private static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            s += (double) a[aOff + i] * b[bOff + i];
        }
        return (float) s;
    }

    private static float[] row(float[] m, int r, int width) {
        float[] out = new float[width];
        System.arraycopy(m, r * width, out, 0, width);
        return out;
    }

    private static void add(float[] acc, float[] v) {
        for (int i = 0; i < acc.length; i++) {
            acc[i] += v[i];
        }
    }

    static float silu(float x) {
        return (float) (x / (1 + Math.exp(-x)));
    }
}
