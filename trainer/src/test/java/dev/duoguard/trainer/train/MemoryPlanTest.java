package dev.duoguard.trainer.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.duoguard.trainer.engine.DjlTransformer;
import dev.duoguard.trainer.engine.LoraConfig;
import dev.duoguard.trainer.hf.TransformerConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MemoryPlanTest {

    /** Qwen2.5-0.5B's published config.json (the fields the decoder reads). */
    static final String QWEN_05B = """
            {"model_type": "qwen2", "hidden_size": 896, "num_hidden_layers": 24, "num_attention_heads": 14,
             "num_key_value_heads": 2, "intermediate_size": 4864, "vocab_size": 151936, "tie_word_embeddings": true,
             "max_position_embeddings": 32768, "rope_theta": 1000000.0, "rms_norm_eps": 1e-06, "hidden_act": "silu"}
            """;

    static Path qwen05b(Path dir) throws IOException {
        Files.writeString(dir.resolve("config.json"), QWEN_05B);
        return dir;
    }

    @Test
    void qwen05bHasItsPublished494MillionParameters(@TempDir Path dir) throws IOException {
        TransformerConfig c = TransformerConfig.read(qwen05b(dir).resolve("config.json"));
        // embedding 151,936 x 896 = 136,134,656; per layer q 896x896 + 896, k and v 128x896 + 128 each,
        // o 896x896, two norms of 896, MLP 3 x 4,864 x 896 = 14,912,384; x 24 = 357,897,216; final norm 896
        assertThat(new MemoryPlan.Decoder(c, false, true).parameters()).isEqualTo(494_032_768L);
        // the guardrail adds a bias-free 12 x 896 score head
        assertThat(MemoryPlan.classifier(dir, TrainPreset.of("tiny")).parameters())
                .isEqualTo(494_032_768L + 10_752);
    }

    @Test
    void fineTuningQwen05bAt8x512MatchesTheHandCount(@TempDir Path dir) throws IOException {
        MemoryPlan plan =
                MemoryPlan.classifierTraining(MemoryPlan.classifier(qwen05b(dir), TrainPreset.of("tiny")), 8, 512);
        long params = 494_043_520L;
        // per layer, in values, B T = 4,096 rows x tokens: 10 BTD (20 x 896 halves) + 10.5 BT Hq Dh (21 x 896) +
        // 8.5 BT Hkv Dh (17 x 128) + 5 BTI (10 x 4,864) + 4 B H T^2 (8 x 14 x 512 per BT) = 144,896 halves per BT
        long perLayer = 4_096L * 144_896 / 2; // 296,747,008
        long outside = 4_096L * 4 * 896 + 8L * 512 * 512; // embedding + final norm, the attention bias
        long activations = 4 * (25 * perLayer + outside); // 24 layers + the backward's one, fp32
        assertThat(activations).isEqualTo(29_741_809_664L);
        assertThat(plan.lines())
                .extracting(MemoryPlan.Line::bytes)
                .containsExactly(4 * params, 4 * params, 8 * params, activations);
        assertThat(plan.total()).isEqualTo(16 * params + activations);
        assertThat(MemoryPlan.human(plan.total())).isEqualTo("35.06 GiB");
    }

    @Test
    void theAttentionScoresGrowWithTheSquareOfTheLength(@TempDir Path dir) throws IOException {
        MemoryPlan.Net net = MemoryPlan.classifier(qwen05b(dir), TrainPreset.of("tiny"));
        long at1k = net.activationValues(1, 1024);
        long at2k = net.activationValues(1, 2048);
        // doubling T doubles every (B, T, .) array and quadruples the 4 B H T^2 scores of each of the 25 layers
        long scoresAt1k = 25L * 4 * 14 * 1024 * 1024;
        assertThat(at2k - 2 * at1k).isEqualTo(2 * scoresAt1k + (2048L * 2048 - 2 * 1024 * 1024));
    }

    @Test
    void parameterAndAdapterCountsAgreeWithTheEngine() {
        TransformerConfig c = TransformerConfig.preset("tiny", 300, 12, 0);
        LoraConfig lora = new LoraConfig(4, 8f, 0f, List.of("q_proj", "v_proj", "down_proj"));
        try (NDManager m = NDManager.newBaseManager();
                DjlTransformer model = DjlTransformer.random(c, m, true, false, 1)) {
            long weights = model.parameterArrays().stream()
                    .mapToLong(a -> a.getShape().size())
                    .sum();
            assertThat(new MemoryPlan.Decoder(c, true, false).parameters()).isEqualTo(weights);
            long adapters =
                    model.addLora(lora, 1).stream().mapToLong(NDArray::size).sum();
            assertThat(MemoryPlan.loraParameters(c, lora)).isEqualTo(adapters);
        }
    }

    @Test
    void theLoopCountsOnlyItsLargestPhase(@TempDir Path dir) throws IOException {
        TransformerConfig g = TransformerConfig.read(qwen05b(dir).resolve("config.json"));
        LoraConfig lora = LoraConfig.of(16, 32f);
        long adapters = MemoryPlan.loraParameters(g, lora);
        assertThat(adapters).isEqualTo(24L * 16 * ((896 + 896) + (896 + 128))); // q_proj and v_proj
        MemoryPlan.Net classifier = MemoryPlan.classifier(TrainPreset.of("tiny"));
        MemoryPlan plan = MemoryPlan.loop(g, adapters, g, 64, 512, 256, 16, classifier, 32, 64);
        long weights = 4 * 494_032_768L;
        long dpo = 4L * 4 * new MemoryPlan.Decoder(g, false, true).activationValues(16, 768);
        // the DPO step at 2 x 16 rows of 768 tokens is the largest phase here
        assertThat(plan.lines().stream().filter(MemoryPlan.Line::phase).mapToLong(MemoryPlan.Line::bytes))
                .contains(dpo)
                .allMatch(b -> b <= dpo);
        assertThat(plan.total()).isEqualTo(weights + 16 * adapters + weights + dpo);
    }

    @Test
    void aRunThatDoesNotFitIsRefusedWithBothFigures(@TempDir Path dir) throws IOException {
        MemoryPlan plan =
                MemoryPlan.classifierTraining(MemoryPlan.classifier(qwen05b(dir), TrainPreset.of("tiny")), 8, 512);
        plan.check(new MemoryPlan.Available(plan.total(), "exactly enough"));
        assertThatThrownBy(() -> plan.check(new MemoryPlan.Available(plan.total() - 1, "the test's device")))
                .isInstanceOf(MemoryPlan.DoesNotFit.class)
                .hasMessage("the run needs about 35.06 GiB but the test's device has 35.06 GiB");
    }

    @Test
    void theAvailableMemoryCanBeNamedForTestsAndPlanning() {
        System.setProperty(MemoryPlan.AVAILABLE_PROPERTY, "123456789");
        try {
            assertThat(MemoryPlan.available().bytes()).isEqualTo(123_456_789L);
        } finally {
            System.clearProperty(MemoryPlan.AVAILABLE_PROPERTY);
        }
        MemoryPlan.Available measured = MemoryPlan.available();
        assertThat(measured.bytes()).isPositive();
        assertThat(measured.source()).containsAnyOf("host memory", "gpu");
    }
}
