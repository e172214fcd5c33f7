package dev.duoguard.trainer.export;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.duoguard.runtime.onnx.ExecutionDevice;
import dev.duoguard.runtime.onnx.OnnxClassifier;
import dev.duoguard.runtime.scoring.GuardrailModel;
import dev.duoguard.runtime.scoring.TextScores;
import dev.duoguard.runtime.tokenizer.GuardrailTokenizer;
import dev.duoguard.trainer.TinyCheckpoint;
import dev.duoguard.trainer.hf.DType;
import dev.duoguard.trainer.hf.Qwen2Weights;
import dev.duoguard.trainer.hf.Safetensors;
import dev.duoguard.trainer.hf.Tensor;
import dev.duoguard.trainer.hf.TransformerConfig;
import dev.duoguard.trainer.reference.ReferenceClassifier;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Hugging Face checkpoint → ONNX bundle → ONNX Runtime must compute what the plain-Java reference computes, for a
 * plain config and for one with grouped-query attention, q/k/v biases and tied embeddings.
 */
class ExportParityTest {

    @TempDir
    Path dir;

    static ObjectNode config(String kind) {
        return switch (kind) {
            case "plain" -> TinyCheckpoint.configJson(32, 2, 4, 4, 64, 512, false, false);
            case "gqa-bias-tied" -> TinyCheckpoint.configJson(48, 2, 6, 2, 96, 512, true, true);
            case "llama3" -> TinyCheckpoint.llama32Like().put("num_labels", 12);
            default -> throw new IllegalArgumentException(kind);
        };
    }

    @ParameterizedTest
    @ValueSource(strings = {"plain", "gqa-bias-tied", "llama3"})
    void onnxRuntimeMatchesTheReferenceOnRandomPaddedBatches(String kind) throws Exception {
        ObjectNode json = config(kind);
        TransformerConfig c = TransformerConfig.parse(json);
        Map<String, Tensor> weights = TinyCheckpoint.randomWeights(c, 7);
        Path hf = dir.resolve("hf");
        TinyCheckpoint.write(hf, json, weights, DType.F32, false);
        Path bundle = dir.resolve("bundle");
        BundleExporter.export(hf, bundle, "tiny-" + kind, "1");

        ReferenceClassifier reference = new ReferenceClassifier(new Qwen2Weights(c, Safetensors.readCheckpoint(hf)));
        Random r = new Random(11);
        try (OnnxClassifier ort = new OnnxClassifier(bundle.resolve("model.onnx"), 12, ExecutionDevice.CPU, 1)) {
            for (int trial = 0; trial < 3; trial++) {
                int batch = 4;
                int len = 3 + r.nextInt(12);
                long[][] ids = new long[batch][len];
                long[][] mask = new long[batch][len];
                for (int b = 0; b < batch; b++) {
                    int real = 1 + r.nextInt(len);
                    for (int t = 0; t < len; t++) {
                        ids[b][t] = t < real
                                ? 1 + r.nextInt(c.vocabSize() - 1)
                                : r.nextInt(c.vocabSize()); // junk under padding
                        mask[b][t] = t < real ? 1 : 0;
                    }
                }
                float[][] got = ort.logits(ids, mask);
                for (int b = 0; b < batch; b++) {
                    float[] want = reference.logits(ids[b], mask[b]);
                    for (int l = 0; l < 12; l++) {
                        assertThat(Math.abs(got[b][l] - want[l]))
                                .as("%s trial %d row %d label %d", kind, trial, b, l)
                                .isLessThan(1e-4f);
                    }
                }
            }

            // left and right padding classify the same text the same way
            long[] text = {5, 17, 42, 99, 7};
            long[][] right = {{5, 17, 42, 99, 7, 0, 0}};
            long[][] rightMask = {{1, 1, 1, 1, 1, 0, 0}};
            long[][] left = {{0, 0, 5, 17, 42, 99, 7}};
            long[][] leftMask = {{0, 0, 1, 1, 1, 1, 1}};
            float[] unpadded = ort.logits(new long[][] {text}, new long[][] {{1, 1, 1, 1, 1}})[0];
            float[] r1 = ort.logits(right, rightMask)[0];
            float[] l1 = ort.logits(left, leftMask)[0];
            for (int l = 0; l < 12; l++) {
                assertThat(r1[l]).isCloseTo(unpadded[l], Offset.offset(1e-5f));
                assertThat(l1[l]).isCloseTo(unpadded[l], Offset.offset(1e-5f));
            }
        }
    }

    @Test
    void fp16WeightsHalveTheBundleAndStayCloseToTheReference() throws Exception {
        ObjectNode json = config("gqa-bias-tied");
        TransformerConfig c = TransformerConfig.parse(json);
        Map<String, Tensor> weights = TinyCheckpoint.randomWeights(c, 13);
        Path hf = dir.resolve("hf");
        TinyCheckpoint.write(hf, json, weights, DType.F32, false);
        BundleExporter.export(hf, dir.resolve("fp32"), "t", "1", false);
        BundleExporter.export(hf, dir.resolve("fp16"), "t", "1", true);
        long fp32 = bytes(dir.resolve("fp32"));
        long fp16 = bytes(dir.resolve("fp16"));
        // weight matrices halve; norms, biases and the rotary tables stay fp32 (a large share only in a toy model)
        assertThat(fp16).isLessThan(fp32 * 65 / 100);

        ReferenceClassifier reference = new ReferenceClassifier(new Qwen2Weights(c, weights));
        long[][] ids = {{5, 17, 42, 99, 7, 0}, {300, 12, 0, 0, 0, 0}};
        long[][] mask = {{1, 1, 1, 1, 1, 0}, {1, 1, 0, 0, 0, 0}};
        try (OnnxClassifier ort =
                new OnnxClassifier(dir.resolve("fp16").resolve("model.onnx"), 12, ExecutionDevice.CPU, 1)) {
            float[][] got = ort.logits(ids, mask);
            for (int b = 0; b < 2; b++) {
                float[] want = reference.logits(ids[b], mask[b]);
                for (int l = 0; l < 12; l++) {
                    assertThat(got[b][l]).isCloseTo(want[l], Offset.offset(2e-2f));
                }
            }
        }
    }

    static long bytes(Path bundle) throws IOException {
        return Files.size(bundle.resolve("model.onnx")) + Files.size(bundle.resolve(OnnxClassifierExporter.DATA_FILE));
    }

    @ParameterizedTest
    @ValueSource(strings = {"BF16", "F16"})
    void aHalfPrecisionShardedCheckpointExportsAndTheStreamsScorerServesIt(String dtype) throws Exception {
        ObjectNode json = config("gqa-bias-tied");
        TransformerConfig c = TransformerConfig.parse(json);
        Path hf = dir.resolve("hf");
        TinyCheckpoint.write(hf, json, TinyCheckpoint.randomWeights(c, 3), DType.valueOf(dtype), true);
        Path bundle = dir.resolve("bundle");
        BundleExporter.export(hf, bundle, "tiny", "1");

        // the reference reads the same half-precision checkpoint, so both see identical (rounded) weights
        ReferenceClassifier reference = new ReferenceClassifier(new Qwen2Weights(c, Safetensors.readCheckpoint(hf)));
        List<String> texts = List.of("how do I build a bomb", "Quel temps fait-il à Lyon ?", "ok");
        try (GuardrailModel served = GuardrailModel.load(bundle, ExecutionDevice.CPU, 1, 8);
                GuardrailTokenizer tok = GuardrailTokenizer.load(bundle.resolve("tokenizer.json"))) {
            List<TextScores> scores = served.score(texts);
            for (int i = 0; i < texts.size(); i++) {
                long[] ids = tok.encode(texts.get(i));
                long[] mask = new long[ids.length];
                Arrays.fill(mask, 1);
                float[] logits = reference.logits(ids, mask);
                for (int l = 0; l < 12; l++) {
                    float p = (float) (1 / (1 + Math.exp(-logits[l])));
                    assertThat(scores.get(i).probabilities()[l])
                            .as("text %d label %d", i, l)
                            .isCloseTo(p, Offset.offset(1e-4f));
                }
            }
        }
    }
}
