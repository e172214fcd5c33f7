package dev.duoguard.trainer.export;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.duoguard.runtime.onnx.ExecutionDevice;
import dev.duoguard.runtime.onnx.Half;
import dev.duoguard.runtime.onnx.OnnxClassifier;
import dev.duoguard.trainer.EncoderReference;
import dev.duoguard.trainer.TinyEncoder;
import dev.duoguard.trainer.hf.EncoderConfig;
import dev.duoguard.trainer.hf.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The exported encoder graph, run by ONNX Runtime, must compute what the plain-Java {@link EncoderReference}
 * computes: BERT with Hugging Face's CLS head, XLM-R (position offset pad + 1, classifier.dense/out_proj head) and
 * BERT with the MEAN head, on random right-padded batches with junk ids under the padding.
 */
class EncoderExportParityTest {

    @TempDir
    Path dir;

    static EncoderConfig config(String kind) {
        return switch (kind) {
            case "bert-cls" -> TinyEncoder.config("bert", 32, 2, 4, 64, 120, 40, EncoderConfig.Pooling.CLS);
            case "xlmr-cls" -> TinyEncoder.config("xlm-roberta", 48, 2, 6, 96, 150, 42, EncoderConfig.Pooling.CLS);
            case "bert-mean" -> TinyEncoder.config("bert", 32, 3, 2, 48, 100, 40, EncoderConfig.Pooling.MEAN);
            default -> throw new IllegalArgumentException(kind);
        };
    }

    @ParameterizedTest
    @ValueSource(strings = {"bert-cls", "xlmr-cls", "bert-mean"})
    void onnxRuntimeMatchesTheReferenceOnRandomRightPaddedBatches(String kind) throws Exception {
        EncoderConfig c = config(kind);
        Map<String, Tensor> w = TinyEncoder.randomWeights(c, 5);
        Path model = dir.resolve("model.onnx");
        OnnxEncoderExporter.export(c, w, model, Map.of(), false);
        EncoderReference reference = new EncoderReference(c, w);
        double worst = assertParity(c, model, reference, 1e-4f);
        System.out.printf("encoder parity %s: max |onnx - reference| = %.2e%n", kind, worst);
    }

    @Test
    void fp16StorageHalvesTheWeightsAndStaysWithinHalfPrecision() throws Exception {
        EncoderConfig c = TinyEncoder.config("bert", 64, 2, 4, 128, 2000, 64, EncoderConfig.Pooling.CLS);
        Map<String, Tensor> w = TinyEncoder.randomWeights(c, 9);
        Path fp32 = Files.createDirectories(dir.resolve("fp32")).resolve("model.onnx");
        Path fp16 = Files.createDirectories(dir.resolve("fp16")).resolve("model.onnx");
        OnnxEncoderExporter.export(c, w, fp32, Map.of(), false);
        OnnxEncoderExporter.export(c, w, fp16, Map.of(), true);
        long size32 = Files.size(fp32) + Files.size(fp32.resolveSibling(OnnxEncoderExporter.DATA_FILE));
        long size16 = Files.size(fp16) + Files.size(fp16.resolveSibling(OnnxEncoderExporter.DATA_FILE));
        assertThat(size16).isLessThan(size32 * 55 / 100);

        // the reference on the fp16-rounded weights matches tightly: the graph only widens what it stores
        Map<String, Tensor> rounded = new HashMap<>(w);
        for (Map.Entry<String, Tensor> e : w.entrySet()) {
            Tensor t = e.getValue();
            boolean stored16 = t.shape().length == 2 && !e.getKey().contains("token_type");
            if (stored16) {
                float[] v = t.data().clone();
                for (int i = 0; i < v.length; i++) {
                    v[i] = Half.toFloat(Half.fromFloat(v[i]));
                }
                rounded.put(e.getKey(), new Tensor(t.name(), t.shape(), v));
            }
        }
        assertParity(c, fp16, new EncoderReference(c, rounded), 1e-4f);
        // and the full-precision reference within half precision's error
        double worst = assertParity(c, fp16, new EncoderReference(c, w), 2e-2f);
        System.out.printf(
                "encoder fp16 storage: max |onnx - fp32 reference| = %.2e, bytes %d vs %d%n", worst, size16, size32);
    }

    @Test
    void aCheckpointMissingATensorOrWithAWrongShapeIsRefusedByName() {
        EncoderConfig c = config("bert-cls");
        Map<String, Tensor> w = new HashMap<>(TinyEncoder.randomWeights(c, 1));
        w.remove("bert.pooler.dense.bias");
        assertThatThrownBy(() -> OnnxEncoderExporter.export(c, w, dir.resolve("m.onnx"), Map.of(), false))
                .hasMessageContaining("missing tensor bert.pooler.dense.bias")
                .hasMessageContaining("[32]");
        Map<String, Tensor> w2 = new HashMap<>(TinyEncoder.randomWeights(c, 1));
        String q = "bert.encoder.layer.1.attention.self.query.weight";
        w2.put(q, new Tensor(q, new long[] {16, 64}, new float[16 * 64]));
        assertThatThrownBy(() -> OnnxEncoderExporter.export(c, w2, dir.resolve("m.onnx"), Map.of(), false))
                .hasMessageContaining(q)
                .hasMessageContaining("[16, 64]")
                .hasMessageContaining("[32, 32]");
    }

    @Test
    void referenceErfMatchesKnownValues() {
        assertThat(EncoderReference.erf(0)).isEqualTo(0);
        assertThat(EncoderReference.erf(0.5)).isCloseTo(0.5204998778130465, Offset.offset(1e-14));
        assertThat(EncoderReference.erf(-1)).isCloseTo(-0.8427007929497149, Offset.offset(1e-14));
        assertThat(EncoderReference.erf(3)).isCloseTo(0.9999779095030014, Offset.offset(1e-14));
    }

    /** Random right-padded batches; returns the largest absolute logit difference seen. */
    static double assertParity(EncoderConfig c, Path model, EncoderReference reference, float tolerance)
            throws Exception {
        Random r = new Random(17);
        double worst = 0;
        try (OnnxClassifier ort = new OnnxClassifier(model, 12, ExecutionDevice.CPU, 1)) {
            for (int trial = 0; trial < 4; trial++) {
                int batch = 3;
                int len = trial == 0 ? c.maxUsableTokens() : 2 + r.nextInt(14); // the first trial fills the table
                long[][] ids = new long[batch][len];
                long[][] mask = new long[batch][len];
                for (int b = 0; b < batch; b++) {
                    int real = b == 0 ? len : 1 + r.nextInt(len);
                    for (int t = 0; t < len; t++) {
                        ids[b][t] = r.nextInt(c.vocabSize()); // junk ids under the padding too
                        mask[b][t] = t < real ? 1 : 0;
                    }
                }
                float[][] got = ort.logits(ids, mask);
                for (int b = 0; b < batch; b++) {
                    float[] want = reference.logits(ids[b], mask[b]);
                    for (int l = 0; l < 12; l++) {
                        double diff = Math.abs(got[b][l] - want[l]);
                        worst = Math.max(worst, diff);
                        assertThat(diff)
                                .as("trial %d row %d label %d: onnx %f reference %f", trial, b, l, got[b][l], want[l])
                                .isLessThan(tolerance);
                    }
                }
            }
        }
        return worst;
    }
}
