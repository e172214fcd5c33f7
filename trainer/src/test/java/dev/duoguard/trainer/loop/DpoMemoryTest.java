package dev.duoguard.trainer.loop;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import dev.duoguard.runtime.tokenizer.GuardrailTokenizer;
import dev.duoguard.trainer.engine.DjlTransformer;
import dev.duoguard.trainer.engine.LoraConfig;
import dev.duoguard.trainer.engine.TrainingStep;
import dev.duoguard.trainer.hf.TransformerConfig;
import dev.duoguard.trainer.tokenizer.ByteLevelBpeTrainer;
import dev.duoguard.trainer.tokenizer.TokenizerJson;
import dev.duoguard.trainer.train.AdamW;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * DPO's reference runs in a scope of its own: only its (B) log-probabilities outlive it, and the loss and update are
 * those of the reference computed inline in the step's scope, as before.
 */
class DpoMemoryTest {

    static final List<GeneratorTrainer.PreferencePair> PAIRS = List.of(
            new GeneratorTrainer.PreferencePair(
                    "<|lang|>fr<|new|>", "le chat dort" + GeneratorPrompts.END, "the cat sat" + GeneratorPrompts.END),
            new GeneratorTrainer.PreferencePair(
                    "<|lang|>es<|new|>", "el perro come" + GeneratorPrompts.END, "a dog" + GeneratorPrompts.END));

    static Path tokenizer(Path dir) throws IOException {
        Path file = dir.resolve("tokenizer.json");
        ByteLevelBpeTrainer.write(
                new ByteLevelBpeTrainer(400, 1, GeneratorPrompts.SPECIAL_TOKENS)
                        .train(List.of("the cat sat on the mat", "a dog ran", "le chat dort", "el perro come")),
                file);
        return file;
    }

    /** What {@code GeneratorTrainer} makes of a batch: right-padded prompt ++ completion rows. */
    record Rows(NDArray ids, NDArray mask, int[] promptLengths, NDArray completionTokens) {
        static Rows of(List<GeneratorTrainer.Encoded> batch, NDManager m, long pad) {
            int t = batch.stream()
                    .mapToInt(e -> e.prompt().length + e.completion().length)
                    .max()
                    .orElseThrow();
            long[] ids = new long[batch.size() * t];
            long[] mask = new long[batch.size() * t];
            int[] promptLengths = new int[batch.size()];
            float[] completion = new float[batch.size()];
            Arrays.fill(ids, pad);
            for (int r = 0; r < batch.size(); r++) {
                GeneratorTrainer.Encoded e = batch.get(r);
                System.arraycopy(e.prompt(), 0, ids, r * t, e.prompt().length);
                System.arraycopy(e.completion(), 0, ids, r * t + e.prompt().length, e.completion().length);
                Arrays.fill(mask, r * t, r * t + e.prompt().length + e.completion().length, 1L);
                promptLengths[r] = e.prompt().length;
                completion[r] = Math.max(1, e.completion().length);
            }
            return new Rows(
                    m.create(ids, new Shape(batch.size(), t)),
                    m.create(mask, new Shape(batch.size(), t)),
                    promptLengths,
                    m.create(completion));
        }
    }

    static int arrays(NDManager... managers) {
        return Arrays.stream(managers)
                .mapToInt(m -> m.getManagedArrays().size())
                .sum();
    }

    static long bytes(NDManager... managers) {
        long n = 0;
        for (NDManager m : managers) {
            for (Object o : m.getManagedArrays()) {
                NDArray a = (NDArray) o;
                n += a.size() * a.getDataType().getNumOfBytes();
            }
        }
        return n;
    }

    @Test
    @SuppressWarnings("try") // NDScope: arrays made inside are registered with it implicitly, never named
    void theReferenceLeavesOnlyItsLogProbsBehind(@TempDir Path dir) throws IOException {
        Path tokFile = tokenizer(dir);
        try (NDManager root = NDManager.newBaseManager();
                GuardrailTokenizer tok = GuardrailTokenizer.load(tokFile);
                NDManager call = root.newSubManager()) {
            TransformerConfig c = TransformerConfig.preset("small", TokenizerJson.vocabularySize(tokFile), 0, 0);
            DjlTransformer policy = DjlTransformer.random(c, root, false, false, 5);
            policy.addLora(LoraConfig.of(4, 8f), 1);
            DpoReference reference = DpoReference.adaptersOff(policy);
            GeneratorTrainer trainer = new GeneratorTrainer(policy, call, tok, 32, 16);
            NDManager weights = policy.parameterArrays().iterator().next().getManager();
            List<GeneratorTrainer.Encoded> chosen = new ArrayList<>();
            List<GeneratorTrainer.Encoded> rejected = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                PAIRS.forEach(p -> {
                    chosen.add(trainer.encode(p.prompt(), p.chosen()));
                    rejected.add(trainer.encode(p.prompt(), p.rejected()));
                });
            }
            try (NDScope scope = new NDScope()) {
                Rows rc = Rows.of(chosen, call, 0);
                Rows rr = Rows.of(rejected, call, 0);
                int before = arrays(weights, call);
                long beforeBytes = bytes(weights, call);
                // the reference as the step computed it before: inline, its forwards alive until the step ends
                float[] inline = policy.withAdaptersOff(
                                () -> SequenceLogProbs.of(policy, rc.ids, rc.mask, rc.promptLengths)
                                        .sub(SequenceLogProbs.of(policy, rr.ids, rr.mask, rr.promptLengths)))
                        .toFloatArray();
                int heldInline = arrays(weights, call) - before;
                long bytesInline = bytes(weights, call) - beforeBytes;
                try (NDScope step = new NDScope()) {
                    int start = arrays(weights, call);
                    long startBytes = bytes(weights, call);
                    NDArray refC = reference.logProbs(rc.ids, rc.mask, rc.promptLengths);
                    NDArray refR = reference.logProbs(rr.ids, rr.mask, rr.promptLengths);
                    int held = arrays(weights, call) - start;
                    long heldBytes = bytes(weights, call) - startBytes;
                    System.out.printf(
                            "DPO reference, small preset, 8 pairs: %d arrays, %d bytes held before the policy's"
                                    + " forward; %d arrays, %d bytes inline%n",
                            held, heldBytes, heldInline, bytesInline);
                    assertThat(held).as("the two (B) results").isEqualTo(2);
                    assertThat(refC.getManager()).isSameAs(call);
                    assertThat(refC.sub(refR).toFloatArray()).containsExactly(inline);
                }
                assertThat(heldInline).isGreaterThan(100);
            }
            policy.close();
        }
    }

    @Test
    @SuppressWarnings("try") // NDScope: arrays made inside are registered with it implicitly, never named
    void aDpoStepHasTheLossAndUpdateOfTheReferenceComputedInline(@TempDir Path dir) throws IOException {
        Path tokFile = tokenizer(dir);
        float beta = 0.5f;
        float alpha = 0.4f;
        float lr = 1e-3f;
        try (NDManager m = NDManager.newBaseManager();
                GuardrailTokenizer tok = GuardrailTokenizer.load(tokFile)) {
            TransformerConfig c = TransformerConfig.preset("tiny", TokenizerJson.vocabularySize(tokFile), 0, 0);
            DjlTransformer scoped = DjlTransformer.random(c, m, false, false, 5);
            DjlTransformer inline = DjlTransformer.random(c, m, false, false, 5);
            double loss;
            try (DpoReference reference = DpoReference.frozenCopy(scoped, m)) {
                loss = new GeneratorTrainer(scoped, m, tok, 32, 16)
                        .dpo(PAIRS, reference, beta, alpha, lr, 1, 8, 3, new PrintStream(new ByteArrayOutputStream()));
            }
            // the same step as GeneratorTrainer took it before: the reference inline in the step's scope
            double expected;
            try (DjlTransformer copy = DjlTransformer.fromTensors(c, inline.toTensors(), m, false, true);
                    NDManager moments = m.newSubManager();
                    NDScope scope = new NDScope()) {
                GeneratorTrainer trainer = new GeneratorTrainer(inline, m, tok, 32, 16);
                List<GeneratorTrainer.PreferencePair> order = new ArrayList<>(PAIRS);
                Collections.shuffle(order, new Random(3));
                List<GeneratorTrainer.Encoded> chosen = new ArrayList<>();
                List<GeneratorTrainer.Encoded> rejected = new ArrayList<>();
                order.forEach(p -> {
                    chosen.add(trainer.encode(p.prompt(), p.chosen()));
                    rejected.add(trainer.encode(p.prompt(), p.rejected()));
                });
                Rows rc = Rows.of(chosen, m, 0);
                Rows rr = Rows.of(rejected, m, 0);
                NDArray refC = SequenceLogProbs.of(copy, rc.ids, rc.mask, rc.promptLengths)
                        .stopGradient();
                NDArray refR = SequenceLogProbs.of(copy, rr.ids, rr.mask, rr.promptLengths)
                        .stopGradient();
                inline.trainable(name -> true);
                Map<String, NDArray> params = new LinkedHashMap<>(inline.parameters());
                AdamW opt = new AdamW(params, moments, 0.9f, 0.999f, 1e-8f, 0f);
                TrainingStep training =
                        new TrainingStep(new ArrayList<>(params.values()), (rate, norm) -> opt.step(rate, 1.0f, norm));
                expected = training.step(
                                () -> inline.training(() -> DpoLoss.loss(
                                        SequenceLogProbs.of(inline, rc.ids, rc.mask, rc.promptLengths),
                                        SequenceLogProbs.of(inline, rr.ids, rr.mask, rr.promptLengths),
                                        refC,
                                        refR,
                                        rc.completionTokens,
                                        beta,
                                        alpha)),
                                lr)
                        .loss();
            }
            assertThat(loss).isEqualTo(expected);
            scoped.parameters()
                    .forEach((name, w) -> assertThat(w.toFloatArray())
                            .as(name + " after the step")
                            .containsExactly(inline.parameters().get(name).toFloatArray()));
            assertThat(scoped.parameters().get("model.norm.weight").toFloatArray())
                    .as("the step moved the weights")
                    .isNotEqualTo(DjlTransformer.random(c, m, false, false, 5)
                            .parameters()
                            .get("model.norm.weight")
                            .toFloatArray());
            scoped.close();
            inline.close();
        }
    }
}
