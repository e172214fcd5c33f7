package dev.duoguard.trainer.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.duoguard.trainer.engine.DjlTransformer;
import dev.duoguard.trainer.engine.Scalars;
import dev.duoguard.trainer.engine.TrainingStep;
import dev.duoguard.trainer.hf.TransformerConfig;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * {@code ./duoguard bench-train}: forward + backward + SGD update throughput of the DJL engine for the CPU presets,
 * in tokens per second, and MFU = achieved FLOP/s ÷ peak FLOP/s. The peak is <em>measured</em>: the fp32 GEMM rate
 * libtorch reaches on this machine for 2048² matrices (a nominal vendor peak is not known for a shared vCPU).
 * FLOPs per token = 6 × non-embedding parameters + 12 × layers × T × D (attention), the usual training estimate.
 */
public final class TrainBench {

    /** {@code train-bench.json}. */
    public record Result(
            String engine,
            String device,
            int threads,
            @JsonProperty("measured_peak_gflops") double measuredPeakGflops,
            List<PresetRow> presets) {}

    /** One preset's training throughput; {@code mfu} = achieved ÷ measured peak FLOP/s. */
    public record PresetRow(
            String preset,
            @JsonProperty("non_embedding_params") long nonEmbeddingParams,
            int batch,
            @JsonProperty("seq_len") int seqLen,
            long steps,
            @JsonProperty("tokens_per_second") double tokensPerSecond,
            @JsonProperty("achieved_gflops") double achievedGflops,
            double mfu) {}

    private final PrintStream out;
    private final Path jsonOut;
    private final int batch;
    private final int seqLen;
    private final double secondsPerPreset;

    public TrainBench(PrintStream out, Path jsonOut, int batch, int seqLen, double secondsPerPreset) {
        this.out = out;
        this.jsonOut = jsonOut;
        this.batch = batch;
        this.seqLen = seqLen;
        this.secondsPerPreset = secondsPerPreset;
    }

    public int run() throws IOException {
        String device = Engine.getInstance().defaultDevice().toString();
        Result result;
        try (NDManager manager = NDManager.newBaseManager()) {
            double peak = gemmPeak(manager);
            out.printf("measured peak (fp32 GEMM 2048², libtorch, %s): %.1f GFLOP/s%n", device, peak / 1e9);
            List<PresetRow> rows = new ArrayList<>();
            for (String preset : List.of("tiny", "small")) {
                rows.add(preset(manager, preset, peak));
            }
            result = new Result(
                    Engine.getInstance().getEngineName() + " "
                            + Engine.getInstance().getVersion(),
                    device,
                    Runtime.getRuntime().availableProcessors(),
                    peak / 1e9,
                    rows);
            out.println();
            out.println(
                    "| preset | params (non-embedding) | batch x tokens | tokens/s (fwd+bwd+update) | GFLOP/s | MFU |");
            out.println("|---|---:|---|---:|---:|---:|");
            for (PresetRow r : rows) {
                out.printf(
                        "| %s | %,d | %d x %d | %,.0f | %.1f | %.1f %% |%n",
                        r.preset(),
                        r.nonEmbeddingParams(),
                        r.batch(),
                        r.seqLen(),
                        r.tokensPerSecond(),
                        r.achievedGflops(),
                        100 * r.mfu());
            }
            out.println("0.5B-shaped config: needs a GPU; " + (device.startsWith("gpu") ? "" : "none here, skipped."));
        }
        Files.createDirectories(jsonOut.toAbsolutePath().getParent());
        new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(jsonOut.toFile(), result);
        out.println("wrote " + jsonOut);
        return 0;
    }

    private PresetRow preset(NDManager manager, String name, double peak) {
        TransformerConfig c = TransformerConfig.preset(name, 8000, 12, 0);
        Random r = new Random(1);
        long[][] ids = new long[batch][seqLen];
        long[][] mask = new long[batch][seqLen];
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t < seqLen; t++) {
                ids[b][t] = 1 + r.nextInt(c.vocabSize() - 1);
                mask[b][t] = 1;
            }
        }
        long steps = 0;
        double seconds;
        long nonEmbedding = 0;
        try (DjlTransformer model = DjlTransformer.random(c, manager, true, false, 1);
                NDManager data = manager.newSubManager()) {
            TrainingStep training = TrainingStep.sgd(model.trainable(n -> true));
            for (Map.Entry<String, NDArray> e : model.parameters().entrySet()) {
                if (!e.getKey().equals("model.embed_tokens.weight")) {
                    nonEmbedding += e.getValue().getShape().size();
                }
            }
            NDArray idArr = data.create(ids);
            NDArray maskArr = data.create(mask);
            NDArray target = data.zeros(new Shape(batch, c.numLabels())).add(0.1f);
            for (int i = 0; i < 2; i++) {
                step(model, training, idArr, maskArr, target); // warm-up
            }
            long start = System.nanoTime();
            while ((System.nanoTime() - start) / 1e9 < secondsPerPreset || steps < 3) {
                step(model, training, idArr, maskArr, target);
                steps++;
            }
            seconds = (System.nanoTime() - start) / 1e9;
            if (training.skipped() > 0) {
                out.printf("%s: %s%n", name, training.summary());
            }
        }
        double tokensPerSecond = steps * batch * seqLen / seconds;
        double flopsPerToken = 6.0 * nonEmbedding + 12.0 * c.layers() * seqLen * c.hiddenSize();
        double achieved = flopsPerToken * tokensPerSecond;
        out.printf(
                "%-6s %,d non-embedding params: %,.0f tokens/s, %.1f GFLOP/s, MFU %.1f %%%n",
                name, nonEmbedding, tokensPerSecond, achieved / 1e9, 100 * achieved / peak);
        return new PresetRow(
                name, nonEmbedding, batch, seqLen, steps, tokensPerSecond, achieved / 1e9, achieved / peak);
    }

    /** One SGD step (lr 1e-3) on mean((sigmoid(logits) - target)^2). */
    @SuppressWarnings("try") // NDScope: arrays made inside are registered with it implicitly, never named
    private static void step(DjlTransformer model, TrainingStep training, NDArray ids, NDArray mask, NDArray target) {
        try (NDScope scope = new NDScope()) {
            training.step(
                    () -> Scalars.pow(
                                    Activation.sigmoid(model.classify(ids, mask))
                                            .sub(target),
                                    2)
                            .mean(),
                    1e-3f);
        }
    }

    /** FLOP/s of repeated 2048x2048 fp32 matrix products: what this machine's libtorch can reach. */
    static double gemmPeak(NDManager manager) {
        int n = 2048;
        try (NDManager m = manager.newSubManager()) {
            NDArray a = m.randomUniform(-1, 1, new Shape(n, n));
            NDArray b = m.randomUniform(-1, 1, new Shape(n, n));
            a.matMul(b).close(); // warm-up
            int reps = 0;
            long start = System.nanoTime();
            while (reps < 3 || System.nanoTime() - start < 2_000_000_000L) {
                a.matMul(b).close();
                reps++;
            }
            return 2.0 * n * n * n * reps / ((System.nanoTime() - start) / 1e9);
        }
    }
}
