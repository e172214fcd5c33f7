package dev.duoguard.trainer.loop;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.duoguard.runtime.tokenizer.GuardrailTokenizer;
import dev.duoguard.trainer.engine.DjlTransformer;
import dev.duoguard.trainer.hf.TransformerConfig;
import dev.duoguard.trainer.tokenizer.ByteLevelBpeTrainer;
import dev.duoguard.trainer.tokenizer.TokenizerJson;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** DPO + RPO: the loss on hand-computed values, sequence log-probabilities, and DPO moving the margin. */
class DpoTest {

    @Test
    void lossOnHandComputedValues() {
        // margin = 0.01 * ((-10 + 11) - (-12 + 11)) = 0.02; log(1 + e^-0.02) = 0.683197...; RPO 0.4 * 10 / 5 = 0.8
        double expected = Math.log1p(Math.exp(-0.02)) + 0.8;
        assertThat(DpoLoss.reference(-10, -12, -11, -11, 5, 0.01, 0.4)).isCloseTo(expected, within(1e-12));
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray loss = DpoLoss.loss(
                    m.create(new float[] {-10f, -3f}),
                    m.create(new float[] {-12f, -2f}),
                    m.create(new float[] {-11f, -3f}),
                    m.create(new float[] {-11f, -2f}),
                    m.create(new float[] {5f, 2f}),
                    0.01f,
                    0.4f);
            double second = Math.log(2) + 0.4 * 3 / 2.0; // equal policy and reference: margin 0
            assertThat(loss.getFloat()).isCloseTo((float) ((expected + second) / 2), within(1e-5f));
        }
    }

    @Test
    void sequenceLogProbsSumTheCompletionTokensOnly() {
        TransformerConfig c = TransformerConfig.preset("tiny", 40, 0, 0);
        try (NDManager m = NDManager.newBaseManager();
                DjlTransformer model = DjlTransformer.random(c, m, false, false, 3)) {
            long[] row = {5, 6, 7, 8, 9, 0};
            long[] mask = {1, 1, 1, 1, 1, 0};
            NDArray ids = m.create(row, new Shape(1, 6));
            NDArray mk = m.create(mask, new Shape(1, 6));
            float got = SequenceLogProbs.of(model, ids, mk, new int[] {3}).getFloat();
            float[] logits = model.lmLogits(ids, mk).toFloatArray(); // (1, 6, 40)
            double expected = 0;
            for (int pos = 3; pos <= 4; pos++) { // tokens 8 and 9, predicted at 2 and 3
                int at = pos - 1;
                double max = Double.NEGATIVE_INFINITY;
                for (int v = 0; v < 40; v++) {
                    max = Math.max(max, logits[at * 40 + v]);
                }
                double z = 0;
                for (int v = 0; v < 40; v++) {
                    z += Math.exp(logits[at * 40 + v] - max);
                }
                expected += logits[at * 40 + (int) row[pos]] - max - Math.log(z);
            }
            assertThat(got).isCloseTo((float) expected, within(1e-4f));
        }
    }

    @Test
    void aFewDpoStepsRaiseTheChosenOverRejectedMarginAgainstTheReference(@TempDir Path dir) throws IOException {
        List<String> corpus =
                List.of("the cat sat on the mat", "a dog ran in the park", "le chat dort", "el perro come");
        Path tokFile = dir.resolve("tokenizer.json");
        ByteLevelBpeTrainer.write(
                new ByteLevelBpeTrainer(400, 1, GeneratorPrompts.SPECIAL_TOKENS).train(corpus), tokFile);
        List<GeneratorTrainer.PreferencePair> pairs = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            pairs.add(new GeneratorTrainer.PreferencePair(
                    "<|lang|>fr<|new|>", "le chat dort" + GeneratorPrompts.END, "the cat sat" + GeneratorPrompts.END));
        }
        try (NDManager m = NDManager.newBaseManager();
                GuardrailTokenizer tok = GuardrailTokenizer.load(tokFile)) {
            TransformerConfig c = TransformerConfig.preset("tiny", TokenizerJson.vocabularySize(tokFile), 0, 0);
            DjlTransformer policy = DjlTransformer.random(c, m, false, false, 5);
            DpoReference reference = DpoReference.frozenCopy(policy, m);
            GeneratorTrainer trainer = new GeneratorTrainer(policy, m, tok, 32, 16);
            assertThat(trainer.meanMargin(pairs, reference))
                    .as("policy = reference")
                    .isCloseTo(0, within(1e-4));
            // β large enough for a visible move in a few steps; RPO on as in the paper
            ByteArrayOutputStream log = new ByteArrayOutputStream();
            trainer.dpo(pairs, reference, 0.5f, 0.4f, 3e-3f, 4, 8, 1, new PrintStream(log, true));
            assertThat(log.toString()).contains("DPO: 4 steps, 0 skipped");
            assertThat(trainer.meanMargin(pairs, reference)).isGreaterThan(1.0);
            policy.close();
            reference.close();
        }
    }

    @Test
    void everyDpoRunFreesItsOptimizerState(@TempDir Path dir) throws IOException {
        Path tokFile = dir.resolve("tokenizer.json");
        ByteLevelBpeTrainer.write(
                new ByteLevelBpeTrainer(300, 1, GeneratorPrompts.SPECIAL_TOKENS).train(List.of("le chat", "the cat")),
                tokFile);
        List<GeneratorTrainer.PreferencePair> pairs = List.of(new GeneratorTrainer.PreferencePair(
                "<|lang|>fr<|new|>", "le chat" + GeneratorPrompts.END, "the cat" + GeneratorPrompts.END));
        try (NDManager m = NDManager.newBaseManager();
                GuardrailTokenizer tok = GuardrailTokenizer.load(tokFile)) {
            TransformerConfig c = TransformerConfig.preset("tiny", TokenizerJson.vocabularySize(tokFile), 0, 0);
            DjlTransformer policy = DjlTransformer.random(c, m, false, false, 5);
            GeneratorTrainer trainer = new GeneratorTrainer(policy, m, tok, 32, 16);
            PrintStream log = new PrintStream(new ByteArrayOutputStream(), true);
            try (DpoReference reference = DpoReference.frozenCopy(policy, m)) {
                List<Integer> sizes = new ArrayList<>();
                sizes.add(m.getManagedArrays().size());
                for (int run = 0; run < 3; run++) {
                    trainer.dpo(pairs, reference, 0.1f, 0.4f, 1e-3f, 1, 8, run, log);
                    sizes.add(m.getManagedArrays().size());
                }
                assertThat(sizes)
                        .as("two moment buffers and a gradient handle per weight would stay after every run")
                        .containsOnly(sizes.get(0));
            }
            policy.close();
        }
    }
}
