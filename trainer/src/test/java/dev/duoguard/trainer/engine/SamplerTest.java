package dev.duoguard.trainer.engine;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The sampler draws from softmax(logits / temperature), restricted to the top-k and the nucleus, on the host (the
 * CPU's path) and on the device (a GPU's path, run here on the CPU): checked by chi-square tests of seeded draws
 * against the exact probabilities, the two paths against each other (the same draw for the same uniforms at top-p
 * 1), and against a reference nucleus (a full sort, ties by id) on a vocabulary of Qwen's size.
 */
class SamplerTest {

    private static final int DRAWS = 40_000;

    private static NDManager manager;

    @BeforeAll
    static void start() {
        manager = NDManager.newBaseManager();
    }

    @AfterAll
    static void stop() {
        manager.close();
    }

    /** Where the draw runs: the host path (what the CPU uses) or the device path (what a GPU uses), both on the CPU. */
    enum Where {
        HOST,
        DEVICE
    }

    private static long[] pick(Sampler s, NDArray logits, Random random, Where where) {
        return where == Where.DEVICE ? s.onDevice(logits, random) : s.pick(logits, random);
    }

    private static Sampler sampler(float temperature, float topP, int topK) {
        return new Sampler(temperature, topP, 1, 1, Set.of(), 0, topK);
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

    /** {@code rows} copies of {@code logits} as one (rows, V) batch: one call draws them all. */
    private static long[] draw(Sampler s, float[] logits, int rows, Random random, Where where) {
        float[] batch = new float[rows * logits.length];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(logits, 0, batch, r * logits.length, logits.length);
        }
        try (NDManager m = manager.newSubManager()) {
            return pick(s, m.create(batch, new Shape(rows, logits.length)), random, where);
        }
    }

    private static int[] counts(Sampler s, float[] logits, long seed, Where where) {
        int[] c = new int[logits.length];
        for (long id : draw(s, logits, DRAWS, new Random(seed), where)) {
            c[(int) id]++;
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

    @ParameterizedTest
    @EnumSource(Where.class)
    void atTopPOneDrawsFollowTheSoftmaxAtTheTemperature(Where where) {
        Set<Integer> all = Set.of(0, 1, 2, 3, 4, 5);
        for (float t : new float[] {0.7f, 1.0f, 1.5f}) {
            int[] c = counts(sampler(t, 1f, 0), LOGITS, 11, where);
            // 5 degrees of freedom: 20.5 is the 0.999 quantile (a fixed seed, so this never flickers)
            assertThat(chiSquare(c, expected(LOGITS, t, all)))
                    .as("t=%s counts %s", t, c)
                    .isLessThan(20.5);
        }
        int[] c = counts(sampler(1.0f, 1f, 0), LOGITS, 11, where);
        assertThat(chiSquare(c, expected(LOGITS, 0.2f, all)))
                .as("a test that can fail: the wrong temperature is far off")
                .isGreaterThan(1000);
    }

    @Test
    void atTopPOneItIsTheHostAlgorithmDrawForDraw() {
        Random r = new Random(3);
        float[] logits = new float[5_000];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) (r.nextGaussian() * 2);
        }
        Sampler s = sampler(0.8f, 1f, 0);
        Random hostDraws = new Random(4);
        long[] device = draw(s, logits, 2_000, new Random(4), Where.DEVICE);
        for (long id : device) {
            assertThat(id).isEqualTo(s.pick(logits, hostDraws));
        }
        assertThat(Arrays.stream(device).distinct().count())
                .as("not one token over and over")
                .isGreaterThan(100);
    }

    @ParameterizedTest
    @EnumSource(Where.class)
    void topPKeepsTheSmallestHeadReachingPAndNoTailToken(Where where) {
        // probabilities at t=1: 0.486, 0.295, 0.089, 0.040, 0.024, 0.066 -> the top two hold 0.78, the top three 0.87
        int[] c = counts(sampler(1f, 0.8f, 0), LOGITS, 12, where);
        assertThat(c[3] + c[4] + c[5]).as("tail tokens never drawn").isZero();
        assertThat(c[2]).as("0.78 < 0.8: the third most probable is in").isPositive();
        // 2 degrees of freedom: 13.8 is the 0.999 quantile
        assertThat(chiSquare(c, expected(LOGITS, 1f, Set.of(0, 1, 2)))).isLessThan(13.8);
    }

    @ParameterizedTest
    @EnumSource(Where.class)
    void topKKeepsTheKMostProbableRenormalised(Where where) {
        int[] c = counts(sampler(1f, 1f, 2), LOGITS, 14, where);
        assertThat(c[2] + c[3] + c[4] + c[5]).isZero();
        // 1 degree of freedom: 10.8 is the 0.999 quantile
        assertThat(chiSquare(c, expected(LOGITS, 1f, Set.of(0, 1)))).isLessThan(10.8);
        int[] both = counts(sampler(1f, 0.8f, 4), LOGITS, 15, where); // the nucleus (3 tokens) is the tighter limit
        assertThat(chiSquare(both, expected(LOGITS, 1f, Set.of(0, 1, 2)))).isLessThan(13.8);
    }

    @ParameterizedTest
    @EnumSource(Where.class)
    void equalWeightsEnterTheNucleusInIdOrder(Where where) {
        float[] flat = new float[10];
        int[] c = counts(sampler(1f, 0.25f, 0), flat, 13, where); // 0.1 each: ids 0, 1, 2 reach 0.3 >= 0.25
        assertThat(IntStream.range(0, 10).filter(i -> c[i] > 0).toArray()).containsExactly(0, 1, 2);
        assertThat(chiSquare(c, expected(flat, 1f, Set.of(0, 1, 2)))).isLessThan(13.8);
    }

    @ParameterizedTest
    @EnumSource(Where.class)
    void eachRowDrawsFromItsOwnLogits(Where where) {
        float[] reversed = new float[LOGITS.length];
        for (int i = 0; i < LOGITS.length; i++) {
            reversed[i] = LOGITS[LOGITS.length - 1 - i];
        }
        float[] batch = new float[2 * DRAWS * LOGITS.length];
        for (int r = 0; r < 2 * DRAWS; r++) {
            System.arraycopy(r % 2 == 0 ? LOGITS : reversed, 0, batch, r * LOGITS.length, LOGITS.length);
        }
        long[] ids;
        try (NDManager m = manager.newSubManager()) {
            ids = pick(sampler(1f, 1f, 0), m.create(batch, new Shape(2 * DRAWS, LOGITS.length)), new Random(16), where);
        }
        int[][] c = new int[2][LOGITS.length];
        for (int r = 0; r < ids.length; r++) {
            c[r % 2][(int) ids[r]]++;
        }
        Set<Integer> all = Set.of(0, 1, 2, 3, 4, 5);
        assertThat(chiSquare(c[0], expected(LOGITS, 1f, all))).isLessThan(20.5);
        assertThat(chiSquare(c[1], expected(reversed, 1f, all))).isLessThan(20.5);
    }

    @ParameterizedTest
    @EnumSource(Where.class)
    void onAQwenSizedVocabularyTheNucleusIsTheSortedReferences(Where where) {
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

        Sampler s = sampler(t, topP, 0);
        Random draws = new Random(6);
        Set<Integer> seen = new HashSet<>();
        int favourite = 0;
        int n = 300;
        for (int chunk = 0; chunk < n / 25; chunk++) { // 25 rows of 151,936 at a time
            for (long id : draw(s, logits, 25, draws, where)) {
                seen.add((int) id);
                favourite += id == 77 ? 1 : 0;
            }
        }
        assertThat(nucleus).containsAll(seen);
        double p77 = expected(logits, t, nucleus)[77];
        // three standard errors of a frequency from 300 draws
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

    @ParameterizedTest
    @EnumSource(Where.class)
    void temperatureZeroIsGreedyAndAColdTemperatureAgrees(Where where) {
        Random r = new Random(7);
        float[] batch = new float[64 * 1_000];
        for (int i = 0; i < batch.length; i++) {
            batch[i] = (float) r.nextGaussian();
        }
        long[] argmax = new long[64];
        for (int row = 0; row < 64; row++) {
            for (int i = 1; i < 1_000; i++) {
                if (batch[row * 1_000 + i] > batch[row * 1_000 + (int) argmax[row]]) {
                    argmax[row] = i;
                }
            }
        }
        try (NDManager m = manager.newSubManager()) {
            NDArray logits = m.create(batch, new Shape(64, 1_000));
            assertThat(pick(sampler(0f, 1f, 0), logits, new Random(1), where)).containsExactly(argmax);
            assertThat(pick(sampler(1e-4f, 1f, 0), logits, new Random(1), where))
                    .containsExactly(argmax);
            assertThat(pick(sampler(1e-4f, 0.9f, 5), logits, new Random(2), where))
                    .containsExactly(argmax);
        }
    }
}
