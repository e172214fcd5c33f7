package dev.duoguard.trainer.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDManager;
import dev.duoguard.trainer.hf.TransformerConfig;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class GeneratorTest {

    static NDManager manager;
    static DjlTransformer model;
    static final TransformerConfig TINY = TransformerConfig.preset("tiny", 300, 0, 0);

    @BeforeAll
    static void load() {
        manager = NDManager.newBaseManager();
        model = DjlTransformer.random(TINY, manager, false, true, 4);
    }

    @AfterAll
    static void close() {
        model.close();
        manager.close();
    }

    @Test
    void kvCachedStepsMatchAFullForwardPassOverTheWholeSequence() {
        List<long[]> prompts = List.of(new long[] {5, 9, 13}, new long[] {7, 8, 9, 10, 11, 12});
        Sampler greedy = new Sampler(0f, 1f, 1, 6, Set.of(), 1);
        List<float[][]> steps = new ArrayList<>();
        List<List<long[]>> out = new Generator(model).generate(prompts, greedy, steps);
        for (int p = 0; p < prompts.size(); p++) {
            long[] generated = out.get(p).get(0);
            assertThat(generated).hasSize(6);
            // re-run the whole (unpadded) sequence for each step and compare the next-token logits
            for (int step = 0; step < 6; step++) {
                long[] seq = new long[prompts.get(p).length + step];
                System.arraycopy(prompts.get(p), 0, seq, 0, prompts.get(p).length);
                System.arraycopy(generated, 0, seq, prompts.get(p).length, step);
                long[] mask = new long[seq.length];
                Arrays.fill(mask, 1);
                try (NDManager b = manager.newSubManager()) {
                    float[] full = model.lmLogits(b.create(new long[][] {seq}), b.create(new long[][] {mask}))
                            .get("0, -1, :")
                            .toFloatArray();
                    assertThat(steps.get(step)[p])
                            .as("prompt %d step %d", p, step)
                            .containsExactly(full, within(1e-4f));
                }
            }
        }
    }

    @Test
    void samplingIsSeededAndGivesNSamplesPerPrompt() {
        List<long[]> prompts = List.of(new long[] {1, 2, 3}, new long[] {4});
        Sampler s = new Sampler(0.9f, 1f, 8, 5, Set.of(), 42);
        List<List<long[]>> a = new Generator(model).generate(prompts, s);
        List<List<long[]>> b = new Generator(model).generate(prompts, s);
        assertThat(a).hasSize(2);
        assertThat(a.get(0)).hasSize(8);
        for (int p = 0; p < 2; p++) {
            for (int k = 0; k < 8; k++) {
                assertThat(a.get(p).get(k)).containsExactly(b.get(p).get(k));
            }
        }
        List<List<long[]>> c = new Generator(model).generate(prompts, new Sampler(0.9f, 1f, 8, 5, Set.of(), 43));
        boolean differs = false;
        for (int k = 0; k < 8; k++) {
            differs |= !Arrays.equals(a.get(0).get(k), c.get(0).get(k));
        }
        assertThat(differs).as("another seed gives other samples").isTrue();
    }

    @Test
    void generationStopsAtAStopTokenAndTinyTopPIsGreedy() {
        long[] prompt = {3, 1, 4, 1, 5};
        long[] greedy = new Generator(model)
                .generate(List.of(prompt), new Sampler(0f, 1f, 1, 8, Set.of(), 1))
                .get(0)
                .get(0);
        long[] nucleus = new Generator(model)
                .generate(List.of(prompt), new Sampler(1f, 1e-6f, 1, 8, Set.of(), 9))
                .get(0)
                .get(0);
        assertThat(nucleus).containsExactly(greedy);
        long stop = greedy[3];
        long[] stopped = new Generator(model)
                .generate(List.of(prompt), new Sampler(0f, 1f, 1, 8, Set.of(stop), 1))
                .get(0)
                .get(0);
        int firstStop = 0;
        while (greedy[firstStop] != stop) {
            firstStop++;
        }
        assertThat(stopped).containsExactly(Arrays.copyOf(greedy, firstStop));
    }
}
