package dev.duoguard.trainer;

import dev.duoguard.trainer.hf.EncoderConfig;
import dev.duoguard.trainer.hf.Tensor;
import java.util.Arrays;
import java.util.Map;

/**
 * Test oracle: Hugging Face's BERT / XLM-R sequence-classification forward pass in plain Java, one row at a time,
 * written from the model definition (not from the exporter): embeddings (word + token type 0 + position from
 * {@code positionOffset}) + LayerNorm, post-LN blocks with erf GELU, then the CLS or MEAN head. Computed in double.
 * The yardstick of the DJL encoder (engine tests) and of the exported ONNX graph (export tests) alike.
 */
public final class EncoderReference {

    private final EncoderConfig c;
    private final Map<String, Tensor> w;

    public EncoderReference(EncoderConfig c, Map<String, Tensor> weights) {
        this.c = c;
        this.w = weights;
    }

    /** Last hidden states (n, D) of a row without padding. */
    public double[][] hidden(long[] ids) {
        return hidden(ids, ones(ids.length));
    }

    /** Last hidden states (n, D) of one row; {@code mask[t] == 0} marks padding (ignored as a key). */
    public double[][] hidden(long[] ids, long[] mask) {
        int n = ids.length;
        int d = c.hiddenSize();
        String e = c.prefix() + ".embeddings.";
        float[] word = p(e + "word_embeddings.weight");
        float[] pos = p(e + "position_embeddings.weight");
        float[] type = p(e + "token_type_embeddings.weight");
        double[][] h = new double[n][d];
        for (int t = 0; t < n; t++) {
            int position = c.positionOffset() + t; // BERT: 0, 1, ...; RoBERTa: pad + 1, pad + 2, ...
            for (int j = 0; j < d; j++) {
                h[t][j] = word[(int) ids[t] * d + j] + type[j] + pos[position * d + j];
            }
            h[t] = layerNorm(h[t], e + "LayerNorm");
        }
        for (int i = 0; i < c.layers(); i++) {
            h = block(h, mask, c.prefix() + ".encoder.layer." + i + ".");
        }
        return h;
    }

    /** Classification logits of a row without padding, in double. */
    public double[] logits(long[] ids) {
        long[] mask = ones(ids.length);
        return head(hidden(ids, mask), mask);
    }

    /** Logits of one row; {@code mask[t] == 0} marks padding (ignored as key and by the MEAN head). */
    public float[] logits(long[] ids, long[] mask) {
        double[] out = head(hidden(ids, mask), mask);
        float[] f = new float[out.length];
        for (int l = 0; l < out.length; l++) {
            f[l] = (float) out[l];
        }
        return f;
    }

    private double[] head(double[][] h, long[] mask) {
        int d = c.hiddenSize();
        double[] pooled;
        if (c.pooling() == EncoderConfig.Pooling.CLS) {
            pooled = linear(h[0], c.clsHeadNames()[0]);
            for (int j = 0; j < d; j++) {
                pooled[j] = Math.tanh(pooled[j]);
            }
        } else {
            pooled = new double[d];
            int count = 0;
            for (int t = 0; t < h.length; t++) {
                if (mask[t] != 0) {
                    count++;
                    for (int j = 0; j < d; j++) {
                        pooled[j] += h[t][j];
                    }
                }
            }
            for (int j = 0; j < d; j++) {
                pooled[j] /= Math.max(count, 1);
            }
        }
        return linear(pooled, c.outputLayer());
    }

    private static long[] ones(int n) {
        long[] m = new long[n];
        Arrays.fill(m, 1);
        return m;
    }

    private double[][] block(double[][] x, long[] mask, String l) {
        int n = x.length;
        int d = c.hiddenSize();
        int heads = c.heads();
        int dh = c.headDim();
        double[][] q = new double[n][], k = new double[n][], v = new double[n][];
        for (int t = 0; t < n; t++) {
            q[t] = linear(x[t], l + "attention.self.query");
            k[t] = linear(x[t], l + "attention.self.key");
            v[t] = linear(x[t], l + "attention.self.value");
        }
        double[][] ctx = new double[n][d];
        for (int hd = 0; hd < heads; hd++) {
            int o = hd * dh;
            for (int t = 0; t < n; t++) {
                double[] s = new double[n];
                double max = Double.NEGATIVE_INFINITY;
                for (int u = 0; u < n; u++) {
                    if (mask[u] == 0) {
                        s[u] = Double.NEGATIVE_INFINITY; // a padded key gets no weight at all
                        continue;
                    }
                    double dot = 0;
                    for (int j = 0; j < dh; j++) {
                        dot += q[t][o + j] * k[u][o + j];
                    }
                    s[u] = dot / Math.sqrt(dh);
                    max = Math.max(max, s[u]);
                }
                double sum = 0;
                for (int u = 0; u < n; u++) {
                    s[u] = Math.exp(s[u] - max);
                    sum += s[u];
                }
                for (int u = 0; u < n; u++) {
                    for (int j = 0; j < dh; j++) {
                        ctx[t][o + j] += s[u] / sum * v[u][o + j];
                    }
                }
            }
        }
        double[][] out = new double[n][];
        for (int t = 0; t < n; t++) {
            double[] a = linear(ctx[t], l + "attention.output.dense");
            for (int j = 0; j < d; j++) {
                a[j] += x[t][j];
            }
            double[] x1 = layerNorm(a, l + "attention.output.LayerNorm");
            double[] inter = linear(x1, l + "intermediate.dense");
            for (int j = 0; j < inter.length; j++) {
                inter[j] = gelu(inter[j]);
            }
            double[] f = linear(inter, l + "output.dense");
            for (int j = 0; j < d; j++) {
                f[j] += x1[j];
            }
            out[t] = layerNorm(f, l + "output.LayerNorm");
        }
        return out;
    }

    /** y = W x + b with W in Hugging Face's [out, in] layout. */
    private double[] linear(double[] x, String name) {
        float[] wt = p(name + ".weight");
        float[] b = p(name + ".bias");
        double[] y = new double[b.length];
        for (int o = 0; o < b.length; o++) {
            double s = b[o];
            for (int i = 0; i < x.length; i++) {
                s += wt[o * x.length + i] * x[i];
            }
            y[o] = s;
        }
        return y;
    }

    private double[] layerNorm(double[] x, String name) {
        float[] g = p(name + ".weight");
        float[] b = p(name + ".bias");
        double mean = 0, var = 0;
        for (double v : x) {
            mean += v;
        }
        mean /= x.length;
        for (double v : x) {
            var += (v - mean) * (v - mean);
        }
        var /= x.length;
        double inv = 1 / Math.sqrt(var + c.layerNormEps());
        double[] y = new double[x.length];
        for (int j = 0; j < x.length; j++) {
            y[j] = (x[j] - mean) * inv * g[j] + b[j];
        }
        return y;
    }

    /** The exact (erf) GELU that BERT uses. */
    public static double gelu(double x) {
        return 0.5 * x * (1 + erf(x / Math.sqrt(2)));
    }

    /** erf to about 1e-15: Maclaurin series for |x| < 2.5, the continued fraction of erfc beyond. */
    public static double erf(double x) {
        double ax = Math.abs(x);
        double r;
        if (ax < 2.5) {
            // Maclaurin series: erf x = 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1)), converges fast here
            double term = ax, sum = ax;
            for (int n = 1; n < 60; n++) {
                term *= -ax * ax / n;
                sum += term / (2 * n + 1);
            }
            r = 2 / Math.sqrt(Math.PI) * sum;
        } else {
            // continued fraction for erfc, evaluated bottom-up
            double f = 0;
            for (int k = 60; k >= 1; k--) {
                f = k / 2.0 / (ax + f);
            }
            r = 1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f);
        }
        return x < 0 ? -r : r;
    }

    private float[] p(String name) {
        Tensor t = w.get(name);
        if (t == null) {
            throw new IllegalArgumentException("reference has no tensor " + name);
        }
        return t.data();
    }
}
