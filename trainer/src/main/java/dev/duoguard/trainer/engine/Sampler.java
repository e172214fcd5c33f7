package dev.duoguard.trainer.engine;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;
import java.util.Random;
import java.util.Set;

/**
 * Sampling settings for the generator and the choice of one token per row from a batch of logits, on the device
 * that holds them: greedy when {@code temperature} is 0, else softmax(logits / temperature) restricted to the
 * {@code topK} most probable tokens (0: no limit) and to the smallest set of most probable tokens whose probability
 * reaches {@code topP} (nucleus sampling). On a GPU only the chosen ids cross to the host, and one uniform number per
 * row the other way: the logits never do. Nothing is boxed. Seeded, so a run can be reproduced.
 *
 * @param samplesPerPrompt n samples per prompt (DuoGuard: 8)
 * @param stopTokens       generation of a sample ends at the first of these (not included in the output)
 * @param topK             keep at most this many tokens (0: all)
 */
public record Sampler(
        float temperature,
        float topP,
        int samplesPerPrompt,
        int maxNewTokens,
        Set<Long> stopTokens,
        long seed,
        int topK) {

    public Sampler {
        if (temperature < 0) {
            throw new IllegalArgumentException("temperature must not be negative but is " + temperature);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("top_p must be in (0, 1] but is " + topP);
        }
        if (topK < 0) {
            throw new IllegalArgumentException("top_k must not be negative but is " + topK);
        }
        if (samplesPerPrompt < 1 || maxNewTokens < 1) {
            throw new IllegalArgumentException("samples per prompt and max new tokens must be at least 1");
        }
        stopTokens = Set.copyOf(stopTokens);
    }

    /** Without a top-k limit. */
    public Sampler(
            float temperature, float topP, int samplesPerPrompt, int maxNewTokens, Set<Long> stopTokens, long seed) {
        this(temperature, topP, samplesPerPrompt, maxNewTokens, stopTokens, seed, 0);
    }

    /**
     * One token id per row of {@code logits} (R, V), with one {@code random.nextDouble()} per row (rows in order) when
     * the temperature is above 0. On a GPU the choice runs there ({@link #onDevice}) and only the ids come back. On
     * the CPU the logits are copied out and each row is drawn in Java ({@link #pick(float[], Random)}): on 2 loaded
     * cores at Qwen's vocabulary and 64 rows (SamplerBench), libtorch's full-size temporaries (softmax, cumulative
     * sum, sort) took 4.6 s a step against 0.11 s for the copy and the Java loop, which allocates nothing per row but
     * one index array for top-p.
     */
    public long[] pick(NDArray logits, Random random) {
        if (logits.getDevice().isGpu()) {
            return onDevice(logits, random);
        }
        int rows = (int) logits.getShape().get(0);
        int vocab = (int) logits.getShape().get(1);
        float[] flat = logits.toFloatArray();
        float[] row = new float[vocab];
        long[] out = new long[rows];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(flat, r * vocab, row, 0, vocab);
            out[r] = pick(row, random);
        }
        return out;
    }

    /**
     * On the device: one token id per row of {@code logits} (R, V), drawn with one {@code random.nextDouble()} per row (rows in
     * order), by inverse CDF: the first token whose cumulative weight reaches u times the total. Without top-p or
     * top-k the cumulative runs in id order, so no sort is needed; with them the weights are sorted (descending;
     * PyTorch's CPU and CUDA sorts keep equal weights in id order) and the cut is where the weight before a token
     * already reaches {@code topP} of the total, or at {@code topK}. Weights are float64 on the device, so a sum over
     * Qwen's 151,936 tokens loses nothing a float32 sum would.
     */
    long[] onDevice(NDArray logits, Random random) {
        NDManager m = logits.getManager();
        long rows = logits.getShape().get(0);
        long vocab = logits.getShape().get(1);
        if (temperature == 0) {
            return logits.argMax(1).toType(DataType.INT64, false).toLongArray();
        }
        double[] u = new double[(int) rows];
        for (int r = 0; r < u.length; r++) {
            u[r] = random.nextDouble();
        }
        NDArray l = logits.toType(DataType.FLOAT64, false);
        NDArray w = Scalars.div(l.sub(l.max(new int[] {1}, true)), temperature).exp(); // (R, V), the largest is 1
        boolean cut = topP < 1 || (topK > 0 && topK < vocab);
        // ids by descending weight, as an ascending sort of -w: DJL's descending sort reverses an ascending one, so
        // equal weights would come highest id first; ascending, PyTorch's stable sort keeps them in id order
        NDArray order = cut ? w.neg().argSort(1, true) : null; // (R, V)
        NDArray sorted = cut ? w.gather(order, 1) : w;
        NDArray cumulative = sorted.cumSum(1);
        if (cut) {
            NDArray total = cumulative.get(":, -1:"); // (R, 1)
            NDArray before = cumulative.sub(sorted); // weight of the heavier tokens
            NDArray keep = before.lt(Scalars.mul(total, topP));
            if (topK > 0) {
                keep = keep.logicalAnd(
                        m.arange(0, (int) vocab, 1, DataType.INT64).lt(topK).reshape(1, vocab));
            }
            cumulative = sorted.mul(keep.toType(DataType.FLOAT64, false)).cumSum(1); // kept tokens are a prefix
        }
        NDArray target = cumulative.get(":, -1:").mul(m.create(u, new Shape(rows, 1)));
        // u < 1, so target <= the last sum and the count stops at a token with weight (zeros add nothing): in range
        NDArray position = cumulative.lt(target).toType(DataType.INT64, false).sum(new int[] {1}, true); // (R, 1)
        return (cut ? order.gather(position, 1) : position).flatten().toLongArray();
    }

    /** One token id from one row of logits, on the host: the same distribution as {@link #onDevice}. */
    int pick(float[] logits, Random random) {
        if (temperature == 0) {
            int best = 0;
            for (int i = 1; i < logits.length; i++) {
                if (logits[i] > logits[best]) {
                    best = i;
                }
            }
            return best;
        }
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) {
            max = Math.max(max, l);
        }
        double[] p = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < logits.length; i++) {
            p[i] = Math.exp((logits[i] - max) / temperature);
            sum += p[i];
        }
        if (topP >= 1 && (topK == 0 || topK >= logits.length)) {
            return categorical(p, sum, random);
        }
        return nucleus(p, sum, random);
    }

    /** One draw from the unnormalised weights {@code p} (total {@code sum}): no ordering needed. */
    private static int categorical(double[] p, double sum, Random random) {
        double u = random.nextDouble() * sum;
        int last = 0;
        for (int i = 0; i < p.length; i++) {
            if (p[i] > 0) {
                last = i;
                u -= p[i];
                if (u <= 0) {
                    return i;
                }
            }
        }
        return last; // rounding left a sliver of u: the last token with any weight
    }

    /**
     * One draw from the nucleus: the smallest set of most probable tokens (ties: the lower id first) whose weight
     * reaches {@code topP} of the total, at most {@code topK} of them. Found by partial selection over a primitive index array (three-way
     * quickselect on the weights, descending into the part that holds the cut), not by sorting the vocabulary: a
     * step costs O(vocabulary) on average, and only a group of equal weights the cut falls into is sorted (by id).
     */
    private int nucleus(double[] p, double sum, Random random) {
        double target = topP * sum;
        int limit = topK > 0 ? topK : p.length;
        int[] idx = new int[p.length];
        for (int i = 0; i < idx.length; i++) {
            idx[i] = i;
        }
        int lo = 0; // idx[0, lo) are in the nucleus, with weight kept; idx[lo, hi) are still undecided
        int hi = idx.length;
        double kept = 0;
        int n = -1;
        while (n < 0 && lo < hi) {
            double pivot = p[idx[(lo + hi) >>> 1]];
            // three-way partition of idx[lo, hi): heavier than the pivot [lo, gt), equal [gt, lt), lighter [lt, hi)
            int gt = lo;
            int lt = hi;
            int i = lo;
            while (i < lt) {
                double w = p[idx[i]];
                if (w > pivot) {
                    swap(idx, i++, gt++);
                } else if (w < pivot) {
                    swap(idx, i, --lt);
                } else {
                    i++;
                }
            }
            double heavier = 0;
            for (int k = lo; k < gt; k++) {
                heavier += p[idx[k]];
            }
            if (gt > lo && (kept + heavier >= target || gt > limit)) {
                hi = gt; // the cut is among the heavier ones
                continue;
            }
            kept += heavier;
            if (gt == limit) {
                n = gt; // the heavier ones are exactly the top k
                break;
            }
            Arrays.sort(idx, gt, lt); // equal weights enter in id order
            for (int k = gt; k < lt && n < 0; k++) {
                kept += p[idx[k]];
                if (kept >= target || k + 1 == limit) {
                    n = k + 1;
                }
            }
            lo = lt;
        }
        if (n < 0) {
            n = lo; // rounding kept the total just under the target: every token is in
        }
        double u = random.nextDouble() * kept;
        for (int k = 0; k < n; k++) {
            u -= p[idx[k]];
            if (u <= 0) {
                return idx[k];
            }
        }
        return idx[n - 1];
    }

    private static void swap(int[] a, int i, int j) {
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}
