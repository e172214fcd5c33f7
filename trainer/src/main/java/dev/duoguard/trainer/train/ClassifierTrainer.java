package dev.duoguard.trainer.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.training.GradientCollector;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import dev.duoguard.trainer.engine.DjlTransformer;
import dev.duoguard.trainer.engine.Gradients;
import dev.duoguard.trainer.engine.SequenceClassifier;
import dev.duoguard.trainer.engine.TrainingStep;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.IntFunction;
import java.util.function.Predicate;

/**
 * Trains the guardrail classifier: {@link MultiLabelLoss} over the category logits, {@link AdamW} with a
 * {@link CosineSchedule} and global-norm clipping, {@link LengthGroupedBatches}, resumable {@link Checkpoint}s
 * and a progress line (step, loss, learning rate, tokens/s, ETA). A step whose loss or gradients are not finite is
 * skipped and counted (see {@link TrainingStep}); the count is in the result and the checkpoint.
 */
public final class ClassifierTrainer {

    /** Outcome of a run; {@code skipped} counts the steps of the whole run, resumed ones included. */
    public record Result(long steps, long skipped, double lastLoss, double tokensPerSecond, double seconds) {}

    private final SequenceClassifier model;
    private final NDManager manager;
    private final TrainSettings s;
    private final PrintStream log;
    private final long padId;
    private final Predicate<String> trainable;
    private boolean checkpointing;

    public ClassifierTrainer(SequenceClassifier model, NDManager manager, TrainSettings settings, PrintStream log) {
        this(model, manager, settings, log, name -> true);
    }

    /** @param trainable which parameters (by Hugging Face name) are trained; the others stay frozen */
    public ClassifierTrainer(
            SequenceClassifier model,
            NDManager manager,
            TrainSettings settings,
            PrintStream log,
            Predicate<String> trainable) {
        this.model = model;
        this.manager = manager;
        this.s = settings;
        this.log = log;
        this.padId = model.padTokenId();
        this.trainable = trainable;
    }

    /**
     * Trains with activation checkpointing ({@link DjlTransformer#checkpoint}): each layer's activations are
     * recomputed in the backward pass instead of held (same gradients, about a third more compute). Built for the
     * decoder classifiers (Qwen2/Llama checkpoints, the from-scratch presets); a BERT-family encoder trains as it is.
     *
     * @throws IllegalArgumentException for a model that is not a decoder
     */
    public ClassifierTrainer activationCheckpointing(boolean on) {
        if (on && !(model instanceof DjlTransformer)) {
            throw new IllegalArgumentException("activation checkpointing is built for decoder classifiers (Qwen2, "
                    + "Llama), not for " + model.getClass().getSimpleName() + "; train without it");
        }
        this.checkpointing = on;
        return this;
    }

    /**
     * Trains on {@code train}; writes a checkpoint to {@code checkpointDir} every {@code checkpointEvery} steps and
     * at the end. With {@code resume}, a checkpoint there (made with the same settings and data size) is loaded and
     * the run continues from its step: the batch order is a function of the seed and the epoch, so the resumed run
     * sees exactly the batches the interrupted one had left.
     */
    public Result train(EncodedSet train, Path checkpointDir, boolean resume) throws IOException {
        return train(train, checkpointDir, resume, Long.MAX_VALUE);
    }

    /** As {@link #train(EncodedSet, Path, boolean)}, but returns after step {@code stopAt} (a checkpoint is written there). */
    @SuppressWarnings("try") // NDScope: arrays made inside are registered with it implicitly, never named
    public Result train(EncodedSet train, Path checkpointDir, boolean resume, long stopAt) throws IOException {
        Map<String, NDArray> params = new LinkedHashMap<>();
        Set<NDArray> trained = Set.copyOf(model.trainable(trainable));
        model.parameters().forEach((name, p) -> {
            if (trained.contains(p)) {
                params.put(name, p);
            }
        });
        List<NDArray> paramList = new ArrayList<>(params.values());
        AdamW optimizer = new AdamW(params, manager, 0.9f, 0.999f, 1e-8f, s.weightDecay());
        TrainingStep training = new TrainingStep(paramList, (lr, norm) -> optimizer.step(lr, s.clipNorm(), norm));
        List<Planned> plan = plan(train);
        long total = plan.size(); // every epoch's batches are known up front: the schedule needs the step count
        CosineSchedule schedule =
                new CosineSchedule(s.learningRate(), Math.max(1, (long) (total * s.warmupRatio())), total, 0.05f);

        long step = 0;
        long skippedBefore = 0;
        if (resume && Checkpoint.exists(checkpointDir)) {
            Checkpoint c = Checkpoint.read(checkpointDir);
            if (!c.fingerprint().equals(s.fingerprint()) || c.items() != train.size() || c.step() > total) {
                throw new IllegalStateException("checkpoint " + checkpointDir
                        + " was made with other settings or data ("
                        + c.fingerprint() + ", " + c.items() + " items; now " + s.fingerprint() + ", " + train.size()
                        + "); remove it or drop --resume");
            }
            Gradients.withoutGrad(() ->
                    params.forEach((name, p) -> p.set(c.weights().get(name).data())));
            optimizer.load(c.optimizer(), c.step());
            step = c.step();
            skippedBefore = c.skipped();
            log.printf("resuming from %s at step %d of %d%n", checkpointDir, step, total);
        }

        long startStep = step;
        long tokens = 0;
        double ema = Double.NaN;
        double lastLoss = Double.NaN;
        long start = System.nanoTime();
        while (step < total && step < stopAt) {
            Planned planned = plan.get((int) step);
            float lr = schedule.at(step);
            TrainingStep.Result r;
            try (NDScope scope = new NDScope()) {
                Batch x = batch(train, planned.items());
                // The loss stays the batch's weighted mean also when token budgets make the item count vary, as
                // with HF's group_by_length: its scale, and so the gradient norm that clipNorm bounds, does not
                // depend on how many items fit, and the learning rate means the same in both modes. A sum would
                // make a batch of 200 short items pull 20 times harder than one of 10 long ones, until clipping
                // cuts it. The price: an item in a small batch of long items weighs more in its step than one in
                // a large batch of short items. The schedule's step count is the planned batches' (above).
                r = training.step(pass(x), lr);
                tokens += x.realTokens;
            }
            step++;
            double loss = r.loss();
            lastLoss = loss;
            if (Double.isFinite(loss)) {
                ema = Double.isNaN(ema) ? loss : 0.98 * ema + 0.02 * loss;
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            if (step % s.logEvery() == 0 || step == total) {
                double rate = (step - startStep) / seconds;
                log.printf(
                        "step %d/%d  epoch %d/%d  loss %.4f (avg %.4f)  lr %.2e  |g| %.2f  %,.0f tok/s  ETA %s%n",
                        step,
                        total,
                        planned.epoch() + 1,
                        s.epochs(),
                        loss,
                        ema,
                        lr,
                        r.gradientNorm(),
                        tokens / seconds,
                        duration((total - step) / Math.max(rate, 1e-9)));
            }
            if (step % s.checkpointEvery() == 0 || step == total || step == stopAt) {
                new Checkpoint(
                                model.toTensors(),
                                optimizer.state(),
                                step,
                                skippedBefore + training.skipped(),
                                s.fingerprint(),
                                train.size())
                        .write(checkpointDir);
            }
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        long skipped = skippedBefore + training.skipped();
        if (skipped > 0) {
            log.printf(
                    "skipped %d of %d steps for a non-finite loss or gradient norm (this run: %s)%n",
                    skipped, step, training.summary());
        }
        return new Result(step, skipped, lastLoss, tokens / Math.max(seconds, 1e-9), seconds);
    }

    /** One step's batch: its epoch and its items. */
    private record Planned(int epoch, int[] items) {}

    /**
     * Every epoch's batches in order, step {@code k} being element {@code k}: a function of the settings and the
     * items' sizes only, so a resumed run finds the step it stopped at (in token-budget mode the number of batches
     * varies with the epoch's shuffle, so the run is planned whole rather than counted).
     */
    private List<Planned> plan(EncodedSet train) {
        IntFunction<List<int[]>> batches;
        if (s.batchTokens() > 0) {
            long[][][] windows = train.windows();
            int[] rows = Arrays.stream(windows).mapToInt(ws -> ws.length).toArray();
            int[] longest = Arrays.stream(windows)
                    .mapToInt(ws ->
                            Arrays.stream(ws).mapToInt(r -> r.length).max().orElse(0))
                    .toArray();
            long over = LengthGroupedBatches.oversized(rows, longest, s.batchTokens());
            log.printf(
                    "batches of at most %,d padded tokens (rows x longest row)%s%n",
                    s.batchTokens(),
                    over == 0 ? "" : "; " + over + " item(s) larger than that go alone in a batch, over the budget");
            batches = epoch -> LengthGroupedBatches.byTokens(rows, longest, s.batchTokens(), s.seed(), epoch);
        } else {
            int[] costs = train.costs();
            batches = epoch -> LengthGroupedBatches.epoch(costs, s.batchSize(), s.seed(), epoch);
        }
        List<Planned> plan = new ArrayList<>();
        for (int epoch = 0; epoch < s.epochs(); epoch++) {
            for (int[] items : batches.apply(epoch)) {
                plan.add(new Planned(epoch, items));
            }
        }
        return plan;
    }

    /** Category probabilities (sigmoid of the logits) for every item, in order, batched by length. */
    @SuppressWarnings("try") // NDScope: arrays made inside are registered with it implicitly, never named
    public float[][] predict(EncodedSet data, int batchSize) {
        int n = data.size();
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        int[] lengths = data.lengths();
        Arrays.sort(order, (a, b) -> Integer.compare(lengths[a], lengths[b]));
        float[][] out = new float[n][];
        for (int start = 0; start < n; start += batchSize) {
            int[] idx = new int[Math.min(batchSize, n - start)];
            for (int i = 0; i < idx.length; i++) {
                idx[i] = order[start + i];
            }
            try (NDScope scope = new NDScope()) {
                Batch x = batch(data, idx);
                float[] p = Activation.sigmoid(itemLogits(x)).toFloatArray();
                for (int i = 0; i < idx.length; i++) {
                    out[idx[i]] = Arrays.copyOfRange(p, i * SafetyCategory.COUNT, (i + 1) * SafetyCategory.COUNT);
                }
            }
        }
        return out;
    }

    /**
     * @param ids    (R, T) the windows of the batch's items, right padded
     * @param rowOf  (B, W) the rows of each item, -1 past its last window; null when every item has one window
     */
    private record Batch(
            NDArray ids,
            NDArray mask,
            NDArray rowOf,
            int rows,
            NDArray positive,
            NDArray unknown,
            NDArray weights,
            long realTokens) {}

    /** The step's loss and backward pass, plain or with activation checkpointing. */
    private TrainingStep.Pass pass(Batch x) {
        if (!checkpointing) {
            return TrainingStep.Pass.of(() -> loss(x, model.classify(x.ids, x.mask)));
        }
        DjlTransformer decoder = (DjlTransformer) model;
        DjlTransformer.Checkpoint[] pass = new DjlTransformer.Checkpoint[1];
        return new TrainingStep.Pass() {
            @Override
            public NDArray loss() {
                pass[0] = decoder.checkpoint(x.ids, x.mask);
                return ClassifierTrainer.this.loss(x, decoder.classify(pass[0].hidden(0, x.rows), x.ids, x.mask));
            }

            @Override
            public void backward(GradientCollector collector, NDArray loss) {
                collector.backward(loss);
                pass[0].backward();
            }
        };
    }

    private NDArray loss(Batch x, NDArray rowLogits) {
        return MultiLabelLoss.loss(itemLogits(x, rowLogits), x.positive, x.unknown, x.weights);
    }

    private NDArray itemLogits(Batch x) {
        return itemLogits(x, model.classify(x.ids, x.mask));
    }

    /**
     * Item logits (B, C) from the logits (R, C) of the batch's rows: the maximum over each item's windows, as the
     * serving scorer takes it (MIL-max).
     */
    private NDArray itemLogits(Batch x, NDArray logits) {
        if (x.rowOf == null) {
            return logits;
        }
        int c = SafetyCategory.COUNT;
        NDArray padded = logits.concat(manager.full(new Shape(1, c), -1e4f), 0).reshape(-1); // row R: never the max
        NDArray rows =
                x.rowOf.eq(-1).toType(DataType.INT64, false).mul(x.rows + 1L).add(x.rowOf); // -1 -> R
        NDArray linear = rows.expandDims(2)
                .mul((long) c)
                .add(manager.arange(0, c, 1, DataType.INT64).reshape(1, 1, c));
        return padded.take(linear).max(new int[] {1}); // (B, W, C) -> (B, C)
    }

    /** Right-padded windows and masks for the items {@code idx} (padding with the pad id; the mask hides it). */
    private Batch batch(EncodedSet data, int[] idx) {
        int t = 0;
        int r = 0;
        int w = 1;
        for (int i : idx) {
            for (long[] row : data.windows()[i]) {
                t = Math.max(t, row.length);
            }
            r += data.windows()[i].length;
            w = Math.max(w, data.windows()[i].length);
        }
        long[] ids = new long[r * t];
        long[] mask = new long[r * t];
        long[] rowOf = new long[idx.length * w];
        Arrays.fill(rowOf, -1L);
        float[] pos = new float[idx.length * SafetyCategory.COUNT];
        float[] unk = new float[idx.length];
        float[] wt = new float[idx.length];
        long real = 0;
        Arrays.fill(ids, padId);
        int row = 0;
        for (int b = 0; b < idx.length; b++) {
            long[][] windows = data.windows()[idx[b]];
            for (int k = 0; k < windows.length; k++, row++) {
                System.arraycopy(windows[k], 0, ids, row * t, windows[k].length);
                Arrays.fill(mask, row * t, row * t + windows[k].length, 1L);
                rowOf[b * w + k] = row;
                real += windows[k].length;
            }
            System.arraycopy(data.positive()[idx[b]], 0, pos, b * SafetyCategory.COUNT, SafetyCategory.COUNT);
            unk[b] = data.unknown()[idx[b]];
            wt[b] = data.weights()[idx[b]];
        }
        return new Batch(
                manager.create(ids, new Shape(r, t)),
                manager.create(mask, new Shape(r, t)),
                w == 1 ? null : manager.create(rowOf, new Shape(idx.length, w)),
                r,
                manager.create(pos, new Shape(idx.length, SafetyCategory.COUNT)),
                manager.create(unk),
                manager.create(wt),
                real);
    }

    static String duration(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600
                ? String.format("%dh%02dm", s / 3600, s % 3600 / 60)
                : String.format("%dm%02ds", s / 60, s % 60);
    }
}
