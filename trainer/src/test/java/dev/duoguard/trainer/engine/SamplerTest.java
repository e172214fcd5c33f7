package dev.duoguard.trainer.engine;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/**
 * The sampler draws from softmax(logits / temperature), restricted to the nucleus when top-p is below 1: checked by
 * a chi-square test of seeded draws against the exact probabilities, and against a reference nucleus (a full sort,
 * ties by id) on a vocabulary of Qwen's size.
 */
class SamplerTest {

    private static final int DRAWS = 40_000;

    private static Sampler sampler(float temperature, float topP) {
        return new Sampler(temperature, topP, 1, 1, Set.of(), 0);
    }

    /** softmax(logits / t) restricted to {@code keep} and renormalised. */
    private static double[] expected(float[] logits, float t, Set<Integer> keep) {
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) {
            max = Math.max(max, l);
        }
        double[] p = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < p.length; i++) {
            p[i] = keep.contains(i) ? Math.exp((logits[i] - max) / t) : 0;
            sum += p[i];
        }
        for (int i = 0; i < p.length; i++) {
            p[i] /= sum;
        }
        return p;
    }

    private static int[] counts(Sampler s, float[] logits, long seed) {
        Random r = new Random(seed);
        int[] c = new int[logits.length];
        for (int i = 0; i < DRAWS; i++) {
            c[s.pick(logits, r)]++;
        }
        return c;
    }

    /** Pearson's statistic over the tokens with a positive expected probability. */
    private static double chiSquare(int[] counts, double[] p) {
        double x = 0;
        for (int i = 0; i < p.length; i++) {
            if (p[i] > 0) {
                double e = p[i] * DRAWS;
                x += (counts[i] - e) * (counts[i] - e) / e;
            }
        }
        return x;
    }

    private static final float[] LOGITS = {2.0f, 1.5f, 0.3f, -0.5f, -1.0f, 0.0f};

    @Test
    void atTopPOneDrawsFollowTheSoftmaxAtTheTemperature() {
        Set<Integer> all = Set.of(0, 1, 2, 3, 4, 5);
        for (float t : new float[] {0.7f, 1.0f, 1.5f}) {
            int[] c = counts(sampler(t, 1f), LOGITS, 11);
            // 5 degrees of freedom: 20.5 is the 0.999 quantile (a fixed seed, so this never flickers)
            assertThat(chiSquare(c, expected(LOGITS, t, all)))
                    .as("t=%s counts %s", t, c)
                    .isLessThan(20.5);
        }
        int[] c = counts(sampler(1.0f, 1f), LOGITS, 11);
        assertThat(chiSquare(c, expected(LOGITS, 0.2f, all)))
                .as("a test that can fail: the wrong temperature is far off")
                .isGreaterThan(1000);
    }

    @Test
    void topPKeepsTheSmallestHeadReachingPAndNoTailToken() {
        // probabilities at t=1: 0.486, 0.295, 0.089, 0.040, 0.024, 0.066 -> the top two hold 0.78, the top three 0.87
        int[] c = counts(sampler(1f, 0.8f), LOGITS, 12);
        assertThat(c[3] + c[4] + c[5]).as("tail tokens never drawn").isZero();
        assertThat(c[2]).as("0.78 < 0.8: the third most probable is in").isPositive();
        // 2 degrees of freedom: 13.8 is the 0.999 quantile
        assertThat(chiSquare(c, expected(LOGITS, 1f, Set.of(0, 1, 2)))).isLessThan(13.8);
    }

    @Test
    void equalWeightsEnterTheNucleusInIdOrder() {
        float[] flat = new float[10];
        int[] c = counts(sampler(1f, 0.25f), flat, 13); // 0.1 each: ids 0, 1, 2 reach 0.3 >= 0.25
        assertThat(IntStream.range(0, 10).filter(i -> c[i] > 0).toArray()).containsExactly(0, 1, 2);
        assertThat(chiSquare(c, expected(flat, 1f, Set.of(0, 1, 2)))).isLessThan(13.8);
    }

    @Test
    void onAQwenSizedVocabularyTheNucleusIsTheSortedReferences() {
        Random r = new Random(5);
        float[] logits = new float[151_936];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) (r.nextGaussian() * 3);
        }
        logits[77] = 14f; // a clear favourite, as a trained model has
        logits[150_000] = 13f;
        float t = 0.9f;
        float topP = 0.95f;
        Set<Integer> nucleus = referenceNucleus(logits, t, topP);
        assertThat(nucleus).hasSizeBetween(3, 5_000).contains(77, 150_000);

        Sampler s = sampler(t, topP);
        Random draws = new Random(6);
        Set<Integer> seen = new HashSet<>();
        int favourite = 0;
        int n = 500; // each draw exponentiates the whole vocabulary: a few ms on a small CPU
        for (int i = 0; i < n; i++) {
            int id = s.pick(logits, draws);
            seen.add(id);
            favourite += id == 77 ? 1 : 0;
        }
        assertThat(nucleus).containsAll(seen);
        double p77 = expected(logits, t, nucleus)[77];
        // three standard errors of a frequency from 500 draws
        double band = 3 * Math.sqrt(p77 * (1 - p77) / n);
        assertThat(favourite / (double) n).isBetween(p77 - band, p77 + band);
    }

    /** The nucleus as the sampler defined it before: all ids sorted by probability (ties by id), the shortest head. */
    private static Set<Integer> referenceNucleus(float[] logits, float t, float topP) {
        double[] p = expected(
                logits,
                t,
                new HashSet<>(IntStream.range(0, logits.length).boxed().toList()));
        Integer[] order = IntStream.range(0, logits.length).boxed().toArray(Integer[]::new);
        Arrays.sort(order, Comparator.comparingDouble((Integer i) -> p[i]).reversed());
        Set<Integer> out = new HashSet<>();
        double kept = 0;
        for (int k = 0; k < order.length && (k == 0 || kept < topP); k++) {
            kept += p[order[k]];
            out.add(order[k]);
        }
        return out;
    }

    @Test
    void temperatureZeroIsGreedy() {
        assertThat(sampler(0f, 1f).pick(LOGITS, new Random(1))).isZero();
    }
}
