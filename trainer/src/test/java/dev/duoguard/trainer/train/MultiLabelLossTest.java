package dev.duoguard.trainer.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** DuoGuard's multi-label loss on values computed by hand. */
class MultiLabelLossTest {

    static final int C = 12;

    static float loss(NDManager m, float[] z, float[] positive, float unknown) {
        return MultiLabelLoss.loss(
                        m.create(z, new Shape(1, C)), m.create(positive, new Shape(1, C)), m.create(new float[] {unknown
                        }))
                .getFloat();
    }

    @Test
    void safeItemHasOnlyTheNegativeTerm() {
        try (NDManager m = NDManager.newBaseManager()) {
            // all logits 0: log(1 + 12 e^0) = log 13
            assertThat(loss(m, new float[C], new float[C], 0)).isCloseTo((float) Math.log(13), within(1e-5f));
            // one logit at 3, the rest at -2: log(1 + e^3 + 11 e^-2)
            float[] z = new float[C];
            Arrays.fill(z, -2f);
            z[4] = 3f;
            assertThat(loss(m, z, new float[C], 0))
                    .isCloseTo((float) Math.log(1 + Math.exp(3) + 11 * Math.exp(-2)), within(1e-5f));
        }
    }

    @Test
    void positiveCategoriesGetThePositiveTerm() {
        try (NDManager m = NDManager.newBaseManager()) {
            float[] z = new float[C];
            z[0] = 2f;
            z[5] = -1f;
            float[] pos = new float[C];
            pos[0] = 1f;
            pos[5] = 1f;
            // negatives: 10 logits at 0 -> log(1 + 10); positives: log(1 + e^-2 + e^1)
            double expected = Math.log(11) + Math.log(1 + Math.exp(-2) + Math.exp(1));
            assertThat(loss(m, z, pos, 0)).isCloseTo((float) expected, within(1e-5f));
            assertThat(MultiLabelLoss.reference(z, mask(pos), false)).isCloseTo(expected, within(1e-9));
        }
    }

    @Test
    void unknownCategoryUnsafeItemAsksForAtLeastOneCategory() {
        try (NDManager m = NDManager.newBaseManager()) {
            float[] z = new float[C];
            Arrays.fill(z, -3f);
            z[7] = 1f;
            // log(1 + C / Σ e^z): no category is pushed down, none is named
            double sumExp = 11 * Math.exp(-3) + Math.exp(1);
            assertThat(loss(m, z, new float[C], 1)).isCloseTo((float) Math.log1p(C / sumExp), within(1e-6f));
            // log-mean-exp never exceeds the max: all logits at -1 (every p = 0.27, the item is not flagged) keep
            // a large loss, where a plain log-sum-exp target would already be nearly satisfied
            float[] low = new float[C];
            Arrays.fill(low, -1f);
            assertThat(loss(m, low, new float[C], 1)).isCloseTo((float) Math.log1p(Math.exp(1)), within(1e-5f));
            // already confidently unsafe in some category: the loss is near 0 whatever the category is
            z[7] = 12f;
            assertThat(loss(m, z, new float[C], 1))
                    .isLessThan(1e-4f)
                    .isCloseTo((float) Math.log1p(C / (Math.exp(12) + 11 * Math.exp(-3))), within(1e-7f));
        }
    }

    /** The gradient on each logit of an unknown-category item, for logits {@code values}. */
    static float[] unknownGradient(NDManager m, float[] values) {
        NDArray z = m.create(values, new Shape(1, C));
        z.setRequiresGradient(true);
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            gc.backward(MultiLabelLoss.loss(z, m.zeros(new Shape(1, C)), m.create(new float[] {1f})));
        }
        return z.getGradient().toFloatArray();
    }

    @Test
    void unknownCategoryGradientIsSpreadNotGivenToTheLeadingCategory() {
        try (NDManager m = NDManager.newBaseManager()) {
            // an untrained model: Hate (8) barely ahead of the rest. The old max-logit target gave Hate the whole
            // gradient, so every unknown item taught "Hate"; now each category gets close to a twelfth of it
            float[] values = new float[C];
            Arrays.fill(values, -2f);
            values[8] = -1.8f;
            float[] g = unknownGradient(m, values);
            double total = 0;
            for (float v : g) {
                assertThat(v).as("every category is pushed up").isNegative();
                total += v;
            }
            assertThat(g[8] / total).as("Hate's share of the push").isLessThan(0.11);
            for (int i = 0; i < C; i++) {
                assertThat(g[i] / total).as("share of category %d", i).isGreaterThan(0.07);
            }
            // and exactly -σ(-LME) softmax(z)_c
            double sumExp = 0;
            for (float v : values) {
                sumExp += Math.exp(v);
            }
            double lme = Math.log(sumExp / C);
            for (int i = 0; i < C; i++) {
                double expected = -(1 / (1 + Math.exp(lme))) * Math.exp(values[i]) / sumExp;
                assertThat(g[i]).isCloseTo((float) expected, within(1e-6f));
            }
        }
    }

    @Test
    void weightsScaleEachItemsShareOfTheBatchLoss() {
        float[] z = new float[2 * C];
        z[3] = 2f; // row 0: safe, a false alarm on category 3
        float[] pos = new float[2 * C];
        pos[C + 5] = 1f; // row 1: category 5, logit 0
        double l0 = MultiLabelLoss.reference(Arrays.copyOfRange(z, 0, C), new boolean[C], false);
        double l1 = MultiLabelLoss.reference(
                Arrays.copyOfRange(z, C, 2 * C), mask(Arrays.copyOfRange(pos, C, 2 * C)), false);
        try (NDManager m = NDManager.newBaseManager()) {
            float got = MultiLabelLoss.loss(
                            m.create(z, new Shape(2, C)),
                            m.create(pos, new Shape(2, C)),
                            m.create(new float[2]),
                            m.create(new float[] {3f, 1f}))
                    .getFloat();
            assertThat(got).isCloseTo((float) ((3 * l0 + l1) / 4), within(1e-5f));
        }
    }

    @Test
    void batchLossIsTheMeanOfTheItemLosses() {
        Random r = new Random(3);
        float[] z = new float[3 * C];
        for (int i = 0; i < z.length; i++) {
            z[i] = (float) r.nextGaussian() * 3;
        }
        float[] pos = new float[3 * C];
        pos[2] = 1f; // row 0: one category
        pos[C + 1] = pos[C + 9] = 1f; // row 1: two categories; row 2: unknown-category unsafe
        float[] unknown = {0f, 0f, 1f};
        double expected = 0;
        for (int row = 0; row < 3; row++) {
            float[] zr = Arrays.copyOfRange(z, row * C, row * C + C);
            float[] pr = Arrays.copyOfRange(pos, row * C, row * C + C);
            expected += MultiLabelLoss.reference(zr, mask(pr), unknown[row] == 1f) / 3;
        }
        try (NDManager m = NDManager.newBaseManager()) {
            float got = MultiLabelLoss.loss(
                            m.create(z, new Shape(3, C)), m.create(pos, new Shape(3, C)), m.create(unknown))
                    .getFloat();
            assertThat(got).isCloseTo((float) expected, within(1e-4f));
        }
    }

    static boolean[] mask(float[] p) {
        boolean[] b = new boolean[p.length];
        for (int i = 0; i < p.length; i++) {
            b[i] = p[i] == 1f;
        }
        return b;
    }
}
