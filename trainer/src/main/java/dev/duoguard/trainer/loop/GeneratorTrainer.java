package dev.duoguard.trainer.loop;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.duoguard.runtime.tokenizer.GuardrailTokenizer;
import dev.duoguard.trainer.engine.DjlTransformer;
import dev.duoguard.trainer.engine.TrainingStep;
import dev.duoguard.trainer.train.AdamW;
import dev.duoguard.trainer.train.CosineSchedule;
import dev.duoguard.trainer.train.LengthGroupedBatches;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;

/**
 * Trains the generator: supervised on request/answer pairs (a from-scratch generator learns the task this way), and
 * with {@link DpoLoss} on preference pairs against a {@link DpoReference}. A prompt longer than {@code maxPromptTokens}
 * loses the end of its seed text, never its header (target language, label, categories) nor {@code <|new|>}: see
 * {@link #promptIds}. Completions keep their first {@code maxCompletionTokens}. Both take {@link TrainingStep}s
 * (global-norm clipping at 1.0); skipped steps are counted in the log.
 */
public final class GeneratorTrainer {

    /** A preference pair from one prompt: chosen = a sample the classifier got wrong, rejected = one it got right. */
    public record PreferencePair(String prompt, String chosen, String rejected) {}

    record Encoded(long[] prompt, long[] completion) {}

    /** Where a {@link GeneratorPrompts#control} prompt's seed text starts and what follows it. */
    static final String SEED = "<|seed|>";

    static final String NEW = "<|new|>";

    private final DjlTransformer model;
    private final NDManager manager;
    private final GuardrailTokenizer tokenizer;
    private final int maxPromptTokens;
    private final int maxCompletionTokens;
    private final long padId;
    private final long seedId;
    private final long newId;
    private boolean checkpointing;

    public GeneratorTrainer(
            DjlTransformer model,
            NDManager manager,
            GuardrailTokenizer tokenizer,
            int maxPromptTokens,
            int maxCompletionTokens) {
        this.model = model;
        this.manager = manager;
        this.tokenizer = tokenizer;
        this.maxPromptTokens = maxPromptTokens;
        this.maxCompletionTokens = maxCompletionTokens;
        this.padId = Math.max(0, model.config().padTokenId());
        this.seedId = specialId(tokenizer, SEED);
        this.newId = specialId(tokenizer, NEW);
    }

    /**
     * Trains with activation checkpointing ({@link DjlTransformer#checkpoint}): the layers' activations of a step are
     * recomputed in its backward pass instead of held, and the LM head runs a few rows at a time; same losses and
     * gradients (to float rounding), about a third more compute. For checkpoints whose DPO batches do not fit
     * otherwise.
     */
    public GeneratorTrainer activationCheckpointing(boolean on) {
        this.checkpointing = on;
        return this;
    }

    /**
     * A dynamic loss scale when the model computes in fp16 (an fp16 base under fp32 adapters): the gradients pass
     * through fp16 activations on their way to the adapters, where the smallest would round to zero.
     */
    private TrainingStep.LossScale lossScale() {
        return model.dataType() == DataType.FLOAT16 ? TrainingStep.LossScale.forFp16() : null;
    }

    /** The id of a special token; -1 when the tokenizer does not have it as one token. */
    private static long specialId(GuardrailTokenizer tokenizer, String token) {
        long[] ids = tokenizer.encode(token);
        return ids.length == 1 ? ids[0] : -1;
    }

    /**
     * Prompt ids as the generator sees them, at most {@code maxPromptTokens}. A longer prompt keeps everything up to
     * its first {@code <|seed|>} (the header the generator is conditioned on) and everything from its last
     * {@code <|new|>}, and as much of the seed text's beginning as fits between them (left truncation, which keeps
     * a prompt's end, cut the header off long seeds: most Do-Not-Answer and jailbreak items).
     *
     * @throws IllegalArgumentException when a prompt too long has no seed section to shorten, or its header and end
     *     alone are longer than {@code maxPromptTokens}
     */
    public long[] promptIds(String prompt) {
        long[] p = tokenizer.encode(prompt);
        if (p.length <= maxPromptTokens) {
            return p;
        }
        int seedStart = -1;
        int newAt = -1;
        for (int i = 0; i < p.length; i++) {
            if (p[i] == seedId && seedStart < 0) {
                seedStart = i + 1;
            }
            if (p[i] == newId) {
                newAt = i;
            }
        }
        if (seedStart < 0 || newAt < seedStart) {
            throw new IllegalArgumentException("a generator prompt of " + p.length + " tokens is longer than "
                    + maxPromptTokens + " and has no " + SEED + " ... " + NEW + " section to shorten");
        }
        int fixed = seedStart + (p.length - newAt);
        if (fixed > maxPromptTokens) {
            throw new IllegalArgumentException("the generator prompt's header and end alone are " + fixed
                    + " tokens, more than the " + maxPromptTokens + " a prompt may have");
        }
        long[] out = new long[maxPromptTokens];
        int keep = maxPromptTokens - fixed;
        System.arraycopy(p, 0, out, 0, seedStart + keep);
        System.arraycopy(p, newAt, out, seedStart + keep, p.length - newAt);
        return out;
    }

    Encoded encode(String prompt, String completion) {
        long[] c = tokenizer.encode(completion);
        return new Encoded(
                promptIds(prompt), c.length > maxCompletionTokens ? Arrays.copyOf(c, maxCompletionTokens) : c);
    }

    private record Rows(NDArray ids, NDArray mask, int[] promptLengths, NDArray completionTokens) {}

    private Rows rows(List<Encoded> batch) {
        int t = batch.stream()
                .mapToInt(e -> e.prompt.length + e.completion.length)
                .max()
                .orElseThrow();
        long[] ids = new long[batch.size() * t];
        long[] mask = new long[batch.size() * t];
        int[] promptLengths = new int[batch.size()];
        float[] completion = new float[batch.size()];
        Arrays.fill(ids, padId);
        for (int r = 0; r < batch.size(); r++) {
            Encoded e = batch.get(r);
            System.arraycopy(e.prompt, 0, ids, r * t, e.prompt.length);
            System.arraycopy(e.completion, 0, ids, r * t + e.prompt.length, e.completion.length);
            Arrays.fill(mask, r * t, r * t + e.prompt.length + e.completion.length, 1L);
            promptLengths[r] = e.prompt.length;
            completion[r] = Math.max(1, e.completion.length);
        }
        return new Rows(
                manager.create(ids, new Shape(batch.size(), t)),
                manager.create(mask, new Shape(batch.size(), t)),
                promptLengths,
                manager.create(completion));
    }

    /**
     * With LoRA adapters, only they train (the base stays frozen); without, every weight does. In a scope: marking a
     * weight trainable zeroes its gradient through a handle that would otherwise stay on the model's manager, one
     * per weight and call.
     */
    @SuppressWarnings("try") // NDScope: arrays made inside are registered with it implicitly, never named
    private Map<String, NDArray> trainableParameters() {
        if (model.loraConfig() != null) {
            return model.loraParameters();
        }
        List<NDArray> list;
        try (NDScope scope = new NDScope()) {
            list = model.trainable(name -> true);
        }
        Map<String, NDArray> out = new LinkedHashMap<>();
        model.parameters().forEach((name, p) -> {
            if (list.contains(p)) {
                out.put(name, p);
            }
        });
        return out;
    }

    /**
     * Supervised training on (prompt, completion) pairs: mean token NLL of the completions. Returns the last loss
     * (that of the last step, applied or skipped).
     */
    public double supervised(
            List<GeneratorCorpus.Pair> pairs, int epochs, int batchSize, float lr, long seed, PrintStream log) {
        List<Encoded> data = new ArrayList<>(pairs.size());
        pairs.forEach(p -> data.add(encode(p.prompt(), p.completion())));
        model.seedCheckpointDropout(seed);
        Map<String, NDArray> params = trainableParameters();
        try (NDManager moments = manager.newSubManager()) {
            AdamW opt = new AdamW(params, moments, 0.9f, 0.999f, 1e-8f, 0.01f);
            TrainingStep training = new TrainingStep(
                            new ArrayList<>(params.values()), (rate, norm) -> opt.step(rate, 1.0f, norm))
                    .withLossScale(lossScale());
            return supervised(data, training, epochs, batchSize, lr, seed, log);
        }
    }

    @SuppressWarnings("try") // NDScope: arrays made inside are registered with it implicitly, never named
    private double supervised(
            List<Encoded> data,
            TrainingStep training,
            int epochs,
            int batchSize,
            float lr,
            long seed,
            PrintStream log) {
        int perEpoch = (data.size() + batchSize - 1) / batchSize;
        long total = (long) perEpoch * epochs;
        CosineSchedule schedule = new CosineSchedule(lr, Math.max(1, total / 20), total, 0.05f);
        Random random = new Random(seed);
        double last = Double.NaN;
        long step = 0;
        long start = System.nanoTime();
        for (int epoch = 0; epoch < epochs; epoch++) {
            List<Encoded> order = new ArrayList<>(data);
            Collections.shuffle(order, random);
            for (int s = 0; s < order.size(); s += batchSize) {
                List<Encoded> batch = order.subList(s, Math.min(order.size(), s + batchSize));
                try (NDScope scope = new NDScope()) {
                    Rows x = rows(batch);
                    last = training.step(
                                    pass(List.of(x), lp -> lp.get(0).sum().neg().div(x.completionTokens.sum())),
                                    schedule.at(step))
                            .loss();
                }
                step++;
                if (step % 50 == 0 || step == total) {
                    log.printf(
                            "generator step %d/%d  nll %.3f  %.1f steps/s  skipped %d%n",
                            step, total, last, step / ((System.nanoTime() - start) / 1e9), training.skipped());
                }
            }
        }
        log.println("generator supervised training: " + training.summary());
        return last;
    }

    /**
     * A training step's forward and backward pass in training mode: {@code loss} of the completion log-probabilities
     * of each of {@code rows}, plain or with activation checkpointing ({@link #activationCheckpointing}).
     */
    private TrainingStep.Pass pass(List<Rows> rows, Function<List<NDArray>, NDArray> loss) {
        if (!checkpointing) {
            return TrainingStep.Pass.of(() -> model.training(() -> loss.apply(rows.stream()
                    .map(x -> SequenceLogProbs.of(model, x.ids, x.mask, x.promptLengths))
                    .toList())));
        }
        List<SequenceLogProbs.Checkpointed> passes = new ArrayList<>();
        return new TrainingStep.Pass() {
            @Override
            public NDArray loss() {
                return model.training(() -> {
                    rows.forEach(x -> passes.add(SequenceLogProbs.checkpointed(model, x.ids, x.mask, x.promptLengths)));
                    return loss.apply(passes.stream()
                            .map(SequenceLogProbs.Checkpointed::values)
                            .toList());
                });
            }

            @Override
            public void backward(GradientCollector collector, NDArray l) {
                collector.backward(l);
                model.training(() -> {
                    passes.forEach(SequenceLogProbs.Checkpointed::backward);
                    return null;
                });
            }
        };
    }

    /** Mean DPO margin Σ log-ratios (chosen − rejected) of {@code pairs} against {@code reference}, without gradients. */
    @SuppressWarnings("try") // NDScope: arrays made inside are registered with it implicitly, never named
    public double meanMargin(List<PreferencePair> pairs, DpoReference reference) {
        double sum = 0;
        for (PreferencePair p : pairs) {
            try (NDScope scope = new NDScope()) {
                float[] lp = logRatios(List.of(p), reference);
                sum += lp[0];
            }
        }
        return pairs.isEmpty() ? Double.NaN : sum / pairs.size();
    }

    /** Chosen and rejected completions of {@code batch} as padded rows. */
    private Rows[] pairRows(List<PreferencePair> batch) {
        List<Encoded> chosen = new ArrayList<>();
        List<Encoded> rejected = new ArrayList<>();
        batch.forEach(p -> {
            chosen.add(encode(p.prompt(), p.chosen()));
            rejected.add(encode(p.prompt(), p.rejected()));
        });
        return new Rows[] {rows(chosen), rows(rejected)};
    }

    private float[] logRatios(List<PreferencePair> batch, DpoReference reference) {
        Rows[] cr = pairRows(batch);
        Rows c = cr[0];
        Rows r = cr[1];
        NDArray margin = SequenceLogProbs.of(model, c.ids, c.mask, c.promptLengths)
                .sub(reference.logProbs(c.ids, c.mask, c.promptLengths))
                .sub(SequenceLogProbs.of(model, r.ids, r.mask, r.promptLengths)
                        .sub(reference.logProbs(r.ids, r.mask, r.promptLengths)));
        return margin.toFloatArray();
    }

    /**
     * DPO + RPO against {@code reference}; returns the mean loss of the last epoch (skipped steps included) and logs
     * how many steps were skipped. The reference's log-probabilities are computed without gradients. With LoRA
     * adapters on the model only they train, with their dropout active.
     */
    public double dpo(
            List<PreferencePair> pairs,
            DpoReference reference,
            float beta,
            float alpha,
            float lr,
            int epochs,
            int batchSize,
            long seed,
            PrintStream log) {
        return dpo(pairs, reference, beta, alpha, lr, epochs, batchSize, 0, seed, log);
    }

    /**
     * {@link #dpo(List, DpoReference, float, float, float, int, int, long, PrintStream)} with token-budget batches
     * when {@code batchTokens} > 0: as many pairs as fit in that many padded tokens, chosen and rejected rows counted
     * at the pair's longer one ({@code LengthGroupedBatches.byTokens}); a pair over the budget goes alone.
     */
    public double dpo(
            List<PreferencePair> pairs,
            DpoReference reference,
            float beta,
            float alpha,
            float lr,
            int epochs,
            int batchSize,
            long batchTokens,
            long seed,
            PrintStream log) {
        if (pairs.isEmpty()) {
            return Double.NaN;
        }
        model.seedCheckpointDropout(seed);
        Map<String, NDArray> params = trainableParameters();
        // each call is its own DPO run with a fresh optimizer (the paper's per-iteration recipe); its moment buffers,
        // one pair per trainable weight, are freed with it instead of piling up on the generator's manager
        try (NDManager moments = manager.newSubManager()) {
            AdamW opt = new AdamW(params, moments, 0.9f, 0.999f, 1e-8f, 0f);
            TrainingStep training = new TrainingStep(
                            new ArrayList<>(params.values()), (rate, norm) -> opt.step(rate, 1.0f, norm))
                    .withLossScale(lossScale());
            return dpo(pairs, reference, training, beta, alpha, lr, epochs, batchSize, batchTokens, seed, log);
        }
    }

    @SuppressWarnings("try") // NDScope: arrays made inside are registered with it implicitly, never named
    private double dpo(
            List<PreferencePair> pairs,
            DpoReference reference,
            TrainingStep training,
            float beta,
            float alpha,
            float lr,
            int epochs,
            int batchSize,
            long batchTokens,
            long seed,
            PrintStream log) {
        Random random = new Random(seed);
        double epochLoss = Double.NaN;
        int[] rows = new int[pairs.size()];
        int[] longest = new int[pairs.size()];
        if (batchTokens > 0) {
            Arrays.fill(rows, 2); // chosen and rejected, each padded to its side's longest
            for (int i = 0; i < pairs.size(); i++) {
                PreferencePair p = pairs.get(i);
                Encoded c = encode(p.prompt(), p.chosen());
                Encoded r = encode(p.prompt(), p.rejected());
                longest[i] = Math.max(c.prompt.length + c.completion.length, r.prompt.length + r.completion.length);
            }
            long over = LengthGroupedBatches.oversized(rows, longest, batchTokens);
            if (over > 0) {
                log.printf("DPO: %d pairs are longer than the %d-token budget and train alone%n", over, batchTokens);
            }
        }
        for (int epoch = 0; epoch < epochs; epoch++) {
            List<List<PreferencePair>> batches = new ArrayList<>();
            if (batchTokens > 0) {
                for (int[] b : LengthGroupedBatches.byTokens(rows, longest, batchTokens, seed, epoch)) {
                    batches.add(Arrays.stream(b).mapToObj(pairs::get).toList());
                }
            } else {
                List<PreferencePair> order = new ArrayList<>(pairs);
                Collections.shuffle(order, random);
                for (int s = 0; s < order.size(); s += batchSize) {
                    batches.add(order.subList(s, Math.min(order.size(), s + batchSize)));
                }
            }
            double sum = 0;
            int n = 0;
            for (List<PreferencePair> batch : batches) {
                try (NDScope scope = new NDScope()) {
                    Rows[] cr = pairRows(batch);
                    Rows c = cr[0];
                    Rows r = cr[1];
                    // before the policy's forward, each in a scope of its own: only the (B) results stay alive
                    NDArray refC = reference.logProbs(c.ids, c.mask, c.promptLengths);
                    NDArray refR = reference.logProbs(r.ids, r.mask, r.promptLengths);
                    double loss = training.step(
                                    pass(
                                            List.of(c, r),
                                            lp -> DpoLoss.loss(
                                                    lp.get(0), lp.get(1), refC, refR, c.completionTokens, beta, alpha)),
                                    lr)
                            .loss();
                    sum += loss * batch.size();
                    n += batch.size();
                }
            }
            epochLoss = sum / n;
        }
        log.printf("DPO: %s, last epoch loss %.4f%n", training.summary(), epochLoss);
        return epochLoss;
    }
}
