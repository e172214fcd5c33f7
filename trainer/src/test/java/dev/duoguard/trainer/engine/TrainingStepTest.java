package dev.duoguard.trainer.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The step's checks and accounting on a two-parameter problem whose gradients are known by hand. */
class TrainingStepTest {

    NDManager manager;
    NDArray a;
    NDArray b;
    List<Float> rates;
    List<Double> norms;
    TrainingStep training;

    @BeforeEach
    void setUp() {
        manager = NDManager.newBaseManager();
        a = manager.create(new float[] {3f, 4f});
        b = manager.create(new float[] {1f});
        a.setRequiresGradient(true);
        b.setRequiresGradient(true);
        rates = new ArrayList<>();
        norms = new ArrayList<>();
        training = new TrainingStep(List.of(a, b), (lr, norm) -> {
            rates.add(lr);
            norms.add(norm);
            a.subi(a.getGradient().mul(lr));
            b.subi(b.getGradient().mul(lr));
        });
    }

    @AfterEach
    void tearDown() {
        manager.close();
    }

    /** L = Σ a² / 2 + 2 b: dL/da = a, dL/db = 2, so the global norm is sqrt(9 + 16 + 4). */
    NDArray smooth() {
        return Scalars.mul(Scalars.pow(a, 2).sum(), 0.5).add(Scalars.mul(b, 2).sum());
    }

    @Test
    void anAppliedStepReportsLossAndNormUpdatesAndZeroesTheGradients() {
        TrainingStep.Result r = training.step(this::smooth, 0.1f);

        assertThat(r.outcome()).isEqualTo(TrainingStep.Outcome.APPLIED);
        assertThat(r.skipped()).isFalse();
        assertThat(r.loss()).isCloseTo(12.5 + 2, within(1e-6));
        assertThat(r.gradientNorm()).isCloseTo(Math.sqrt(29), within(1e-6));
        assertThat(rates).containsExactly(0.1f);
        assertThat(norms).containsExactly(r.gradientNorm());
        assertThat(a.toFloatArray()).containsExactly(new float[] {2.7f, 3.6f}, within(1e-6f));
        assertThat(b.toFloatArray()).containsExactly(new float[] {0.8f}, within(1e-6f));
        assertThat(a.getGradient().toFloatArray()).containsOnly(0f);
        assertThat(b.getGradient().toFloatArray()).containsOnly(0f);
        assertThat(training.summary()).isEqualTo("1 steps, 0 skipped");
    }

    @Test
    void aNonFiniteGradientSkipsTheStepAndLeavesNothingBehind() {
        // sqrt(a - 3) at a = (3, 4): the loss is finite (1), the gradient of a[0] is 1 / (2 sqrt 0) = inf
        TrainingStep.Result r = training.step(() -> a.sub(3f).sqrt().sum(), 0.1f);

        assertThat(r.outcome()).isEqualTo(TrainingStep.Outcome.NON_FINITE_GRADIENT);
        assertThat(r.loss()).isEqualTo(1.0);
        assertThat(r.gradientNorm()).isInfinite();
        assertThat(rates).as("no update").isEmpty();
        assertThat(a.toFloatArray()).containsExactly(3f, 4f);
        assertThat(a.getGradient().toFloatArray())
                .as("zeroed, so the next step starts clean")
                .containsOnly(0f);

        TrainingStep.Result next = training.step(this::smooth, 0.1f);
        assertThat(next.outcome()).isEqualTo(TrainingStep.Outcome.APPLIED);
        assertThat(next.gradientNorm()).isCloseTo(Math.sqrt(29), within(1e-6));
        assertThat(training.steps()).isEqualTo(2);
        assertThat(training.skipped()).isEqualTo(1);
        assertThat(training.summary()).isEqualTo("2 steps, 1 skipped (non-finite gradient norm: 1)");
    }

    @Test
    void aNonFiniteLossSkipsTheStepWithoutABackwardPass() {
        TrainingStep.Result r = training.step(() -> Scalars.mul(a.sum(), Double.NaN), 0.1f);

        assertThat(r.outcome()).isEqualTo(TrainingStep.Outcome.NON_FINITE_LOSS);
        assertThat(r.loss()).isNaN();
        assertThat(r.gradientNorm()).isNaN();
        assertThat(rates).isEmpty();
        assertThat(a.getGradient().toFloatArray()).containsOnly(0f);
        assertThat(training.summary()).isEqualTo("1 steps, 1 skipped (non-finite loss: 1)");
    }

    @Test
    void sgdSubtractsTheScaledGradient() {
        TrainingStep sgd = TrainingStep.sgd(List.of(a, b));
        assertThat(sgd.step(this::smooth, 0.5f).skipped()).isFalse();
        assertThat(a.toFloatArray()).containsExactly(1.5f, 2f);
        assertThat(b.toFloatArray()).containsExactly(0f);
    }

    /** Σ cast_fp32(cast_fp16(w)) · k: its gradient, k for each element, passes through fp16 on its way to w. */
    static NDArray throughFp16(NDArray w, float k) {
        return Scalars.mul(
                Gradients.cast(Gradients.cast(w, DataType.FLOAT16), DataType.FLOAT32)
                        .sum(),
                k);
    }

    @Test
    void aLossScaleKeepsGradientsThatFp16WouldRoundToZero() {
        NDArray w = manager.create(new float[] {1f, 2f});
        w.setRequiresGradient(true);
        List<float[]> gradients = new ArrayList<>();
        TrainingStep plain = new TrainingStep(
                List.of(w), (lr, norm) -> gradients.add(w.getGradient().toFloatArray()));
        plain.step(() -> throughFp16(w, 1e-8f), 0f);
        assertThat(gradients.get(0)).as("1e-8 is below fp16's smallest value").containsExactly(0f, 0f);

        TrainingStep scaled = new TrainingStep(
                        List.of(w), (lr, norm) -> gradients.add(w.getGradient().toFloatArray()))
                .withLossScale(new TrainingStep.LossScale(1024f, 100));
        TrainingStep.Result r = scaled.step(() -> throughFp16(w, 1e-8f), 0f);
        assertThat(r.outcome()).isEqualTo(TrainingStep.Outcome.APPLIED);
        assertThat(r.loss()).as("the unscaled loss").isCloseTo(3e-8, within(1e-12));
        assertThat(gradients.get(1))
                .as("scaled in fp16, unscaled in fp32")
                .containsExactly(new float[] {1e-8f, 1e-8f}, within(1e-10f));
        assertThat(scaled.summary()).endsWith(", loss scale 1024.0");
    }

    @Test
    void anOverflowingScaleSkipsTheStepAndHalvesUntilTheGradientFits() {
        NDArray w = manager.create(new float[] {1f, 2f});
        w.setRequiresGradient(true);
        List<Float> applied = new ArrayList<>();
        TrainingStep.LossScale scale = new TrainingStep.LossScale(65536f, 2);
        TrainingStep step = new TrainingStep(List.of(w), (lr, norm) -> applied.add(scale.value())).withLossScale(scale);
        // a gradient of 100 scaled by 65,536 is past fp16's 65,504: inf until the scale is 512 (51,200)
        List<TrainingStep.Outcome> outcomes = new ArrayList<>();
        while (applied.isEmpty()) {
            outcomes.add(step.step(() -> throughFp16(w, 100f), 0f).outcome());
        }
        assertThat(outcomes).hasSize(8).endsWith(TrainingStep.Outcome.APPLIED);
        assertThat(outcomes.subList(0, 7)).containsOnly(TrainingStep.Outcome.NON_FINITE_GRADIENT);
        assertThat(applied).containsExactly(512f);
        step.step(() -> throughFp16(w, 100f), 0f);
        assertThat(scale.value()).as("doubled after two applied steps in a row").isEqualTo(1024f);
        assertThat(step.skipped()).isEqualTo(7);
    }
}
