package dev.duoguard.trainer.engine;

import java.util.Arrays;
import java.util.Random;
import java.util.Set;

/**
 * Sampling settings for the generator and the choice of one token from a row of logits: greedy when
 * {@code temperature} is 0, else softmax(logits / temperature) restricted to the smallest set of tokens whose
 * probability reaches {@code topP} (nucleus sampling). Seeded, so a run can be reproduced.
 *
 * @param samplesPerPrompt n samples per prompt (DuoGuard: 8)
 * @param stopTokens       generation of a sample ends at the first of these (not included in the output)
 */
public record Sampler(
        float temperature, float topP, int samplesPerPrompt, int maxNewTokens, Set<Long> stopTokens, long seed) {

    public Sampler {
        if (temperature < 0) {
            throw new IllegalArgumentException("temperature must not be negative but is " + temperature);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("top_p must be in (0, 1] but is " + topP);
        }
        if (samplesPerPrompt < 1 || maxNewTokens < 1) {
            throw new IllegalArgumentException("samples per prompt and max new tokens must be at least 1");
        }
        stopTokens = Set.copyOf(stopTokens);
    }

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
        if (topP >= 1) {
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
     * reaches {@code topP} of the total. Found by partial selection over a primitive index array (three-way
     * quickselect on the weights, descending into the part that holds the cut), not by sorting the vocabulary: a
     * step costs O(vocabulary) on average, and only a group of equal weights the cut falls into is sorted (by id).
     */
    private int nucleus(double[] p, double sum, Random random) {
        double target = topP * sum;
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
            if (gt > lo && kept + heavier >= target) {
                hi = gt; // the cut is among the heavier ones
                continue;
            }
            kept += heavier;
            Arrays.sort(idx, gt, lt); // equal weights enter in id order
            for (int k = gt; k < lt && n < 0; k++) {
                kept += p[idx[k]];
                if (kept >= target) {
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
