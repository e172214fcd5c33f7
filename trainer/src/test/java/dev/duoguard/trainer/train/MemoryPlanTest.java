package dev.duoguard.trainer.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.tuple;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
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

    /**
     * Fine-tuning Qwen2.5-0.5B as the classifier at the paper's 2048 tokens, 4 rows, with activation checkpointing:
     * the inputs of the 24 layers and the top's output, then one layer recomputed and its backward (no LM head).
     */
    @Test
    void fineTuningQwen05bAt4x2048WithCheckpointingHoldsLayerInputsAndOneLayer(@TempDir Path dir) throws IOException {
        MemoryPlan.Net net = MemoryPlan.classifier(qwen05b(dir), TrainPreset.of("tiny"));
        MemoryPlan plan = MemoryPlan.classifierTraining(net, 4, 2048, true);
        long params = 494_043_520L;
        // BT = 8,192; 25 arrays of BT x 896 and the bias 4 x 2048^2, at 4 B
        long inputs = 4 * (25 * 8_192L * 896 + 4L * 2048 * 2048);
        // per layer at T 2048: 20 x 896 + 21 x 896 + 17 x 128 + 10 x 4,864 + 8 x 14 x 2,048 = 316,928 halves per
        // BT; two layers, + the embedding and final norm 4 BTD and the bias, at 4 B
        long layers = 4 * (2 * (8_192L * 316_928 / 2) + 8_192L * 4 * 896 + 4L * 2048 * 2048);
        long activations = inputs + layers;
        assertThat(activations).isEqualTo(11_370_758_144L);
        assertThat(plan.lines())
                .extracting(MemoryPlan.Line::bytes)
                .containsExactly(4 * params, 4 * params, 8 * params, activations);
        assertThat(plan.lines().get(3).detail()).isEqualTo("4 rows x 2048 tokens, activation checkpointing");
        assertThat(MemoryPlan.human(activations)).isEqualTo("10.59 GiB");
        long plain = 4 * net.activationValues(4, 2048);
        assertThat(MemoryPlan.human(plain)).as("without checkpointing").isEqualTo("121.07 GiB");
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
        MemoryPlan plan = MemoryPlan.loop(g, adapters, DataType.FLOAT32, g, 64, 512, 256, 16, 0, classifier, 32, 64);
        long weights = 4 * 494_032_768L;
        // sampling: the prefill of 64 x 512 holds one layer at a time: 32,768 BT x 144,896 halves / 2 (as in the
        // fine-tuning count) + the embedding, final norm and bias 32,768 x 4 x 896 + 64 x 512^2 + the last
        // position's logits and the sampler's copy 2 x 64 x 151,936; the KV cache 2 x 24 layers x 64 rows x 2 KV
        // heads x 768 x 64 = 301,989,888 values, twice while a step concatenates
        long prefill = 2_373_976_064L + 134_217_728L + 19_447_808L;
        long sampling = 4 * (prefill + 2 * 301_989_888L);
        assertThat(sampling).isEqualTo(12_526_485_504L); // 11.67 GiB; 260.94 GiB with every layer's held
        // DPO: the policy's chosen and rejected forwards of 16 x 768 (BT 12,288); per layer 20 x 896 + 21 x 896 +
        // 17 x 128 + 10 x 4,864 + 8 x 14 x 768 = 173,568 halves per BT; the reference, freed first, no longer counts
        long perLayer = 12_288L * 173_568 / 2; // 1,066,401,792
        long outside = 12_288L * 4 * 896 + 16L * 768 * 768;
        long head = 2 * 12_288L * 151_936; // full-vocabulary logits and their log-softmax
        long dpo = 4 * 2 * (25 * perLayer + outside + head);
        assertThat(dpo).isEqualTo(243_580_010_496L); // 226.85 GiB; 453.70 GiB with the reference's two forwards
        assertThat(plan.lines())
                .filteredOn(MemoryPlan.Line::phase)
                .extracting(MemoryPlan.Line::bytes)
                .startsWith(sampling, dpo)
                .allMatch(b -> b <= dpo);
        assertThat(plan.total()).isEqualTo(weights + 16 * adapters + weights + dpo);
        assertThat(MemoryPlan.human(plan.total())).isEqualTo("230.55 GiB");
    }

    /** Qwen2.5-1.5B-Instruct's published config.json (the fields the decoder reads). */
    static final String QWEN_15B = """
            {"model_type": "qwen2", "hidden_size": 1536, "num_hidden_layers": 28, "num_attention_heads": 12,
             "num_key_value_heads": 2, "intermediate_size": 8960, "vocab_size": 151936, "tie_word_embeddings": true,
             "max_position_embeddings": 32768, "rope_theta": 1000000.0, "rms_norm_eps": 1e-06, "hidden_act": "silu"}
            """;

    @Test
    void theLoopWithA15bGeneratorAt512PromptTokensMatchesTheHandCount(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("config.json"), QWEN_15B);
        TransformerConfig g = TransformerConfig.read(dir.resolve("config.json"));
        long params = new MemoryPlan.Decoder(g, false, true).parameters();
        // embedding 151,936 x 1,536 = 233,373,696; per layer q 1,536^2 + 1,536, k and v 256 x 1,536 + 256 each,
        // o 1,536^2, two norms, MLP 3 x 8,960 x 1,536 = 46,797,824; x 28 = 1,310,339,072; final norm 1,536
        assertThat(params).isEqualTo(1_543_714_304L);
        long adapters = MemoryPlan.loraParameters(g, LoraConfig.of(16, 32f));
        assertThat(adapters).isEqualTo(28L * 16 * ((1536 + 1536) + (1536 + 256)));
        // the loop's defaults with a chat template: 512 prompt tokens, 48 new, 8 x 8 rows, 16 DPO pairs, the judge
        // its own copy of the generator
        MemoryPlan plan = MemoryPlan.loop(
                g,
                adapters,
                DataType.FLOAT32,
                g,
                64,
                512,
                48,
                16,
                0,
                MemoryPlan.classifier(TrainPreset.of("tiny")),
                32,
                64);
        // sampling: one layer of 64 x 512 (BT 32,768): 20 x 1,536 + 21 x 1,536 + 17 x 256 + 10 x 8,960 + 8 x 12 x
        // 512 = 206,080 halves per BT; + 32,768 x 4 x 1,536 + 64 x 512^2; + 2 x 64 x 151,936; KV cache 2 x 28 x 64
        // x 2 x 560 x 128 = 513,802,240 values, twice
        long prefill = 32_768L * 206_080 / 2 + (32_768L * 4 * 1536 + 64L * 512 * 512) + 2 * 64L * 151_936;
        long sampling = 4 * (prefill + 2 * 513_802_240L);
        assertThat(MemoryPlan.human(sampling)).isEqualTo("17.29 GiB"); // was 406.50 GiB
        // DPO: 2 forwards of 16 x 560 (BT 8,960): 210,688 halves per BT and layer, 29 layers with the backward's
        long perLayer = 8_960L * 210_688 / 2;
        long dpo = 4 * 2 * (29 * perLayer + (8_960L * 4 * 1536 + 16L * 560 * 560) + 2 * 8_960L * 151_936);
        assertThat(MemoryPlan.human(dpo)).isEqualTo("224.67 GiB"); // was 449.35 GiB with the reference's forwards
        assertThat(plan.lines())
                .filteredOn(MemoryPlan.Line::phase)
                .extracting(MemoryPlan.Line::bytes)
                .startsWith(sampling, dpo);
        assertThat(plan.total()).isEqualTo(4 * params + 16 * adapters + 4 * params + dpo);
        // still more than an H200's 141 GB: the policy's two forwards keep every layer's temporaries for backward
        assertThat(MemoryPlan.human(plan.total())).isEqualTo("236.21 GiB"); // was 460.88 GiB
    }

    @Test
    void float16FrozenWeightsAndTheirForwardTakeTwoBytesWhileAdaptersAndLogitsStayFp32(@TempDir Path dir)
            throws IOException {
        Files.writeString(dir.resolve("config.json"), QWEN_15B);
        TransformerConfig g = TransformerConfig.read(dir.resolve("config.json"));
        long params = 1_543_714_304L;
        long adapters = 28L * 16 * ((1536 + 1536) + (1536 + 256));
        MemoryPlan plan = MemoryPlan.loop(
                g,
                adapters,
                DataType.FLOAT16,
                g,
                64,
                512,
                48,
                16,
                0,
                MemoryPlan.classifier(TrainPreset.of("tiny")),
                32,
                64);
        // sampling, as in the fp32 count but 2 bytes a value: one layer of 64 x 512 (BT 32,768) at 206,080 halves
        // per BT + the embedding and final norm 32,768 x 4 x 1,536; the attention bias 64 x 512^2 made in fp32 and
        // cast (4 + 2 B); the last position's fp16 product, its fp32 logits and the sampler's copy 64 x 151,936 x
        // (2 + 4 + 4 B); the KV cache 513,802,240 values, twice, at 2 B; and what computes in fp32: the layer's two
        // norms and the final one 10 B more per value (3 x 32,768 x 1,536), the softmax 4 B more per score (64 x 12
        // x 512^2)
        long sampling = 2 * (32_768L * 206_080 / 2 + 32_768L * 4 * 1536)
                + 6 * 64L * 512 * 512
                + 10 * 64L * 151_936
                + 2 * 2 * 513_802_240L
                + 10 * 3 * 32_768L * 1536
                + 4 * 64L * 12 * 512 * 512;
        assertThat(sampling).isEqualTo(11_723_849_728L);
        assertThat(MemoryPlan.human(sampling)).isEqualTo("10.92 GiB"); // 17.29 GiB in fp32
        // DPO: 2 forwards of 16 x 560 (BT 8,960): 29 layers of 210,688 halves per BT + 8,960 x 4 x 1,536 at 2 B;
        // the bias 16 x 560^2 at 4 + 2 B; the head's fp16 product, fp32 logits and log-softmax 8,960 x 151,936 x
        // (2 + 4 + 4 B)
        // (2 + 4 + 4 B); the fp32 norms (2 x 29 + 1 of 8,960 x 1,536 values) and softmax (29 x 16 x 12 x 560^2)
        long forward = 2 * (29 * (8_960L * 210_688 / 2) + 8_960L * 4 * 1536)
                + 6 * 16L * 560 * 560
                + 10 * 8_960L * 151_936
                + 10 * 59 * 8_960L * 1536
                + 4 * 29 * 16L * 12 * 560 * 560;
        long dpo = 2 * forward;
        assertThat(dpo).isEqualTo(167_206_502_400L);
        assertThat(MemoryPlan.human(dpo)).isEqualTo("155.72 GiB"); // 224.67 GiB in fp32
        assertThat(plan.lines())
                .filteredOn(MemoryPlan.Line::phase)
                .extracting(MemoryPlan.Line::bytes)
                .startsWith(sampling, dpo);
        // the generator's base and the judge at 2 bytes a weight; adapters, their gradients and moments fp32
        assertThat(plan.lines())
                .filteredOn(l -> !l.phase())
                .extracting(MemoryPlan.Line::component, MemoryPlan.Line::bytes)
                .containsExactly(
                        tuple("generator weights", 2 * params),
                        tuple("LoRA adapters + grads + AdamW", 16 * adapters),
                        tuple("judge weights", 2 * params));
        assertThat(plan.total()).isEqualTo(2 * params + 16 * adapters + 2 * params + dpo);
        assertThat(MemoryPlan.human(plan.total())).isEqualTo("161.51 GiB"); // 236.21 GiB in fp32
        // every line says the type it counts
        assertThat(plan.lines())
                .filteredOn(
                        l -> !l.component().startsWith("LoRA") && !l.component().startsWith("classifier"))
                .extracting(MemoryPlan.Line::detail)
                .containsExactly(
                        "1543.7M x 2 B, float16",
                        "its own copy, 1543.7M x 2 B, float16",
                        "64 rows: prefill of 512 tokens (one layer at a time) + KV cache of 560 (x2 at concat); "
                                + "float16, logits float32",
                        "2 forwards of 16 rows x 560 tokens (policy, chosen + rejected; reference freed before); "
                                + "float16, logits float32");
        assertThat(plan.lines())
                .filteredOn(l -> l.component().startsWith("LoRA"))
                .extracting(MemoryPlan.Line::detail)
                .containsExactly("4 x 2.2M x 4 B; reference = adapters off");
        // the control without DPO (--no-dpo) plans no DPO phase; the judge on the base
        MemoryPlan noDpo = MemoryPlan.loop(
                g,
                adapters,
                DataType.FLOAT16,
                null,
                64,
                512,
                48,
                0,
                0,
                MemoryPlan.classifier(TrainPreset.of("tiny")),
                32,
                64);
        assertThat(noDpo.lines())
                .extracting(MemoryPlan.Line::component)
                .doesNotContain("DPO activations", "judge weights");
        assertThat(noDpo.total()).isEqualTo(2 * params + 16 * adapters + sampling);
    }

    /**
     * With activation checkpointing the DPO phase holds each side's layer inputs, one layer recomputed (and its
     * backward), and one chunk of the LM head: the 1.5B loop's DPO phase falls from 224.67 GiB to 11.85 GiB.
     */
    @Test
    void activationCheckpointingHoldsLayerInputsOneLayerAndOneHeadChunk(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("config.json"), QWEN_15B);
        TransformerConfig g = TransformerConfig.read(dir.resolve("config.json"));
        long adapters = 28L * 16 * ((1536 + 1536) + (1536 + 256));
        MemoryPlan plan = MemoryPlan.loop(
                g,
                adapters,
                DataType.FLOAT32,
                g,
                64,
                512,
                48,
                16,
                1L << 26,
                MemoryPlan.classifier(TrainPreset.of("tiny")),
                32,
                64);
        // 16 x 560 (BT 8,960), D 1,536, 28 layers. Per side: 29 arrays of BT x D and the bias 16 x 560^2, at 4 B.
        long inputs = 4 * (29 * 8_960L * 1536 + 16L * 560 * 560);
        // one side's layer recomputed and its backward: 2 layers of 210,688 halves per BT, + the embedding and norm
        // arrays 8,960 x 4 x 1,536 and the bias, at 4 B
        long layer = 4 * (2 * (8_960L * 210_688 / 2) + 8_960L * 4 * 1536 + 16L * 560 * 560);
        // the head: a row is 560 x 151,936 = 85,084,160 logits, more than 2^26, so one row at a time: in its
        // backward the logits, log-softmax, the gather's and the slice's zero-filled gradients and the log-softmax's
        // gradient, at 4 B
        long head = 20 * 560L * 151_936;
        long dpo = 2 * inputs + layer + head;
        assertThat(dpo).isEqualTo(12_726_067_200L);
        assertThat(plan.lines())
                .filteredOn(l -> l.component().equals("DPO activations"))
                .singleElement()
                .satisfies(l -> {
                    assertThat(l.bytes()).isEqualTo(dpo);
                    assertThat(MemoryPlan.human(l.bytes())).isEqualTo("11.85 GiB"); // 224.67 GiB without
                    assertThat(l.detail()).startsWith("activation checkpointing: 16 rows x 560 tokens x 2");
                });
        // sampling (17.29 GiB, as counted above) is now the largest phase: 236.21 GiB without checkpointing
        assertThat(MemoryPlan.human(plan.total())).isEqualTo("28.83 GiB");
    }

    @Test
    void float16WeightsAreRefusedForAGeneratorTrainedInFull(@TempDir Path dir) throws IOException {
        TransformerConfig g = TransformerConfig.read(qwen05b(dir).resolve("config.json"));
        MemoryPlan.Net classifier = MemoryPlan.classifier(TrainPreset.of("tiny"));
        assertThatThrownBy(() -> MemoryPlan.loop(g, 0, DataType.FLOAT16, null, 64, 512, 48, 16, 0, classifier, 32, 64))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("frozen weights are float32, or float16 under LoRA adapters; not float16 with full DPO");
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
