package dev.duoguard.trainer.hf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.duoguard.runtime.onnx.Half;
import dev.duoguard.trainer.TinyCheckpoint;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class SafetensorsTest {

    @TempDir
    Path dir;

    static final Tensor A =
            new Tensor("a.weight", new long[] {2, 3}, new float[] {1f, -2.5f, 3.14159f, 1e-3f, 65504f, -0f});
    static final Tensor B = new Tensor("b.bias", new long[] {2}, new float[] {0.1f, -7f});

    @ParameterizedTest
    @EnumSource(DType.class)
    void roundTripsInEachDtype(DType dtype) throws IOException {
        Path f = dir.resolve("x.safetensors");
        Safetensors.write(f, List.of(A, B), dtype, Map.of("format", "pt"));
        Map<String, Tensor> back = Safetensors.read(f);
        assertThat(back.keySet()).containsExactly("a.weight", "b.bias");
        assertThat(back.get("a.weight").shape()).containsExactly(2, 3);
        float tolerance = switch (dtype) {
            case F32 -> 0f;
            case F16 -> 1e-3f;
            case BF16 -> 1f / 128;
        };
        for (int i = 0; i < A.data().length; i++) {
            float want = A.data()[i];
            assertThat(back.get("a.weight").data()[i]).isCloseTo(want, within(Math.abs(want) * tolerance + 1e-7f));
        }
    }

    @Test
    void halfPrecisionConversionsHandleTheEdges() {
        assertThat(Half.toFloat(Half.fromFloat(65504f))).isEqualTo(65504f);
        assertThat(Half.toFloat(Half.fromFloat(1e6f))).isInfinite();
        assertThat(Half.toFloat(Half.fromFloat(5.9604645e-8f))).isEqualTo(5.9604645e-8f); // smallest subnormal
        assertThat(Half.toFloat(Half.fromFloat(Float.NaN))).isNaN();
        assertThat(Float.intBitsToFloat(DType.floatToBf16(1.00390625f) << 16)).isEqualTo(1f); // tie rounds to even
    }

    @Test
    void readsAShardedCheckpoint() throws IOException {
        TransformerConfig c = TransformerConfig.parse(TinyCheckpoint.configJson(16, 1, 2, 1, 32, 64, true, false));
        Map<String, Tensor> weights = TinyCheckpoint.randomWeights(c, 1);
        TinyCheckpoint.write(
                dir, TinyCheckpoint.configJson(16, 1, 2, 1, 32, 64, true, false), weights, DType.F32, true);
        Map<String, Tensor> back = Safetensors.readCheckpoint(dir);
        assertThat(back.keySet()).containsExactlyInAnyOrderElementsOf(weights.keySet());
        assertThat(back.get("score.weight").data())
                .containsExactly(weights.get("score.weight").data());
    }

    @Test
    void writesShardedCheckpointsWithAnIndexLikeHuggingFace() throws IOException {
        TransformerConfig c = TransformerConfig.parse(TinyCheckpoint.configJson(16, 2, 2, 1, 32, 64, true, false));
        Map<String, Tensor> weights = TinyCheckpoint.randomWeights(c, 4);
        Safetensors.writeCheckpoint(dir.resolve("sharded"), weights, DType.BF16, 4096);
        assertThat(dir.resolve("sharded").resolve(Safetensors.INDEX_FILE)).exists();
        try (var files = Files.list(dir.resolve("sharded"))) {
            assertThat(files.map(f -> f.getFileName().toString())
                            .filter(n -> n.matches("model-\\d{5}-of-\\d{5}\\.safetensors"))
                            .count())
                    .isGreaterThanOrEqualTo(2);
        }
        Map<String, Tensor> back = Safetensors.readCheckpoint(dir.resolve("sharded"));
        assertThat(back.keySet()).containsExactlyInAnyOrderElementsOf(weights.keySet());
        Safetensors.writeCheckpoint(dir.resolve("single"), weights, DType.F32, Long.MAX_VALUE);
        assertThat(dir.resolve("single").resolve(Safetensors.SINGLE_FILE)).exists();
        assertThat(Safetensors.readCheckpoint(dir.resolve("single"))
                        .get("score.weight")
                        .data())
                .containsExactly(weights.get("score.weight").data());
    }

    @Test
    void badHeaderLengthIsRefused() throws IOException {
        Path f = dir.resolve("bad.safetensors");
        Files.write(
                f,
                ByteBuffer.allocate(16)
                        .order(ByteOrder.LITTLE_ENDIAN)
                        .putLong(1L << 40)
                        .array());
        assertThatThrownBy(() -> Safetensors.read(f)).hasMessageContaining("bad header length");
    }

    @Test
    void theInt64PositionIdsBufferOfOlderBertCheckpointsIsSkipped() throws IOException {
        Path f = raw(
                "{\"bert.embeddings.position_ids\":{\"dtype\":\"I64\",\"shape\":[1,2],\"data_offsets\":[0,16]},"
                        + "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[16,20]}}",
                20);
        assertThat(Safetensors.read(f)).containsOnlyKeys("w");
    }

    @Test
    void unknownDtypeIsRefusedWithTheTensorName() throws IOException {
        Path f = raw("{\"w\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2);
        assertThatThrownBy(() -> Safetensors.read(f))
                .hasMessageContaining("tensor w")
                .hasMessageContaining("'I8'");
    }

    @Test
    void offsetsThatDoNotMatchTheShapeAreRefused() throws IOException {
        Path f = raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8);
        assertThatThrownBy(() -> Safetensors.read(f))
                .hasMessageContaining("tensor w")
                .hasMessageContaining("needs 12 bytes");
        Path g = raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8);
        assertThatThrownBy(() -> Safetensors.read(g)).hasMessageContaining("outside the data section");
    }

    @Test
    void indexPointingToAMissingTensorIsRefused() throws IOException {
        Safetensors.write(dir.resolve("s1.safetensors"), List.of(A), DType.F32, Map.of());
        Files.writeString(
                dir.resolve(Safetensors.INDEX_FILE),
                "{\"weight_map\":{\"a.weight\":\"s1.safetensors\",\"b.bias\":\"s1.safetensors\"}}");
        assertThatThrownBy(() -> Safetensors.readCheckpoint(dir)).hasMessageContaining("b.bias");
    }

    @Test
    void missingOrMisshapenWeightsAreNamed() {
        TransformerConfig c = TransformerConfig.parse(TinyCheckpoint.configJson(16, 1, 2, 1, 32, 64, false, false));
        Map<String, Tensor> weights = new HashMap<>(TinyCheckpoint.randomWeights(c, 1));
        weights.remove("model.layers.0.mlp.up_proj.weight");
        assertThatThrownBy(() -> new Qwen2Weights(c, weights))
                .hasMessageContaining("model.layers.0.mlp.up_proj.weight")
                .hasMessageContaining("[32, 16]");
        weights.put(
                "model.layers.0.mlp.up_proj.weight",
                new Tensor("model.layers.0.mlp.up_proj.weight", new long[] {16, 32}, new float[512]));
        assertThatThrownBy(() -> new Qwen2Weights(c, weights))
                .hasMessageContaining("has shape [16, 32] but the config expects [32, 16]");
    }

    @Test
    void configIsValidatedWithTheKey() {
        var json = TinyCheckpoint.configJson(16, 1, 4, 2, 32, 64, false, false);
        json.put("num_key_value_heads", 3);
        assertThatThrownBy(() -> TransformerConfig.parse(json))
                .hasMessageContaining("num_key_value_heads (3) must divide");
        var noVocab = TinyCheckpoint.configJson(16, 1, 2, 1, 32, 64, false, false);
        noVocab.remove("vocab_size");
        assertThatThrownBy(() -> TransformerConfig.parse(noVocab)).hasMessageContaining("'vocab_size' is missing");
        var qwen = TinyCheckpoint.configJson(16, 1, 2, 1, 32, 64, false, false);
        qwen.remove("attention_bias");
        assertThat(TransformerConfig.parse(qwen).attentionBias())
                .as("Qwen2 has q/k/v biases by default")
                .isTrue();
    }

    private Path raw(String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Path f = dir.resolve("raw.safetensors");
        Files.write(f, b.array());
        return f;
    }
}
