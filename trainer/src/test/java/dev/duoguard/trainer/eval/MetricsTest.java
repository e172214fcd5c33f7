package dev.duoguard.trainer.eval;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

/** Precision, recall, F1, FPR and AUPRC against values computed by hand. */
class MetricsTest {

    static final float[] SCORES = {0.9f, 0.8f, 0.7f, 0.6f, 0.4f, 0.3f};
    static final boolean[] UNSAFE = {true, false, true, true, false, false};

    @Test
    void thresholdMetrics() {
        Metrics m = Metrics.of(SCORES, UNSAFE, 0.5);
        // flagged: the first four -> TP 3, FP 1, FN 0, TN 2
        assertThat(m.tp()).isEqualTo(3);
        assertThat(m.fp()).isEqualTo(1);
        assertThat(m.fn()).isZero();
        assertThat(m.tn()).isEqualTo(2);
        assertThat(m.precision()).isEqualTo(0.75);
        assertThat(m.recall()).isEqualTo(1.0);
        assertThat(m.f1()).isCloseTo(6.0 / 7, within(1e-12));
        assertThat(m.fpr()).isCloseTo(1.0 / 3, within(1e-12));
    }

    @Test
    void averagePrecisionStepsAtEachThreshold() {
        // recall steps at 0.9 (P 1), 0.7 (P 2/3), 0.6 (P 3/4): 1/3 + 1/3 * 2/3 + 1/3 * 3/4 = 29/36
        assertThat(Metrics.of(SCORES, UNSAFE, 0.5).auprc()).isCloseTo(29.0 / 36, within(1e-12));
    }

    @Test
    void tiedScoresAreOneThresholdSoAConstantScorerGetsThePrevalence() {
        float[] constant = {0.5f, 0.5f, 0.5f, 0.5f};
        boolean[] labels = {true, false, false, false};
        assertThat(Metrics.of(constant, labels, 0.5).auprc()).isCloseTo(0.25, within(1e-12));
    }

    @Test
    void baselinesAndUndefinedValues() {
        float[] all = {1, 1, 1, 1, 1, 1};
        Metrics flagAll = Metrics.of(all, UNSAFE, 0.5);
        assertThat(flagAll.precision()).isEqualTo(0.5);
        assertThat(flagAll.f1()).isCloseTo(2 * 0.5 / 1.5, within(1e-12));
        assertThat(flagAll.fpr()).isEqualTo(1.0);

        Metrics flagNone = Metrics.of(new float[6], UNSAFE, 0.5);
        assertThat(flagNone.precision()).as("zero_division=0").isZero();
        assertThat(flagNone.f1()).isZero();
        assertThat(flagNone.fpr()).isZero();

        Metrics allUnsafe = Metrics.of(new float[] {0.9f, 0.1f}, new boolean[] {true, true}, 0.5);
        assertThat(allUnsafe.fpr()).as("no safe items").isNaN();
        assertThat(allUnsafe.report().fpr()).isNull();
        Metrics allSafe = Metrics.of(new float[] {0.9f, 0.1f}, new boolean[] {false, false}, 0.5);
        assertThat(allSafe.f1()).isNaN();
        assertThat(allSafe.auprc()).isNaN();
        assertThat(allSafe.fpr()).isEqualTo(0.5);
    }

    @Test
    void thresholdIsStrict() {
        Metrics m = Metrics.of(new float[] {0.5f}, new boolean[] {true}, 0.5);
        assertThat(m.tp()).as("p = 0.5 is not above the threshold").isZero();
    }
}
