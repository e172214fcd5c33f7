package dev.duoguard.trainer.export;

import static org.assertj.core.api.Assertions.assertThat;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.duoguard.runtime.onnx.ExecutionDevice;
import dev.duoguard.runtime.onnx.OnnxClassifier;
import dev.duoguard.runtime.scoring.GuardrailModel;
import dev.duoguard.trainer.TinyEncoder;
import dev.duoguard.trainer.hf.DType;
import dev.duoguard.trainer.hf.EncoderConfig;
import dev.duoguard.trainer.hf.Tensor;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;

/**
 * Measurement, not a check (no timed assertion): scoring cost of an exported all-MiniLM-L6-v2-shaped encoder (6
 * layers, 384 hidden, 12 heads, 1536 intermediate, vocabulary 30522, MEAN head; random weights, its real
 * tokenizer) through the streams app's scorer on 2 ONNX Runtime threads. Run with
 * {@code ./mvnw -o -B -pl trainer -am test -Dtest=EncoderScoringBench -Dsurefire.failIfNoSpecifiedTests=false -Dduoguard.bench=true}.
 */
@EnabledIfSystemProperty(named = "duoguard.bench", matches = "true")
class EncoderScoringBench {

    @TempDir
    Path dir;

    static final String[] WORDS = ("how do i get to the station tomorrow morning please tell me what the weather "
                    + "will be like and whether i should bring an umbrella or a coat for the trip to the city with my "
                    + "friends who are visiting from abroad next week")
            .split(" ");

    @Test
    void miniLmShapedBundleThroughput() throws Exception {
        EncoderConfig c =
                new EncoderConfig("bert", 30522, 384, 6, 12, 1536, 512, 2, 1e-12, 0, EncoderConfig.Pooling.MEAN, 12);
        Path hf = dir.resolve("minilm-shaped");
        Map<String, Tensor> w = TinyEncoder.randomWeights(c, 1);
        TinyEncoder.writeCheckpoint(hf, c, w, DType.F32);
        try (InputStream in = getClass().getClassLoader().getResourceAsStream("all-minilm-l6-v2-tokenizer.json")) {
            assertThat(in).isNotNull();
            Files.copy(in, hf.resolve("tokenizer.json"));
        }
        long t0 = System.nanoTime();
        BundleExporter.export(hf, dir.resolve("bundle"), "minilm-shaped", "1", false, 256, null);
        System.out.printf("export: %.1f s%n", (System.nanoTime() - t0) / 1e9);

        Random r = new Random(3);
        List<String> messages = new ArrayList<>();
        for (int i = 0; i < 4096; i++) {
            StringBuilder sb = new StringBuilder();
            for (int k = 0; k < 16 + r.nextInt(5); k++) {
                sb.append(k == 0 ? "" : " ").append(WORDS[r.nextInt(WORDS.length)]);
            }
            messages.add(sb.append('?').toString());
        }
        try (GuardrailModel m = GuardrailModel.load(dir.resolve("bundle"), ExecutionDevice.CPU, 2, 32)) {
            double rowTokens = messages.stream()
                    .limit(500)
                    .mapToInt(s -> m.windowRows(s).get(0).length)
                    .average()
                    .orElse(0);
            // warm-up
            for (int i = 0; i < 20; i++) {
                m.score(messages.subList(i * 32, i * 32 + 32));
            }
            int batches = 100;
            long start = System.nanoTime();
            for (int i = 0; i < batches; i++) {
                int from = (i * 32) % (messages.size() - 32);
                m.score(messages.subList(from, from + 32));
            }
            double secs = (System.nanoTime() - start) / 1e9;
            System.out.printf(
                    "batch 32: %.0f messages/s (%.1f tokens per row with [CLS]/[SEP]), %.2f ms per batch%n",
                    batches * 32 / secs, rowTokens, secs * 1000 / batches);

            for (int i = 0; i < 50; i++) {
                m.score(List.of(messages.get(i)));
            }
            int n = 1000;
            double[] ms = new double[n];
            for (int i = 0; i < n; i++) {
                long s = System.nanoTime();
                m.score(List.of(messages.get(100 + i)));
                ms[i] = (System.nanoTime() - s) / 1e6;
            }
            Arrays.sort(ms);
            System.out.printf(
                    "batch 1: p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d calls)%n",
                    ms[n / 2], ms[n * 99 / 100], ms[n - 1], n);
        }
        compareWithThePyTorchExport(dir.resolve("bundle").resolve("model.onnx"));
    }

    /**
     * The same batch (32 rows x 22 tokens) through this project's graph and through Hugging Face's PyTorch export of
     * all-MiniLM-L6-v2 (encoder only, no pooling or head), both in ONNX Runtime with 2 threads, interleaved so that
     * load from other processes hits both alike: the ratio is the number to read on a shared machine.
     */
    private void compareWithThePyTorchExport(Path ours) throws Exception {
        Path original = dir.resolve("original.onnx");
        try (InputStream in = getClass().getClassLoader().getResourceAsStream("all-minilm-l6-v2.onnx")) {
            Files.copy(in, original);
        }
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        OrtSession.SessionOptions o = new OrtSession.SessionOptions();
        o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
        o.setIntraOpNumThreads(2);
        Random r = new Random(9);
        long[][] ids = new long[32][22];
        long[][] mask = new long[32][22];
        for (long[] row : ids) {
            for (int t = 0; t < row.length; t++) {
                row[t] = 1000 + r.nextInt(29000);
            }
        }
        for (long[] row : mask) {
            Arrays.fill(row, 1);
        }
        try (var theirs = env.createSession(original.toString(), o);
                var ourModel = new OnnxClassifier(ours, 12, ExecutionDevice.CPU, 2);
                var a = OnnxTensor.createTensor(env, ids);
                var b = OnnxTensor.createTensor(env, mask);
                var t = OnnxTensor.createTensor(env, new long[32][22])) {
            Map<String, OnnxTensor> feeds = Map.of("input_ids", a, "attention_mask", b, "token_type_ids", t);
            long oursNs = 0;
            long theirsNs = 0;
            for (int round = 0; round < 12; round++) {
                long s = System.nanoTime();
                for (int i = 0; i < 5; i++) {
                    ourModel.logits(ids, mask);
                }
                long m = System.nanoTime();
                for (int i = 0; i < 5; i++) {
                    theirs.run(feeds).close();
                }
                long e = System.nanoTime();
                if (round >= 2) { // the first rounds warm up
                    oursNs += m - s;
                    theirsNs += e - m;
                }
            }
            System.out.printf(
                    "32 x 22 tokens: this graph %.1f ms, PyTorch export (no head) %.1f ms per call (ratio %.2f)%n",
                    oursNs / 50 / 1e6, theirsNs / 50 / 1e6, oursNs / (double) theirsNs);
        }
    }
}
