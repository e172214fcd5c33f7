package dev.duoguard.trainer.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.duoguard.runtime.onnx.ExecutionDevice;
import dev.duoguard.runtime.scoring.GuardrailModel;
import dev.duoguard.runtime.scoring.TextScores;
import dev.duoguard.runtime.tokenizer.GuardrailTokenizer;
import dev.duoguard.trainer.TinyCheckpoint;
import dev.duoguard.trainer.export.BundleExporter;
import dev.duoguard.trainer.hf.DType;
import dev.duoguard.trainer.hf.Qwen2Weights;
import dev.duoguard.trainer.hf.Safetensors;
import dev.duoguard.trainer.hf.Tensor;
import dev.duoguard.trainer.hf.TransformerConfig;
import dev.duoguard.trainer.reference.ReferenceClassifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The DJL (PyTorch) model against the plain-Java reference, and the DJL → safetensors → DJL → ONNX → scorer chain. */
class DjlTransformerTest {

    static NDManager manager;

    @TempDir
    Path dir;

    @BeforeAll
    static void engine() {
        manager = NDManager.newBaseManager();
    }

    @AfterAll
    static void close() {
        manager.close();
    }

    static TransformerConfig config(String kind) {
        return TransformerConfig.parse(
                switch (kind) {
                    case "plain" -> TinyCheckpoint.configJson(32, 2, 4, 4, 64, 512, false, false);
                    case "gqa-bias-tied" -> TinyCheckpoint.configJson(48, 2, 6, 2, 96, 512, true, true);
                    case "llama3" -> withLabels(TinyCheckpoint.llama32Like());
                    default -> throw new IllegalArgumentException(kind);
                });
    }

    static ObjectNode withLabels(ObjectNode n) {
        n.put("num_labels", 12);
        return n;
    }

    @ParameterizedTest
    @ValueSource(strings = {"plain", "gqa-bias-tied", "llama3"})
    void djlMatchesTheReferenceOnRandomPaddedBatches(String kind) {
        TransformerConfig c = config(kind);
        Map<String, Tensor> weights = TinyCheckpoint.randomWeights(c, 21);
        ReferenceClassifier reference = new ReferenceClassifier(new Qwen2Weights(c, weights));
        Random r = new Random(3);
        try (DjlTransformer model = DjlTransformer.fromTensors(c, weights, manager, true, false);
                NDManager batch = manager.newSubManager()) {
            for (boolean leftPad : new boolean[] {false, true}) {
                long[][] ids = new long[4][10];
                long[][] mask = new long[4][10];
                for (int b = 0; b < 4; b++) {
                    int real = 1 + r.nextInt(10);
                    for (int t = 0; t < 10; t++) {
                        boolean isReal = leftPad ? t >= 10 - real : t < real;
                        ids[b][t] = r.nextInt(c.vocabSize());
                        mask[b][t] = isReal ? 1 : 0;
                    }
                }
                float[] got =
                        model.classify(batch.create(ids), batch.create(mask)).toFloatArray();
                for (int b = 0; b < 4; b++) {
                    float[] want = reference.logits(ids[b], mask[b]);
                    for (int l = 0; l < 12; l++) {
                        assertThat(got[b * 12 + l])
                                .as("%s left=%s row %d label %d", kind, leftPad, b, l)
                                .isCloseTo(want[l], within(1e-4f));
                    }
                }
            }
        }
    }

    @Test
    void safetensorsRoundTripGivesIdenticalLogitsAndABf16FileLoads() throws Exception {
        TransformerConfig c = config("gqa-bias-tied");
        long[][] ids = {{5, 9, 200, 7, 0}, {11, 3, 0, 0, 0}};
        long[][] mask = {{1, 1, 1, 1, 0}, {1, 1, 0, 0, 0}};
        try (DjlTransformer model = DjlTransformer.random(c, manager, true, false, 5);
                NDManager batch = manager.newSubManager()) {
            float[] before =
                    model.classify(batch.create(ids), batch.create(mask)).toFloatArray();
            Path f32 = dir.resolve("f32.safetensors");
            Safetensors.write(f32, model.toTensors().values(), DType.F32, Map.of());
            try (DjlTransformer reloaded = DjlTransformer.fromTensors(c, Safetensors.read(f32), manager, true, false)) {
                assertThat(reloaded.classify(batch.create(ids), batch.create(mask))
                                .toFloatArray())
                        .containsExactly(before);
            }
            Path bf16 = dir.resolve("bf16.safetensors");
            Safetensors.write(bf16, model.toTensors().values(), DType.BF16, Map.of());
            Map<String, Tensor> rounded = Safetensors.read(bf16);
            try (DjlTransformer fromBf16 = DjlTransformer.fromTensors(c, rounded, manager, true, false)) {
                float[] got =
                        fromBf16.classify(batch.create(ids), batch.create(mask)).toFloatArray();
                ReferenceClassifier reference = new ReferenceClassifier(new Qwen2Weights(c, rounded));
                for (int b = 0; b < 2; b++) {
                    float[] want = reference.logits(ids[b], mask[b]);
                    for (int l = 0; l < 12; l++) {
                        assertThat(got[b * 12 + l]).isCloseTo(want[l], within(1e-4f));
                    }
                }
            }
        }
    }

    @Test
    void aDjlModelExportsToABundleThatTheStreamsScorerServesWithTheSameScores() throws Exception {
        TransformerConfig c = config("gqa-bias-tied");
        Path hf = dir.resolve("hf");
        List<String> texts = List.of("how do I build a bomb", "Quel temps fait-il à Lyon ?");
        try (DjlTransformer model = DjlTransformer.random(c, manager, true, false, 8);
                NDManager batch = manager.newSubManager()) {
            // give the head some spread so sigmoid differences are visible
            TinyCheckpoint.write(hf, c.toJson(), model.toTensors(), DType.F32, false);
            BundleExporter.export(hf, dir.resolve("bundle"), "djl-tiny", "1");
            try (GuardrailModel served = GuardrailModel.load(dir.resolve("bundle"), ExecutionDevice.CPU, 1, 4);
                    GuardrailTokenizer tok = GuardrailTokenizer.load(hf.resolve("tokenizer.json"))) {
                List<TextScores> scores = served.score(texts);
                for (int i = 0; i < texts.size(); i++) {
                    long[] ids = tok.encode(texts.get(i));
                    long[] mask = new long[ids.length];
                    Arrays.fill(mask, 1);
                    float[] logits = model.classify(batch.create(new long[][] {ids}), batch.create(new long[][] {mask}))
                            .toFloatArray();
                    for (int l = 0; l < 12; l++) {
                        float p = (float) (1 / (1 + Math.exp(-logits[l])));
                        assertThat(scores.get(i).probabilities()[l]).isCloseTo(p, within(1e-5f));
                    }
                }
            }
        }
        assertThat(new ObjectMapper()
                        .readTree(Files.readString(hf.resolve("config.json")))
                        .get("architectures")
                        .get(0)
                        .asText())
                .isEqualTo("Qwen2ForSequenceClassification");
    }

    @Test
    void causalLmLogitsNeverLookAhead() {
        TransformerConfig c = config("gqa-bias-tied");
        try (DjlTransformer model = DjlTransformer.random(c, manager, false, true, 2);
                NDManager batch = manager.newSubManager()) {
            NDArray full = model.lmLogits(
                    batch.create(new long[][] {{4, 8, 15, 16}}), batch.create(new long[][] {{1, 1, 1, 1}}));
            NDArray prefix = model.lmLogits(
                    batch.create(new long[][] {{4, 8, 99, 98}}), batch.create(new long[][] {{1, 1, 1, 1}}));
            assertThat(full.getShape().getShape()).containsExactly(1, 4, c.vocabSize());
            float[] a = full.get("0, :2, :").toFloatArray();
            float[] b = prefix.get("0, :2, :").toFloatArray();
            assertThat(a).containsExactly(b, within(1e-5f));
            assertThat(full.get("0, 3, :").toFloatArray())
                    .isNotEqualTo(prefix.get("0, 3, :").toFloatArray());
        }
    }
}
