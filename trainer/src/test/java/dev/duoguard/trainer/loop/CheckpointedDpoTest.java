package dev.duoguard.trainer.loop;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.offset;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Activation;
import ai.djl.training.GradientCollector;
import dev.duoguard.trainer.TinyCausalLm;
import dev.duoguard.trainer.TinyCausalLm.Family;
import dev.duoguard.trainer.engine.DjlTransformer;
import dev.duoguard.trainer.engine.Gradients;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The generator's training with activation checkpointing ({@link GeneratorTrainer#activationCheckpointing}): the
 * completion log-probabilities and their gradients through a chunked LM head and recomputed layers are the plain
 * pass's, and LoRA DPO runs the same.
 */
class CheckpointedDpoTest {

    static NDManager manager;

    @BeforeAll
    static void start() {
        manager = NDManager.newBaseManager();
    }

    @AfterAll
    static void stop() {
        manager.close();
    }

    /** A loss that is not linear in the log-probabilities, as DPO's is not. */
    static NDArray loss(NDArray logProbs, NDArray weights) {
        return Activation.softPlus(logProbs.mul(weights)).sum();
    }

    /** Values, loss and every trainable gradient of one pass; gradients zeroed after. */
    static List<float[]> run(List<NDArray> trainable, Function<GradientCollector, NDArray[]> pass) {
        List<float[]> out = new ArrayList<>();
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            for (NDArray a : pass.apply(gc)) {
                out.add(a.toFloatArray());
            }
        }
        trainable.forEach(p -> out.add(p.getGradient().toFloatArray()));
        Gradients.zero(trainable);
        return out;
    }

    @Test
    void logProbabilitiesAndGradientsThroughAChunkedHeadAreThePlainOnes(@TempDir Path dir) throws IOException {
        TinyCausalLm.write(dir, Family.QWEN2, false, 7);
        try (ChatGenerator g = ChatGenerator.load(dir, manager, 512, ChatGeneratorTest.CLOCK);
                NDManager m = manager.newSubManager()) {
            DjlTransformer model = g.model();
            List<NDArray> trainable = model.trainable(name -> true);
            LoraDpoTest.Batch b = LoraDpoTest.batch(g, m);
            long rows = b.ids().getShape().get(0);
            NDArray weights = m.arange(1f, rows + 1f).div(rows).sub(0.4f);
            List<float[]> plain = run(trainable, gc -> {
                NDArray lp = SequenceLogProbs.of(model, b.ids(), b.mask(), b.promptLengths());
                NDArray l = loss(lp, weights);
                gc.backward(l);
                return new NDArray[] {lp, l};
            });
            long oneRow = b.ids().getShape().get(1) * model.config().vocabSize();
            List<float[]> checkpointed = run(trainable, gc -> {
                SequenceLogProbs.Checkpointed pass =
                        SequenceLogProbs.checkpointed(model, b.ids(), b.mask(), b.promptLengths(), oneRow);
                NDArray l = loss(pass.values(), weights);
                gc.backward(l);
                pass.backward();
                return new NDArray[] {pass.values(), l};
            });
            assertThat(checkpointed).hasSameSizeAs(plain);
            for (int i = 0; i < plain.size(); i++) {
                float[] want = plain.get(i);
                float[] got = checkpointed.get(i);
                double scale = 0;
                double worst = 0;
                for (int j = 0; j < want.length; j++) {
                    scale = Math.max(scale, Math.abs(want[j]));
                    worst = Math.max(worst, Math.abs(got[j] - want[j]));
                }
                String what = i == 0 ? "log-probabilities" : i == 1 ? "loss" : "gradient of weight " + (i - 2);
                assertThat(scale).as("%s is not all zero", what).isPositive();
                assertThat(worst / scale)
                        .as("%s: largest difference relative to the largest value", what)
                        .isLessThan(1e-5);
            }
        }
    }

    @Test
    void loraDpoWithCheckpointingRunsAsThePlainOneAndKeepsTheBase(@TempDir Path dir) throws IOException {
        TinyCausalLm.write(dir, Family.QWEN2, false, 7);
        try (ChatGenerator plain = ChatGenerator.load(dir, manager, 512, ChatGeneratorTest.CLOCK);
                ChatGenerator checkpointed = ChatGenerator.load(dir, manager, 512, ChatGeneratorTest.CLOCK)) {
            Map<String, float[]> base = LoraDpoTest.weights(checkpointed.model());
            List<GeneratorTrainer.PreferencePair> pairs = LoraDpoTest.pairs(plain);
            List<Double> plainLosses = new ArrayList<>();
            List<Double> checkpointedLosses = new ArrayList<>();
            for (ChatGenerator g : List.of(plain, checkpointed)) {
                g.model().addLora(LoraDpoTest.LORA, 3);
                GeneratorTrainer trainer = new GeneratorTrainer(g.model(), manager, g.tokenizer(), 512, 16)
                        .activationCheckpointing(g == checkpointed);
                try (DpoReference reference = DpoReference.adaptersOff(g.model())) {
                    for (int epoch = 0; epoch < 4; epoch++) {
                        (g == plain ? plainLosses : checkpointedLosses)
                                .add(trainer.dpo(pairs, reference, 0.1f, 0.4f, 1e-2f, 1, 3, epoch, LoraDpoTest.QUIET));
                    }
                }
            }
            for (int i = 0; i < plainLosses.size(); i++) {
                assertThat(checkpointedLosses.get(i))
                        .as("epoch %d's loss, plain %s, checkpointed %s", i, plainLosses, checkpointedLosses)
                        .isCloseTo(plainLosses.get(i), offset(1e-4));
            }
            assertThat(checkpointedLosses.get(3)).as("the loss falls").isLessThan(checkpointedLosses.get(0) - 0.1);
            Map<String, float[]> after = LoraDpoTest.weights(checkpointed.model());
            base.forEach((name, w) -> assertThat(after.get(name))
                    .as("base weight %s is bit-identical", name)
                    .isEqualTo(w));
        }
    }

    /**
     * The adapters train through a float16 base (half its memory): the casts between the fp16 base and the fp32
     * adapters and logits keep the gradient, with and without checkpointing, and the fp16 base stays bit-identical.
     */
    @Test
    void loraDpoTrainsTheAdaptersThroughAFloat16Base(@TempDir Path dir) throws IOException {
        TinyCausalLm.write(dir, Family.QWEN2, false, 7);
        for (boolean checkpointing : new boolean[] {false, true}) {
            try (ChatGenerator g = ChatGenerator.load(dir, manager, 512, ChatGeneratorTest.CLOCK)) {
                g.model().cast(DataType.FLOAT16);
                Map<String, float[]> base = LoraDpoTest.weights(g.model());
                List<NDArray> adapters = g.model().addLora(LoraDpoTest.LORA, 3);
                assertThat(adapters).allSatisfy(a -> assertThat(a.getDataType()).isEqualTo(DataType.FLOAT32));
                GeneratorTrainer trainer = new GeneratorTrainer(g.model(), manager, g.tokenizer(), 512, 16)
                        .activationCheckpointing(checkpointing);
                List<Double> losses = new ArrayList<>();
                try (DpoReference reference = DpoReference.adaptersOff(g.model())) {
                    for (int epoch = 0; epoch < 5; epoch++) {
                        losses.add(trainer.dpo(
                                LoraDpoTest.pairs(g), reference, 0.1f, 0.4f, 1e-2f, 1, 3, epoch, LoraDpoTest.QUIET));
                    }
                }
                assertThat(losses.get(4))
                        .as("checkpointing %s: DPO+RPO loss per epoch %s", checkpointing, losses)
                        .isLessThan(losses.get(0) - 0.1);
                assertThat(g.model().dataType()).isEqualTo(DataType.FLOAT16);
                Map<String, float[]> after = LoraDpoTest.weights(g.model());
                base.forEach((name, w) -> assertThat(after.get(name))
                        .as("base weight %s is bit-identical", name)
                        .isEqualTo(w));
            }
        }
    }

    /**
     * Token-budget DPO batches: a budget that holds every pair is one batch, as three pairs a batch is (the same
     * first-epoch loss); a budget smaller than any pair trains each pair alone, says so, and still learns.
     */
    @Test
    void dpoBatchesByTokenBudget(@TempDir Path dir) throws IOException {
        TinyCausalLm.write(dir, Family.QWEN2, false, 7);
        double[] firstEpoch = new double[2];
        for (int mode = 0; mode < 2; mode++) {
            try (ChatGenerator g = ChatGenerator.load(dir, manager, 512, ChatGeneratorTest.CLOCK)) {
                g.model().addLora(LoraDpoTest.LORA, 3);
                GeneratorTrainer trainer = new GeneratorTrainer(g.model(), manager, g.tokenizer(), 512, 16);
                try (DpoReference reference = DpoReference.adaptersOff(g.model())) {
                    firstEpoch[mode] = trainer.dpo(
                            LoraDpoTest.pairs(g),
                            reference,
                            0.1f,
                            0.4f,
                            1e-2f,
                            1,
                            3,
                            mode == 0 ? 0 : 1_000_000,
                            1,
                            LoraDpoTest.QUIET);
                }
            }
        }
        assertThat(firstEpoch[1]).as("one batch of every pair").isCloseTo(firstEpoch[0], offset(1e-6));

        try (ChatGenerator g = ChatGenerator.load(dir, manager, 512, ChatGeneratorTest.CLOCK)) {
            g.model().addLora(LoraDpoTest.LORA, 3);
            GeneratorTrainer trainer = new GeneratorTrainer(g.model(), manager, g.tokenizer(), 512, 16);
            ByteArrayOutputStream log = new ByteArrayOutputStream();
            List<Double> losses = new ArrayList<>();
            try (DpoReference reference = DpoReference.adaptersOff(g.model());
                    PrintStream out = new PrintStream(log, true, StandardCharsets.UTF_8)) {
                for (int epoch = 0; epoch < 5; epoch++) {
                    losses.add(trainer.dpo(LoraDpoTest.pairs(g), reference, 0.1f, 0.4f, 1e-2f, 1, 3, 1, epoch, out));
                }
            }
            assertThat(log.toString(StandardCharsets.UTF_8))
                    .contains("DPO: 3 pairs are longer than the 1-token budget and train alone")
                    .contains("DPO: 3 steps, 0 skipped"); // three batches of one pair
            assertThat(losses.get(4)).as("loss per epoch %s", losses).isLessThan(losses.get(0) - 0.1);
        }
    }
}
