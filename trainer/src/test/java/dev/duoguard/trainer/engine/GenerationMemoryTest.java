package dev.duoguard.trainer.engine;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import dev.duoguard.trainer.hf.TransformerConfig;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Generation frees each layer's temporaries once its output exists, and gives the ids it gave before it did. */
class GenerationMemoryTest {

    static final TransformerConfig SMALL = TransformerConfig.preset("small", 300, 0, 0);

    /** Arrays alive on the model's and the call's managers, and their bytes. */
    record Held(int arrays, long bytes) {
        static Held of(NDManager... managers) {
            int n = 0;
            long bytes = 0;
            for (NDManager m : managers) {
                for (Object o : m.getManagedArrays()) {
                    NDArray a = (NDArray) o;
                    n++;
                    bytes += a.size() * a.getDataType().getNumOfBytes();
                }
            }
            return new Held(n, bytes);
        }

        Held minus(Held before) {
            return new Held(arrays - before.arrays, bytes - before.bytes);
        }
    }

    @Test
    @SuppressWarnings("try") // NDScope: arrays made inside are registered with it implicitly, never named
    void aPrefillHoldsItsOutputAndCacheNotEveryLayersTemporaries() {
        try (NDManager root = NDManager.newBaseManager();
                DjlTransformer model = DjlTransformer.random(SMALL, root, false, true, 4);
                NDManager call = root.newSubManager()) {
            NDManager weights = model.parameterArrays().iterator().next().getManager();
            long[][] ids = new long[8][128];
            long[][] mask = new long[8][128];
            for (int r = 0; r < 8; r++) {
                for (int t = 0; t < 128; t++) {
                    ids[r][t] = (r * 31 + t * 7) % 300;
                    mask[r][t] = t >= r * 4 ? 1 : 0; // left padding of 0..28 tokens
                }
            }
            NDArray x = call.create(ids);
            NDArray m = call.create(mask);
            Held full;
            try (NDScope scope = new NDScope()) {
                Held before = Held.of(weights, call);
                model.hidden(x, m); // a training forward: every layer's temporaries live until the scope closes
                full = Held.of(weights, call).minus(before);
            }
            try (NDScope scope = new NDScope()) {
                Held before = Held.of(weights, call);
                DjlTransformer.KvCache cache = model.newCache();
                model.forward(x, m, cache);
                Held held = Held.of(weights, call).minus(before);
                long kv = cache.arrays().stream()
                        .mapToLong(a -> a.size() * a.getDataType().getNumOfBytes())
                        .sum();
                System.out.printf(
                        "prefill 8 x 128, small preset: %d arrays, %d bytes (KV cache %d) held after the forward;"
                                + " %d arrays, %d bytes without freeing per layer%n",
                        held.arrays(), held.bytes(), kv, full.arrays(), full.bytes());
                assertThat(held.bytes() - kv)
                        .as("besides the cache, less than one layer's share of what a forward holds")
                        .isLessThan(full.bytes() / SMALL.layers());
                assertThat(cache.arrays()).hasSize(2 * SMALL.layers() + 1);
            }
        }
    }

    @Test
    void generationLeavesNothingOnTheModelsManager() {
        try (NDManager root = NDManager.newBaseManager();
                DjlTransformer model =
                        DjlTransformer.random(TransformerConfig.preset("tiny", 300, 0, 0), root, false, true, 4)) {
            NDManager weights = model.parameterArrays().iterator().next().getManager();
            int before = weights.getManagedArrays().size();
            new Generator(model)
                    .generate(
                            List.of(new long[] {5, 9, 13}, new long[] {7, 8}),
                            new Sampler(0.9f, 1f, 2, 6, Set.of(), 3));
            assertThat(weights.getManagedArrays()).hasSize(before);
        }
    }

    @Test
    void greedyAndSampledIdsAreThoseRecordedBeforeLayersFreedTheirTemporaries() {
        try (NDManager root = NDManager.newBaseManager();
                DjlTransformer model =
                        DjlTransformer.random(TransformerConfig.preset("tiny", 300, 0, 0), root, false, true, 4)) {
            List<long[]> prompts = List.of(new long[] {5, 9, 13, 2, 7}, new long[] {7, 8, 9, 10, 11, 12, 40, 41});
            List<List<long[]>> greedy = new Generator(model).generate(prompts, new Sampler(0f, 1f, 1, 10, Set.of(), 1));
            List<List<long[]>> sampled =
                    new Generator(model).generate(prompts, new Sampler(1f, 0.9f, 2, 10, Set.of(), 7));
            // recorded from the engine before generation freed each layer's temporaries (same model, seeds, prompts)
            assertThat(ids(greedy))
                    .isEqualTo(List.of(
                            List.of(7L, 7L, 7L, 7L, 7L, 7L, 7L, 7L, 7L, 7L),
                            List.of(41L, 41L, 41L, 41L, 41L, 41L, 41L, 41L, 41L, 41L)));
            assertThat(ids(sampled))
                    .isEqualTo(List.of(
                            List.of(190L, 186L, 295L, 76L, 120L, 202L, 76L, 116L, 158L, 194L),
                            List.of(265L, 90L, 32L, 109L, 56L, 213L, 186L, 112L, 48L, 9L),
                            List.of(83L, 268L, 168L, 256L, 58L, 134L, 98L, 14L, 236L, 123L),
                            List.of(215L, 270L, 267L, 95L, 128L, 128L, 13L, 259L, 152L, 35L)));
        }
    }

    private static List<List<Long>> ids(List<List<long[]>> out) {
        return out.stream()
                .flatMap(List::stream)
                .map(a -> Arrays.stream(a).boxed().toList())
                .toList();
    }
}
