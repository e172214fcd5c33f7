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
        Integer[] order = new Integer[logits.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        final double[] probs = p;
        Arrays.sort(order, (a, b) -> Double.compare(probs[b], probs[a]));
        double kept = 0;
        int n = 0;
        while (n < order.length && (n == 0 || kept / sum < topP)) {
            kept += p[order[n++]];
        }
        double u = random.nextDouble() * kept;
        for (int i = 0; i < n; i++) {
            u -= p[order[i]];
            if (u <= 0) {
                return order[i];
            }
        }
        return order[n - 1];
    }
}
