package dev.duoguard.trainer.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import dev.duoguard.trainer.TinyEncoder;
import dev.duoguard.trainer.engine.DjlEncoder;
import dev.duoguard.trainer.engine.DjlTransformer;
import dev.duoguard.trainer.hf.EncoderConfig;
import dev.duoguard.trainer.hf.Tensor;
import dev.duoguard.trainer.hf.TransformerConfig;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The training loop on a toy task: it learns, it logs, and a resumed run ends where an uninterrupted one does. */
class ClassifierTrainerTest {

    static final TransformerConfig TINY = TransformerConfig.preset("tiny", 64, SafetyCategory.COUNT, 0);
    static final int TRIGGER = 7;

    /** Random token strings; unsafe (Hate) iff token 7 occurs, else safe; every fifth unsafe one has no category. */
    static EncodedSet toy(int n, long seed) {
        Random r = new Random(seed);
        long[][] ids = new long[n][];
        float[][] pos = new float[n][SafetyCategory.COUNT];
        float[] unknown = new float[n];
        boolean[] unsafe = new boolean[n];
        for (int i = 0; i < n; i++) {
            int len = 4 + r.nextInt(9);
            ids[i] = new long[len];
            for (int t = 0; t < len; t++) {
                long tok;
                do {
                    tok = 1 + r.nextInt(63);
                } while (tok == TRIGGER);
                ids[i][t] = tok;
            }
            unsafe[i] = i % 2 == 0;
            if (unsafe[i]) {
                ids[i][r.nextInt(len)] = TRIGGER;
                if (i % 5 == 0) {
                    unknown[i] = 1f;
                } else {
                    pos[i][SafetyCategory.HATE.ordinal()] = 1f;
                }
            }
        }
        long[][][] windows = new long[n][][];
        float[] weights = new float[n];
        for (int i = 0; i < n; i++) {
            windows[i] = new long[][] {ids[i]};
            weights[i] = 1f;
        }
        return new EncodedSet(windows, pos, unknown, unsafe, weights);
    }

    static double accuracy(float[][] p, EncodedSet data) {
        int right = 0;
        for (int i = 0; i < p.length; i++) {
            float max = 0;
            for (float v : p[i]) {
                max = Math.max(max, v);
            }
            right += (max > 0.5f) == data.unsafe()[i] ? 1 : 0;
        }
        return right / (double) p.length;
    }

    @Test
    void aTinyModelLearnsASeparableToyTask(@TempDir Path dir) throws IOException {
        EncodedSet train = toy(512, 1);
        EncodedSet test = toy(200, 2);
        TrainSettings s = new TrainSettings(6, 32, 3e-3f, 0.1f, 0.01f, 1.0f, 64, 5, 10, 1000);
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        try (NDManager manager = NDManager.newBaseManager();
                DjlTransformer model = DjlTransformer.random(TINY, manager, true, false, 5)) {
            ClassifierTrainer trainer = new ClassifierTrainer(model, manager, s, new PrintStream(log, true));
            double before = accuracy(trainer.predict(test, 64), test);
            ClassifierTrainer.Result r = trainer.train(train, dir.resolve("ckpt"), false);
            double after = accuracy(trainer.predict(test, 64), test);

            assertThat(r.steps()).isEqualTo(6L * 512 / 32);
            assertThat(r.skipped())
                    .as("steps skipped for a non-finite loss or gradient")
                    .isZero();
            assertThat(before).isBetween(0.3, 0.7);
            assertThat(after).as("held-out accuracy after training").isGreaterThan(0.9);
            assertThat(r.lastLoss()).isLessThan(0.5);
            String text = log.toString();
            assertThat(text)
                    .contains("step 10/")
                    .contains("tok/s")
                    .contains("ETA")
                    .contains("loss");
            assertThat(Checkpoint.exists(dir.resolve("ckpt"))).isTrue();
        }
    }

    /**
     * Weights are compared to 1e-4: a resume that lost the optimizer moments or the batch position moves them by
     * about the learning rate (2e-3) per step.
     */
    @Test
    void aResumedRunEndsWhereAnUninterruptedOneDoes(@TempDir Path dir) throws IOException {
        // 160 items, 16 a batch: 10 batches an epoch; "killed" mid-epoch 2, after the checkpoint at step 13
        onOneThread(() -> assertResumedRunMatches(
                dir, toy(160, 3), new TrainSettings(2, 16, 2e-3f, 0.1f, 0.01f, 1.0f, 64, 9, 100, 4), 13, 20));
    }

    /** The same with token budgets, on items of several windows: the steps are planned, not counted. */
    @Test
    void aResumedTokenBudgetRunEndsWhereAnUninterruptedOneDoes(@TempDir Path dir) throws IOException {
        EncodedSet train = windowed(toy(160, 3));
        TrainSettings s = new TrainSettings(2, 16, 2e-3f, 0.1f, 0.01f, 1.0f, 64, 9, 100, 4, 90);
        int[][] sizes = sizes(train);
        int first = LengthGroupedBatches.byTokens(sizes[0], sizes[1], 90, 9, 0).size();
        int second = LengthGroupedBatches.byTokens(sizes[0], sizes[1], 90, 9, 1).size();
        assertThat(second).as("batches in epoch 2").isGreaterThan(3);
        onOneThread(() -> assertResumedRunMatches(dir, train, s, first + 3, first + second)); // mid-epoch 2
    }

    interface Check {
        void run() throws IOException;
    }

    /**
     * PyTorch's multithreaded CPU kernels are not bit-reproducible (reduction order), so the runs compared use one
     * thread.
     */
    private static void onOneThread(Check check) throws IOException {
        Engine.getEngine("PyTorch"); // the native library, when this test runs first
        int threads = JniUtils.getNumThreads();
        JniUtils.setNumThreads(1);
        try {
            check.run();
        } finally {
            JniUtils.setNumThreads(threads);
        }
    }

    /**
     * A decoder classifier trained with activation checkpointing: its first step's loss is the plain one's (same
     * weights, same batch), and it learns the toy task as well; an encoder refuses it in one line.
     */
    @Test
    void aDecoderLearnsTheToyTaskWithActivationCheckpointing(@TempDir Path dir) throws IOException {
        EncodedSet train = toy(512, 1);
        EncodedSet test = toy(200, 2);
        TrainSettings s = new TrainSettings(6, 32, 3e-3f, 0.1f, 0.01f, 1.0f, 64, 5, 10, 1000);
        double[] firstLoss = new double[2];
        for (int mode = 0; mode < 2; mode++) {
            try (NDManager manager = NDManager.newBaseManager();
                    DjlTransformer model = DjlTransformer.random(TINY, manager, true, false, 5)) {
                firstLoss[mode] = new ClassifierTrainer(model, manager, s, new PrintStream(new ByteArrayOutputStream()))
                        .activationCheckpointing(mode == 1)
                        .train(train, dir.resolve("first-" + mode), false, 1)
                        .lastLoss();
            }
        }
        assertThat(firstLoss[1]).as("the first step's loss").isCloseTo(firstLoss[0], within(1e-5));
        try (NDManager manager = NDManager.newBaseManager();
                DjlTransformer model = DjlTransformer.random(TINY, manager, true, false, 5)) {
            ClassifierTrainer trainer = new ClassifierTrainer(
                            model, manager, s, new PrintStream(new ByteArrayOutputStream()))
                    .activationCheckpointing(true);
            ClassifierTrainer.Result r = trainer.train(train, dir.resolve("ckpt"), false);
            assertThat(r.skipped()).isZero();
            assertThat(accuracy(trainer.predict(test, 64), test))
                    .as("held-out accuracy after training")
                    .isGreaterThan(0.9);
        }
        EncoderConfig c = TinyEncoder.config("bert", 32, 2, 4, 64, 64, 64, EncoderConfig.Pooling.CLS);
        try (NDManager manager = NDManager.newBaseManager();
                DjlEncoder encoder = DjlEncoder.random(c, manager, 3)) {
            ClassifierTrainer trainer =
                    new ClassifierTrainer(encoder, manager, s, new PrintStream(new ByteArrayOutputStream()));
            assertThatThrownBy(() -> trainer.activationCheckpointing(true))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("activation checkpointing is built for decoder classifiers (Qwen2, Llama), not for"
                            + " DjlEncoder; train without it");
        }
    }

    private void assertResumedRunMatches(Path dir, EncodedSet train, TrainSettings s, long stopAt, long total)
            throws IOException {
        long skipped = 0;
        Map<String, Tensor> straight;
        try (NDManager manager = NDManager.newBaseManager();
                DjlTransformer model = DjlTransformer.random(TINY, manager, true, false, 11)) {
            skipped += new ClassifierTrainer(model, manager, s, new PrintStream(new ByteArrayOutputStream()))
                    .train(train, dir.resolve("a"), false)
                    .skipped();
            straight = model.toTensors();
        }
        try (NDManager manager = NDManager.newBaseManager();
                DjlTransformer model = DjlTransformer.random(TINY, manager, true, false, 11)) {
            ClassifierTrainer.Result first = new ClassifierTrainer(
                            model, manager, s, new PrintStream(new ByteArrayOutputStream()))
                    .train(train, dir.resolve("b"), false, stopAt);
            skipped += first.skipped();
            assertThat(first.steps()).isEqualTo(stopAt);
        }
        try (NDManager manager = NDManager.newBaseManager();
                DjlTransformer model =
                        DjlTransformer.random(TINY, manager, true, false, 99)) { // other init: overwritten
            ByteArrayOutputStream log = new ByteArrayOutputStream();
            ClassifierTrainer.Result rest = new ClassifierTrainer(model, manager, s, new PrintStream(log, true))
                    .train(train, dir.resolve("b"), true);
            assertThat(log.toString()).contains("resuming from").contains("at step " + stopAt + " of " + total);
            skipped += rest.skipped();
            assertThat(rest.steps()).isEqualTo(total);
            Map<String, Tensor> resumed = model.toTensors();
            assertThat(skipped).as("steps skipped in the three runs").isZero();
            for (var e : straight.entrySet()) {
                assertThat(resumed.get(e.getKey()).data())
                        .as(e.getKey())
                        .containsExactly(e.getValue().data(), within(1e-4f));
            }
        }
    }

    @Test
    void resumingWithOtherSettingsIsRefused(@TempDir Path dir) throws IOException {
        EncodedSet train = toy(64, 4);
        TrainSettings s = new TrainSettings(1, 16, 2e-3f, 0.1f, 0.01f, 1.0f, 64, 9, 100, 4);
        try (NDManager manager = NDManager.newBaseManager();
                DjlTransformer model = DjlTransformer.random(TINY, manager, true, false, 1)) {
            new ClassifierTrainer(model, manager, s, new PrintStream(new ByteArrayOutputStream()))
                    .train(train, dir.resolve("c"), false);
            TrainSettings other = new TrainSettings(1, 8, 2e-3f, 0.1f, 0.01f, 1.0f, 64, 9, 100, 4);
            assertThatThrownBy(() -> new ClassifierTrainer(
                                    model, manager, other, new PrintStream(new ByteArrayOutputStream()))
                            .train(train, dir.resolve("c"), true))
                    .hasMessageContaining("other settings");
            TrainSettings tokens = new TrainSettings(1, 16, 2e-3f, 0.1f, 0.01f, 1.0f, 64, 9, 100, 4, 128);
            assertThatThrownBy(() -> new ClassifierTrainer(
                                    model, manager, tokens, new PrintStream(new ByteArrayOutputStream()))
                            .train(train, dir.resolve("c"), true))
                    .as("token budgets instead of 16 items a batch")
                    .hasMessageContaining("other settings");
        }
    }

    @Test
    void lengthGroupedBatchesCoverEveryItemOnceAndGroupSimilarLengths() {
        int[] lengths = new Random(1).ints(1000, 1, 300).toArray();
        var batches = LengthGroupedBatches.epoch(lengths, 16, 3, 0);
        assertThat(batches).hasSize(50 + 13); // a mega-batch of 50 x 16 items, then 200 items in 13 batches
        boolean[] seen = new boolean[1000];
        long padded = 0;
        long real = 0;
        for (int[] b : batches) {
            int max = 0;
            for (int i : b) {
                assertThat(seen[i]).isFalse();
                seen[i] = true;
                max = Math.max(max, lengths[i]);
                real += lengths[i];
            }
            padded += (long) max * b.length;
        }
        assertThat(seen).doesNotContain(false);
        assertThat(padded / (double) real).as("padding overhead").isLessThan(1.1);
        assertThat(LengthGroupedBatches.epoch(lengths, 16, 3, 0))
                .usingRecursiveComparison()
                .isEqualTo(batches);
        assertThat(LengthGroupedBatches.epoch(lengths, 16, 3, 1).get(0)).isNotEqualTo(batches.get(0));
    }

    /** Rows (windows) and longest row of each item, as the trainer puts them on the device. */
    static int[][] sizes(EncodedSet data) {
        int n = data.size();
        int[][] out = new int[2][n];
        for (int i = 0; i < n; i++) {
            out[0][i] = data.windows()[i].length;
            out[1][i] = Arrays.stream(data.windows()[i])
                    .mapToInt(r -> r.length)
                    .max()
                    .orElse(0);
        }
        return out;
    }

    /** {@code data} with every third item cut into two overlapping windows (the trigger stays in one of them). */
    static EncodedSet windowed(EncodedSet data) {
        long[][][] windows = new long[data.size()][][];
        for (int i = 0; i < windows.length; i++) {
            long[] ids = data.windows()[i][0];
            int half = ids.length / 2;
            windows[i] = i % 3 == 0
                    ? new long[][] {Arrays.copyOfRange(ids, 0, half + 1), Arrays.copyOfRange(ids, half - 1, ids.length)}
                    : data.windows()[i];
        }
        return new EncodedSet(windows, data.positive(), data.unknown(), data.unsafe(), data.weights());
    }

    @Test
    void tokenBudgetBatchesStayWithinTheBudgetAndCoverEveryItemOnce() {
        Random r = new Random(4);
        int n = 3000;
        int[] rows = new int[n];
        int[] longest = new int[n];
        for (int i = 0; i < n; i++) {
            rows[i] = i % 7 == 0 ? 1 + r.nextInt(3) : 1; // at most 3 x 300 tokens: within the budget
            longest[i] = 1 + r.nextInt(300);
        }
        rows[5] = 4; // 4 x 300 and 1 x 1500 tokens: over the budget on their own
        longest[5] = 300;
        longest[6] = 1500;
        long budget = 1024;
        assertThat(LengthGroupedBatches.oversized(rows, longest, budget)).isEqualTo(2);

        List<int[]> batches = LengthGroupedBatches.byTokens(rows, longest, budget, 3, 0);
        int[] seen = new int[n];
        long padded = 0;
        long real = 0;
        List<Integer> alone = new ArrayList<>();
        for (int[] b : batches) {
            int batchRows = 0;
            int width = 0;
            for (int i : b) {
                seen[i]++;
                batchRows += rows[i];
                width = Math.max(width, longest[i]);
                real += (long) rows[i] * longest[i];
            }
            long cost = (long) batchRows * width;
            padded += cost;
            if (cost > budget) {
                assertThat(b).as("a batch over the budget").hasSize(1);
                alone.add(b[0]);
            }
        }
        assertThat(alone).as("items over the budget, alone").containsExactlyInAnyOrder(5, 6);
        assertThat(seen).as("times each item is in the epoch").containsOnly(1);
        assertThat(padded / (double) real).as("padding overhead").isLessThan(1.1);
        assertThat(padded / (double) (batches.size() * budget))
                .as("share of the budget used")
                .isGreaterThan(0.8);
        assertThat(LengthGroupedBatches.byTokens(rows, longest, budget, 3, 0))
                .usingRecursiveComparison()
                .isEqualTo(batches);
        assertThat(LengthGroupedBatches.byTokens(rows, longest, budget, 3, 1).get(0))
                .isNotEqualTo(batches.get(0));
        assertThat(LengthGroupedBatches.byTokens(rows, longest, budget, 4, 0).get(0))
                .isNotEqualTo(batches.get(0));
    }

    /** The toy task with token budgets, on items of one and of two windows: the loss falls and the model learns. */
    @Test
    void aTinyModelLearnsTheToyTaskInTokenBudgetBatches(@TempDir Path dir) throws IOException {
        EncodedSet train = windowed(toy(512, 1));
        EncodedSet test = windowed(toy(200, 2));
        TrainSettings s = new TrainSettings(6, 32, 3e-3f, 0.1f, 0.01f, 1.0f, 64, 5, 1, 1000, 400);
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        try (NDManager manager = NDManager.newBaseManager();
                DjlTransformer model = DjlTransformer.random(TINY, manager, true, false, 5)) {
            ClassifierTrainer trainer = new ClassifierTrainer(model, manager, s, new PrintStream(log, true));
            ClassifierTrainer.Result r = trainer.train(train, dir.resolve("ckpt"), false);
            double after = accuracy(trainer.predict(test, 64), test);

            int[][] sizes = sizes(train);
            long planned = 0;
            for (int epoch = 0; epoch < 6; epoch++) {
                planned += LengthGroupedBatches.byTokens(sizes[0], sizes[1], 400, 5, epoch)
                        .size();
            }
            assertThat(r.steps()).isEqualTo(planned);
            assertThat(r.skipped()).isZero();
            double[] losses = Pattern.compile("  loss (\\S+) ")
                    .matcher(log.toString())
                    .results()
                    .mapToDouble(m -> Double.parseDouble(m.group(1)))
                    .toArray();
            assertThat(losses).hasSize((int) planned);
            double early = Arrays.stream(losses, 0, 10).average().orElseThrow();
            double late = Arrays.stream(losses, losses.length - 10, losses.length)
                    .average()
                    .orElseThrow();
            assertThat(late)
                    .as(
                            "mean loss of the last 10 steps vs the first 10 (%.3f; all: %s)",
                            early, Arrays.toString(losses))
                    .isLessThan(early / 3);
            assertThat(after).as("held-out accuracy after training").isGreaterThan(0.9);
            assertThat(log.toString()).contains("batches of at most 400 padded tokens (rows x longest row)\n");
        }
    }

    @Test
    void cosineScheduleWarmsUpThenDecaysToTheFloor() {
        CosineSchedule c = new CosineSchedule(1f, 10, 110, 0.1f);
        assertThat(c.at(0)).isCloseTo(0.1f, within(1e-6f));
        assertThat(c.at(9)).isCloseTo(1f, within(1e-6f));
        assertThat(c.at(60)).isCloseTo(0.55f, within(1e-6f)); // halfway: floor + (1 - floor) / 2
        assertThat(c.at(110)).isCloseTo(0.1f, within(1e-6f));
    }

    /** Items of one row each, with no labels. */
    static EncodedSet rows(long[][]... windowsPerItem) {
        int n = windowsPerItem.length;
        float[] ones = new float[n];
        Arrays.fill(ones, 1f);
        return new EncodedSet(windowsPerItem, new float[n][SafetyCategory.COUNT], new float[n], new boolean[n], ones);
    }

    @Test
    void anItemInSeveralWindowsScoresTheMaximumOfItsWindowsAsTheScorerDoes() {
        long[] w1 = {3, 9, 12, 40, 5};
        long[] w2 = {8, 8, 30};
        long[] w3 = {21, 2, 2, 2, 2, 2, 61};
        long[] single = {17, 4};
        try (NDManager manager = NDManager.newBaseManager();
                DjlTransformer model = DjlTransformer.random(TINY, manager, true, false, 23)) {
            ClassifierTrainer t = new ClassifierTrainer(
                    model, manager, new TrainSettings(1, 4, 1e-3f, 0.1f, 0.01f, 1.0f, 16, 3, 10, 100), System.out);
            // one batch mixing a one-window item and a three-window item (the gather path), then each window alone
            float[][] together = t.predict(rows(new long[][] {single}, new long[][] {w1, w2, w3}), 8);
            float[][] alone =
                    t.predict(rows(new long[][] {w1}, new long[][] {w2}, new long[][] {w3}, new long[][] {single}), 8);
            for (int c = 0; c < SafetyCategory.COUNT; c++) {
                float max = Math.max(alone[0][c], Math.max(alone[1][c], alone[2][c]));
                assertThat(together[1][c]).as("category %d", c).isCloseTo(max, within(1e-5f));
                assertThat(together[0][c]).isCloseTo(alone[3][c], within(1e-5f));
            }
            // the windows really differ, so the maximum is not trivially any one of them
            assertThat(alone[0]).isNotEqualTo(alone[1]);
        }
    }

    @Test
    void invalidSettingsNameTheValuesThatAreWrong() {
        assertThatThrownBy(() -> new TrainSettings(0, 32, 1e-3f, 1.5f, 0.01f, 1f, 128, 1, 10, 100, -1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("invalid training settings: epochs 0 (at least 1), warm-up ratio 1.5 (from 0 up to 1),"
                        + " batch tokens -1 (0: off, or a number of padded tokens)");
    }
}
