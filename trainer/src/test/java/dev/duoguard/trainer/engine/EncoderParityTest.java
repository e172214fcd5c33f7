package dev.duoguard.trainer.engine;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.duoguard.trainer.hf.EncoderConfig;
import dev.duoguard.trainer.hf.PretrainedEncoders;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.assertj.core.api.Assertions;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The built-in all-MiniLM-L6-v2 backbone, materialised as a Hugging Face directory and run by {@link DjlEncoder},
 * against the very ONNX file it was read from, run by ONNX Runtime: the graph walk found every weight, transposed
 * the linear ones, and the DJL forward pass is BERT's.
 */
class EncoderParityTest {

    static final double TOLERANCE = 1e-4;

    @TempDir
    static Path cache;

    static Path dir;
    static NDManager manager;
    static DjlEncoder model;
    static OrtEnvironment env;
    static OrtSession session;

    @BeforeAll
    static void load() throws Exception {
        dir = PretrainedEncoders.materialize(PretrainedEncoders.ALL_MINILM_L6_V2, cache.resolve("minilm"));
        manager = NDManager.newBaseManager();
        model = DjlEncoder.load(dir, manager);
        env = OrtEnvironment.getEnvironment();
        try (InputStream in = EncoderParityTest.class.getClassLoader().getResourceAsStream("all-minilm-l6-v2.onnx")) {
            session = env.createSession(in.readAllBytes(), new OrtSession.SessionOptions());
        }
    }

    @AfterAll
    static void close() throws Exception {
        session.close();
        model.close();
        manager.close();
    }

    @Test
    void materialisedConfigIsMiniLmsShape() {
        EncoderConfig c = model.config();
        assertThat(c)
                .isEqualTo(new EncoderConfig(
                        "bert", 30522, 384, 6, 12, 1536, 512, 2, 1e-12, 0, EncoderConfig.Pooling.MEAN, 0));
        assertThat(dir.resolve("tokenizer.json")).exists();
    }

    @Test
    void randomRightPaddedBatchesMatchOnnxRuntime() throws Exception {
        Random r = new Random(7);
        int[] lengths = {24, 17, 5, 1};
        long[][] ids = new long[lengths.length][24];
        long[][] mask = new long[lengths.length][24];
        for (int b = 0; b < lengths.length; b++) {
            for (int t = 0; t < lengths[b]; t++) {
                ids[b][t] = t == 0 ? 101 : 999 + r.nextInt(30522 - 999);
                mask[b][t] = 1;
            }
        }
        double diff = maxDiffOnRealTokens(ids, mask);
        System.out.printf("MiniLM DJL vs ONNX Runtime, random ids: max abs diff %.3g%n", diff);
        assertThat(diff).isLessThan(TOLERANCE);
    }

    @Test
    void tokenizedSentencesMatchOnnxRuntimeAndParaphrasesAreClosest() throws Exception {
        List<String> sentences = List.of(
                "A man is eating food.",
                "A man is eating a piece of bread.",
                "The stock market fell sharply today.",
                "Wie spät ist es? ¿Qué hora es?");
        long[][] ids;
        long[][] mask;
        try (HuggingFaceTokenizer tok = HuggingFaceTokenizer.newInstance(
                dir.resolve("tokenizer.json"), Map.of("padding", "false", "truncation", "false"))) {
            List<long[]> rows = sentences.stream()
                    .map(s -> tok.encode(s))
                    .map(Encoding::getIds)
                    .toList();
            int t = rows.stream().mapToInt(x -> x.length).max().orElseThrow();
            ids = new long[rows.size()][t];
            mask = new long[rows.size()][t];
            for (int b = 0; b < rows.size(); b++) {
                long[] row = rows.get(b);
                assertThat(row[0]).as("[CLS] first").isEqualTo(101);
                assertThat(row[row.length - 1]).as("[SEP] last").isEqualTo(102);
                System.arraycopy(row, 0, ids[b], 0, row.length);
                Arrays.fill(mask[b], 0, row.length, 1);
            }
            assertThat(rows.get(0).length).isLessThan(t); // the batch really is padded
        }
        double diff = maxDiffOnRealTokens(ids, mask);
        System.out.printf("MiniLM DJL vs ONNX Runtime, sentences: max abs diff %.3g%n", diff);
        assertThat(diff).isLessThan(TOLERANCE);

        // The backbone is a working sentence encoder: mean-pooled, the paraphrase is nearer than the other topics.
        try (NDManager m = manager.newSubManager()) {
            NDArray mk = m.create(mask);
            NDArray e = DjlEncoder.meanPool(model.hidden(m.create(ids), mk), mk);
            e = e.div(e.norm(new int[] {1}, true));
            float[] cos = e.matMul(e.transpose()).toFloatArray();
            int n = sentences.size();
            assertThat(cos[1]).isGreaterThan(cos[2]).isGreaterThan(0.5f); // (0,1) vs (0,2)
            assertThat(cos[1]).isGreaterThan(cos[n + 2]); // vs (1,2)
        }
    }

    @Test
    void materialisingAgainKeepsTheFilesAndRepairsADamagedOne() throws Exception {
        Path cfg = dir.resolve("config.json");
        // a known, old timestamp: any rewrite would replace it (no waiting for the clock to move)
        long written = 1_000_000L;
        Files.setLastModifiedTime(dir.resolve("model.safetensors"), FileTime.fromMillis(written));
        Map<String, String> sums = PretrainedEncoders.recordedChecksums(dir);
        assertThat(sums).containsOnlyKeys("config.json", "model.safetensors", "tokenizer.json");
        PretrainedEncoders.materialize(PretrainedEncoders.ALL_MINILM_L6_V2, dir);
        assertThat(Files.getLastModifiedTime(dir.resolve("model.safetensors")).toMillis())
                .as("unchanged files are not rewritten")
                .isEqualTo(written);

        String original = Files.readString(cfg);
        String damaged = original.replace("\"num_hidden_layers\" : 6", "\"num_hidden_layers\" : 5");
        assertThat(damaged).isNotEqualTo(original);
        Files.writeString(cfg, damaged);
        PretrainedEncoders.materialize(PretrainedEncoders.ALL_MINILM_L6_V2, dir);
        assertThat(Files.readString(cfg)).isEqualTo(original);
        assertThat(PretrainedEncoders.recordedChecksums(dir)).isEqualTo(sums);
    }

    @Test
    void unknownBackboneIsRefusedByName() {
        Assertions.assertThatThrownBy(() -> PretrainedEncoders.materialize("bert-large", cache))
                .hasMessageContaining("unknown pretrained encoder 'bert-large'")
                .hasMessageContaining("all-minilm-l6-v2");
    }

    /** Max |DJL - ORT| of last_hidden_state over the positions whose mask is 1. */
    static double maxDiffOnRealTokens(long[][] ids, long[][] mask) throws Exception {
        int b = ids.length;
        int t = ids[0].length;
        int d = model.config().hiddenSize();
        float[] djl;
        try (NDManager m = manager.newSubManager()) {
            djl = model.hidden(m.create(ids), m.create(mask)).toFloatArray();
        }
        float[][][] ort;
        try (OnnxTensor i = OnnxTensor.createTensor(env, ids);
                OnnxTensor a = OnnxTensor.createTensor(env, mask);
                OnnxTensor tt = OnnxTensor.createTensor(env, new long[b][t]);
                OrtSession.Result res =
                        session.run(Map.of("input_ids", i, "attention_mask", a, "token_type_ids", tt))) {
            ort = (float[][][]) res.get("last_hidden_state").orElseThrow().getValue();
        }
        double max = 0;
        int compared = 0;
        for (int r = 0; r < b; r++) {
            for (int p = 0; p < t; p++) {
                if (mask[r][p] == 0) {
                    continue;
                }
                for (int k = 0; k < d; k++) {
                    max = Math.max(max, Math.abs(djl[(r * t + p) * d + k] - ort[r][p][k]));
                }
                compared++;
            }
        }
        assertThat(compared).isPositive();
        return max;
    }
}
