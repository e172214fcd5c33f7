package dev.duoguard.trainer.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.duoguard.trainer.hf.Tensor;
import dev.duoguard.trainer.hf.TransformerConfig;
import java.util.List;
import java.util.Set;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;

/**
 * The decoder with its weights in fp16 (half the memory) computes what the fp32 model does within fp16's precision,
 * returns fp32 logits, keeps LoRA adapters in fp32, and generates; all on the CPU. bf16 is refused: DJL 0.36 aborts
 * the JVM on converting to it.
 */
class DjlTransformerDTypeTest {

    static final TransformerConfig TINY = TransformerConfig.preset("tiny", 300, 0, 0);

    /** Two rows, the second left-padded: positions and the padding mask take part. */
    static NDArray[] batch(NDManager m) {
        long[][] ids = {{5, 17, 42, 7, 99, 3, 250}, {0, 0, 11, 12, 13, 14, 15}};
        long[][] mask = {{1, 1, 1, 1, 1, 1, 1}, {0, 0, 1, 1, 1, 1, 1}};
        return new NDArray[] {m.create(ids), m.create(mask)};
    }

    static double relativeError(float[] expected, float[] actual) {
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < expected.length; i++) {
            diff += (expected[i] - actual[i]) * (double) (expected[i] - actual[i]);
            norm += expected[i] * (double) expected[i];
        }
        return Math.sqrt(diff / norm);
    }

    /** Relative error allowed: fp16 keeps 11 significant bits. */
    static final double TOLERANCE = 5e-3;

    @Test
    void fp16WeightsGiveTheFp32LogitsWithinTheirPrecision() {
        try (NDManager m = NDManager.newBaseManager();
                DjlTransformer full = DjlTransformer.random(TINY, m, false, true, 4);
                DjlTransformer narrow = DjlTransformer.random(TINY, m, false, true, 4)) {
            NDArray[] x = batch(m);
            // the real tokens only: a padded row's pad positions attend to nothing and carry no meaning
            float[] expected = full.lmLogits(x[0], x[1]).get(":, 2:, :").toFloatArray();
            long bytes = narrow.parameterArrays().stream()
                    .mapToLong(a -> a.size() * a.getDataType().getNumOfBytes())
                    .sum();
            narrow.cast(DataType.FLOAT16);
            assertThat(narrow.dataType()).isEqualTo(DataType.FLOAT16);
            assertThat(narrow.parameterArrays().stream()
                            .mapToLong(a -> a.size() * a.getDataType().getNumOfBytes())
                            .sum())
                    .isEqualTo(bytes / 2);
            NDArray logits = narrow.lmLogits(x[0], x[1]);
            assertThat(logits.getDataType()).isEqualTo(DataType.FLOAT32);
            float[] actual = logits.get(":, 2:, :").toFloatArray();
            double error = relativeError(expected, actual);
            assertThat(error).isLessThan(TOLERANCE).isGreaterThan(0); // rounded, so not bit-equal
        }
    }

    /**
     * Residual values in the hundreds, as real Qwen2/Llama checkpoints carry: their squares overflow fp16 (from 256
     * on), so the norms compute in fp32, as Hugging Face's do; an fp16 RMSNorm would turn such a token's state into
     * zeros.
     */
    @Test
    void residualValuesInTheHundredsStayWithinFp16Precision() {
        try (NDManager m = NDManager.newBaseManager();
                DjlTransformer full = DjlTransformer.random(TINY, m, false, true, 4);
                DjlTransformer narrow = DjlTransformer.random(TINY, m, false, true, 4)) {
            for (DjlTransformer d : List.of(full, narrow)) {
                NDArray embedding = d.parameters().get("model.embed_tokens.weight");
                Gradients.withoutGrad(() -> embedding.muli(20_000f)); // N(0, 0.02) becomes N(0, 400)
            }
            assertThat(full.parameters()
                            .get("model.embed_tokens.weight")
                            .abs()
                            .max()
                            .getFloat())
                    .as("values whose squares fp16 cannot hold")
                    .isGreaterThan(1000f);
            narrow.cast(DataType.FLOAT16);
            NDArray[] x = batch(m);
            float[] expected = full.hidden(x[0], x[1]).get(":, 2:, :").toFloatArray();
            float[] actual = narrow.hidden(x[0], x[1])
                    .get(":, 2:, :")
                    .toType(DataType.FLOAT32, false)
                    .toFloatArray();
            for (float v : actual) {
                assertThat(Float.isFinite(v)).isTrue();
            }
            assertThat(relativeError(expected, actual)).isLessThan(TOLERANCE);
        }
    }

    @Test
    void anFp16ModelExportsItsRoundedWeightsAndGenerates() {
        try (NDManager m = NDManager.newBaseManager();
                DjlTransformer full = DjlTransformer.random(TINY, m, false, true, 4);
                DjlTransformer narrow = DjlTransformer.random(TINY, m, false, true, 4)) {
            narrow.cast(DataType.FLOAT16);
            Tensor w = full.toTensors().get("model.layers.0.mlp.up_proj.weight");
            Tensor rounded = narrow.toTensors().get("model.layers.0.mlp.up_proj.weight");
            assertThat(relativeError(w.data(), rounded.data())).isLessThan(TOLERANCE / 4);

            List<List<long[]>> out = new Generator(narrow)
                    .generate(
                            List.of(new long[] {5, 17, 42}, new long[] {7}),
                            new Sampler(0.9f, 0.95f, 3, 6, Set.of(), 1));
            assertThat(out)
                    .hasSize(2)
                    .allSatisfy(samples -> assertThat(samples)
                            .hasSize(3)
                            .allSatisfy(
                                    ids -> assertThat(LongStream.of(ids).boxed().toList())
                                            .hasSize(6)
                                            .allMatch(id -> id >= 0 && id < 300)));
        }
    }

    @Test
    void fp32AdaptersOnAnFp16BaseStartAsTheBase() {
        try (NDManager m = NDManager.newBaseManager();
                DjlTransformer model = DjlTransformer.random(TINY, m, false, true, 4)) {
            model.cast(DataType.FLOAT16);
            NDArray[] x = batch(m);
            float[] base = model.lmLogits(x[0], x[1]).toFloatArray();
            List<NDArray> adapters = model.addLora(LoraConfig.of(4, 8f), 1);
            assertThat(adapters).allMatch(a -> a.getDataType() == DataType.FLOAT32);
            assertThat(model.lmLogits(x[0], x[1]).toFloatArray()).containsExactly(base); // B = 0 at the start
        }
    }

    @Test
    void bf16IsRefusedBeforeItReachesTheNativeLibrary() {
        try (NDManager m = NDManager.newBaseManager();
                DjlTransformer model = DjlTransformer.random(TINY, m, false, true, 4)) {
            assertThatThrownBy(() -> model.cast(DataType.BFLOAT16))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("float32 or float16");
            assertThat(model.dataType()).isEqualTo(DataType.FLOAT32);
        }
    }
}
