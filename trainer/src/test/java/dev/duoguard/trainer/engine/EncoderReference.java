package dev.duoguard.trainer.engine;

import dev.duoguard.trainer.hf.EncoderConfig;
import dev.duoguard.trainer.hf.Tensor;

import java.util.Map;

/**
 * Hugging Face's BERT / XLM-R sequence classifiers in plain Java doubles, one row at a time and only over its real
 * tokens (no padding, no mask), written from the model definitions: the tests' yardstick for {@link DjlEncoder}.
 */
final class EncoderReference {

    private final EncoderConfig c;
    private final Map<String, Tensor> w;

    EncoderReference(EncoderConfig c, Map<String, Tensor> weights) {
        this.c = c;
        this.w = weights;
    }

    /** Last hidden states (n, D) of the row {@code ids}. */
    double[][] hidden(long[] ids) {
        int n = ids.length;
        int d = c.hiddenSize();
        String e = c.prefix() + ".embeddings.";
        float[] word = w(e + "word_embeddings.weight");
        float[] pos = w(e + "position_embeddings.weight");
        float[] type = w(e + "token_type_embeddings.weight");
        double[][] x = new double[n][d];
        for (int t = 0; t < n; t++) {
            int p = c.positionOffset() + t;   // BERT: 0, 1, ...; RoBERTa: pad + 1, pad + 2, ...
            for (int j = 0; j < d; j++) {
                x[t][j] = word[(int) ids[t] * d + j] + pos[p * d + j] + type[j];
            }
        }
        x = layerNorm(x, e + "LayerNorm");
        for (int i = 0; i < c.layers(); i++) {
            String l = c.prefix() + ".encoder.layer." + i + ".";
            double[][] ctx = attention(linear(x, l + "attention.self.query"), linear(x, l + "attention.self.key"),
                    linear(x, l + "attention.self.value"));
            double[][] a = layerNorm(add(x, linear(ctx, l + "attention.output.dense")), l + "attention.output.LayerNorm");
            double[][] up = linear(a, l + "intermediate.dense");
            for (double[] row : up) {
                for (int j = 0; j < row.length; j++) {
                    row[j] = gelu(row[j]);
                }
            }
            x = layerNorm(add(a, linear(up, l + "output.dense")), l + "output.LayerNorm");
        }
        return x;
    }

    /** Classification logits of the row {@code ids}. */
    double[] logits(long[] ids) {
        double[][] h = hidden(ids);
        if (c.pooling() == EncoderConfig.Pooling.MEAN) {
            double[] mean = new double[c.hiddenSize()];
            for (double[] row : h) {
                for (int j = 0; j < mean.length; j++) {
                    mean[j] += row[j] / h.length;
                }
            }
            return linear(new double[][]{mean}, "classifier")[0];
        }
        String dense = c.modelType().equals("bert") ? "bert.pooler.dense" : "classifier.dense";
        String out = c.modelType().equals("bert") ? "classifier" : "classifier.out_proj";
        double[] pooled = linear(new double[][]{h[0]}, dense)[0];
        for (int j = 0; j < pooled.length; j++) {
            pooled[j] = Math.tanh(pooled[j]);
        }
        return linear(new double[][]{pooled}, out)[0];
    }

    private double[][] attention(double[][] q, double[][] k, double[][] v) {
        int n = q.length;
        int dh = c.headDim();
        double[][] ctx = new double[n][c.hiddenSize()];
        for (int h = 0; h < c.heads(); h++) {
            for (int i = 0; i < n; i++) {
                double[] s = new double[n];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < n; j++) {
                    for (int x = 0; x < dh; x++) {
                        s[j] += q[i][h * dh + x] * k[j][h * dh + x];
                    }
                    s[j] /= Math.sqrt(dh);
                    max = Math.max(max, s[j]);
                }
                double sum = 0;
                for (int j = 0; j < n; j++) {
                    s[j] = Math.exp(s[j] - max);
                    sum += s[j];
                }
                for (int j = 0; j < n; j++) {
                    for (int x = 0; x < dh; x++) {
                        ctx[i][h * dh + x] += s[j] / sum * v[j][h * dh + x];
                    }
                }
            }
        }
        return ctx;
    }

    private double[][] layerNorm(double[][] x, String name) {
        float[] g = w(name + ".weight");
        float[] b = w(name + ".bias");
        double[][] y = new double[x.length][];
        for (int t = 0; t < x.length; t++) {
            double mean = 0;
            for (double v : x[t]) {
                mean += v / x[t].length;
            }
            double var = 0;
            for (double v : x[t]) {
                var += (v - mean) * (v - mean) / x[t].length;
            }
            y[t] = new double[x[t].length];
            for (int j = 0; j < x[t].length; j++) {
                y[t][j] = (x[t][j] - mean) / Math.sqrt(var + c.layerNormEps()) * g[j] + b[j];
            }
        }
        return y;
    }

    /** x (n, in) times weight (out, in) transposed, plus bias. */
    private double[][] linear(double[][] x, String name) {
        Tensor wt = w.get(name + ".weight");
        int out = (int) wt.shape()[0];
        int in = (int) wt.shape()[1];
        float[] b = w(name + ".bias");
        double[][] y = new double[x.length][out];
        for (int t = 0; t < x.length; t++) {
            for (int o = 0; o < out; o++) {
                double s = b[o];
                for (int i = 0; i < in; i++) {
                    s += wt.data()[o * in + i] * x[t][i];
                }
                y[t][o] = s;
            }
        }
        return y;
    }

    private static double[][] add(double[][] a, double[][] b) {
        double[][] y = new double[a.length][a[0].length];
        for (int t = 0; t < a.length; t++) {
            for (int j = 0; j < a[t].length; j++) {
                y[t][j] = a[t][j] + b[t][j];
            }
        }
        return y;
    }

    /** Exact GELU, x Phi(x). */
    static double gelu(double x) {
        return 0.5 * x * (1 + erf(x / Math.sqrt(2)));
    }

    /**
     * erf by its Maclaurin series, sum (-1)^n x^(2n+1) / (n! (2n+1)) * 2/sqrt(pi): for |x| <= 4 the largest term is
     * below 1e7, so doubles keep about 1e-9; beyond 4, erf is +-1 within 2e-8.
     */
    static double erf(double x) {
        if (Math.abs(x) > 4) {
            return Math.signum(x);
        }
        double term = x;
        double sum = x;
        for (int n = 1; n < 200 && Math.abs(term) > 1e-17; n++) {
            term *= -x * x / n;
            sum += term / (2 * n + 1);
        }
        return sum * 2 / Math.sqrt(Math.PI);
    }

    private float[] w(String name) {
        Tensor t = w.get(name);
        if (t == null) {
            throw new IllegalArgumentException("reference has no tensor " + name);
        }
        return t.data();
    }
}
