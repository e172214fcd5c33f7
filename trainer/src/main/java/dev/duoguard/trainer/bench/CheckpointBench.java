package dev.duoguard.trainer.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.duoguard.trainer.engine.DjlTransformer;
import dev.duoguard.trainer.engine.Gradients;
import dev.duoguard.trainer.engine.LoraConfig;
import dev.duoguard.trainer.engine.TrainingStep;
import dev.duoguard.trainer.hf.TransformerConfig;
import dev.duoguard.trainer.loop.DpoLoss;
import dev.duoguard.trainer.loop.DpoReference;
import dev.duoguard.trainer.loop.SequenceLogProbs;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * {@code ./duoguard bench-train --checkpointing}: the memory and time of a LoRA DPO step with and without activation
 * checkpointing ({@link DjlTransformer#checkpoint}), each mode in a JVM of its own so that the operating system's
 * high-water mark of the process (VmHWM) is that mode's: the step's memory is that peak minus the resident size just
 * before the first step (model, adapters, data). Random token ids on a randomly initialised decoder: memory and time
 * depend on the shapes, not on the weights. The CPU engine's host memory only: it reads Linux's /proc/self/status,
 * which says nothing of a GPU's memory. Each step computes DPO's reference log-probabilities first, as the trainer
 * does.
 */
public final class CheckpointBench {

    /** One mode's measurement. */
    public record Row(
            String mode,
            @JsonProperty("resident_before_mib") double residentBeforeMib,
            @JsonProperty("peak_mib") double peakMib,
            @JsonProperty("step_mib") double stepMib,
            @JsonProperty("seconds_per_step") double secondsPerStep,
            @JsonProperty("loss") double loss) {}

    /** {@code bench-checkpoint.json}. */
    public record Result(
            String model,
            int pairs,
            int tokens,
            int steps,
            @JsonProperty("lora_rank") int loraRank,
            List<Row> rows) {}

    static final String RESULT = "RESULT ";

    private final PrintStream out;
    private final Path jsonOut;
    private final int pairs;
    private final int tokens;
    private final int steps;

    public CheckpointBench(PrintStream out, Path jsonOut, int pairs, int tokens, int steps) {
        this.out = out;
        this.jsonOut = jsonOut;
        this.pairs = pairs;
        this.tokens = tokens;
        this.steps = steps;
    }

    /** The decoder measured: the small preset's layers with a vocabulary of 32,000 (Llama 2's; Qwen's is 4.7x). */
    static TransformerConfig config() {
        TransformerConfig s = TransformerConfig.preset("small", 32_000, 0, 0);
        return new TransformerConfig(
                s.hiddenSize(),
                s.layers(),
                s.heads(),
                s.kvHeads(),
                s.intermediateSize(),
                10000.0,
                1e-6,
                32_000,
                false,
                true,
                2048,
                0,
                0,
                "qwen2");
    }

    public int run() throws IOException, InterruptedException {
        TransformerConfig c = config();
        String model = String.format(
                "decoder %d layers x %d hidden, vocabulary %,d, untied head",
                c.layers(), c.hiddenSize(), c.vocabSize());
        out.printf("LoRA DPO step, %s, %d pairs x %d tokens, %d steps per mode%n", model, pairs, tokens, steps);
        List<Row> rows = new ArrayList<>();
        for (String mode : List.of("plain", "checkpointed")) {
            rows.add(child(mode));
            Row r = rows.get(rows.size() - 1);
            out.printf("%-12s step memory %,.0f MiB, %.2f s per step%n", mode, r.stepMib(), r.secondsPerStep());
        }
        out.println();
        out.println("| mode | resident before (MiB) | peak (MiB) | step memory (MiB) | s per step | loss |");
        out.println("|---|---:|---:|---:|---:|---:|");
        for (Row r : rows) {
            out.printf(
                    "| %s | %,.0f | %,.0f | %,.0f | %.2f | %.4f |%n",
                    r.mode(), r.residentBeforeMib(), r.peakMib(), r.stepMib(), r.secondsPerStep(), r.loss());
        }
        out.printf(
                "checkpointed / plain: step memory %.2fx, time %.2fx%n",
                rows.get(1).stepMib() / rows.get(0).stepMib(),
                rows.get(1).secondsPerStep() / rows.get(0).secondsPerStep());
        Result result = new Result(model, pairs, tokens, steps, 16, rows);
        Files.createDirectories(jsonOut.toAbsolutePath().getParent());
        new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(jsonOut.toFile(), result);
        out.println("wrote " + jsonOut);
        return 0;
    }

    /** Runs one mode in a child JVM on this JVM's class path and reads its result line. */
    private Row child(String mode) throws IOException, InterruptedException {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process p = new ProcessBuilder(
                        java.toString(),
                        "-Xmx1g",
                        "-cp",
                        System.getProperty("java.class.path"),
                        CheckpointBench.class.getName(),
                        mode,
                        Integer.toString(pairs),
                        Integer.toString(tokens),
                        Integer.toString(steps))
                .redirectErrorStream(true)
                .start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        int exit = p.waitFor();
        String line = output.lines()
                .filter(l -> l.startsWith(RESULT))
                .reduce((a, b) -> b)
                .orElseThrow(() -> new IOException("the " + mode + " run (exit " + exit + ") printed no result:\n"
                        + output.lines()
                                .skip(Math.max(0, output.lines().count() - 20))
                                .reduce("", (a, b) -> a + b + "\n")));
        return new ObjectMapper().readValue(line.substring(RESULT.length()), Row.class);
    }

    /** The child: {@code MODE PAIRS TOKENS STEPS}; prints {@link #RESULT} and the row as JSON. */
    @SuppressWarnings("try") // NDScope: arrays made inside are registered with it implicitly, never named
    public static void main(String[] args) throws IOException {
        String mode = args[0];
        int pairs = Integer.parseInt(args[1]);
        int tokens = Integer.parseInt(args[2]);
        int steps = Integer.parseInt(args[3]);
        boolean checkpointed = mode.equals("checkpointed");
        Gradients.gradModeOffForThisThread();
        TransformerConfig c = config();
        try (NDManager manager = NDManager.newBaseManager();
                DjlTransformer model = DjlTransformer.random(c, manager, false, true, 1)) {
            List<NDArray> adapters = model.addLora(LoraConfig.of(16, 32f), 2);
            Random r = new Random(3);
            NDArray[] ids = new NDArray[2];
            long[][] mask = new long[pairs][tokens];
            int[] promptLengths = new int[pairs];
            for (int side = 0; side < 2; side++) {
                long[][] rows = new long[pairs][tokens];
                for (int b = 0; b < pairs; b++) {
                    for (int t = 0; t < tokens; t++) {
                        rows[b][t] = 1 + r.nextInt(c.vocabSize() - 1);
                        mask[b][t] = 1;
                    }
                    promptLengths[b] = tokens * 3 / 4;
                }
                ids[side] = manager.create(rows);
            }
            NDArray maskArr = manager.create(mask);
            NDArray completionTokens = manager.full(new Shape(pairs), tokens / 4f);
            TrainingStep training = TrainingStep.sgd(adapters);
            long before = status("VmRSS:");
            double loss = Double.NaN;
            long start = System.nanoTime();
            for (int step = 0; step < steps; step++) {
                try (NDScope scope = new NDScope();
                        DpoReference ref = DpoReference.adaptersOff(model)) {
                    // in the step, as the trainer does: one layer and one head chunk at a time, freed before
                    NDArray[] reference = {
                        ref.logProbs(ids[0], maskArr, promptLengths), ref.logProbs(ids[1], maskArr, promptLengths)
                    };
                    loss = training.step(
                                    checkpointed
                                            ? checkpointedPass(
                                                    model, ids, maskArr, promptLengths, reference, completionTokens)
                                            : TrainingStep.Pass.of(() -> DpoLoss.loss(
                                                    SequenceLogProbs.of(model, ids[0], maskArr, promptLengths),
                                                    SequenceLogProbs.of(model, ids[1], maskArr, promptLengths),
                                                    reference[0],
                                                    reference[1],
                                                    completionTokens,
                                                    0.1f,
                                                    0.4f)),
                                    1e-4f)
                            .loss();
                }
            }
            double seconds = (System.nanoTime() - start) / 1e9 / steps;
            long peak = status("VmHWM:");
            Row row = new Row(mode, before / 1024.0, peak / 1024.0, (peak - before) / 1024.0, seconds, loss);
            System.out.println(RESULT + new ObjectMapper().writeValueAsString(row));
        }
    }

    private static TrainingStep.Pass checkpointedPass(
            DjlTransformer model,
            NDArray[] ids,
            NDArray mask,
            int[] promptLengths,
            NDArray[] reference,
            NDArray completionTokens) {
        List<SequenceLogProbs.Checkpointed> passes = new ArrayList<>();
        return new TrainingStep.Pass() {
            @Override
            public NDArray loss() {
                for (NDArray side : ids) {
                    passes.add(SequenceLogProbs.checkpointed(model, side, mask, promptLengths));
                }
                return DpoLoss.loss(
                        passes.get(0).values(),
                        passes.get(1).values(),
                        reference[0],
                        reference[1],
                        completionTokens,
                        0.1f,
                        0.4f);
            }

            @Override
            public void backward(GradientCollector collector, NDArray loss) {
                collector.backward(loss);
                passes.forEach(SequenceLogProbs.Checkpointed::backward);
            }
        };
    }

    /** A size line of /proc/self/status, in KiB. */
    private static long status(String field) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith(field)) {
                return Long.parseLong(line.substring(field.length()).trim().split("\\s+")[0]);
            }
        }
        throw new IOException("no " + field + " in /proc/self/status (the bench reads Linux's process status)");
    }
}
