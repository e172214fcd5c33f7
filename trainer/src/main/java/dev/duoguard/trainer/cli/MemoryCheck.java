package dev.duoguard.trainer.cli;

import dev.duoguard.trainer.hf.CausalLmCheckpoint;
import dev.duoguard.trainer.hf.TransformerConfig;
import dev.duoguard.trainer.loop.LoopSettings;
import dev.duoguard.trainer.loop.SequenceLogProbs;
import dev.duoguard.trainer.train.EncodedSet;
import dev.duoguard.trainer.train.MemoryPlan;
import dev.duoguard.trainer.train.TrainPreset;
import dev.duoguard.trainer.train.TrainSettings;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * The memory estimate {@code train --from} and {@code loop} print before they start, and the refusal when it does not
 * fit the device ({@link MemoryPlan}); {@code --no-memory-check} runs anyway.
 */
final class MemoryCheck {

    /** Rows per sampling batch (prompts x samples) and preference pairs per DPO step, as the loop runs them. */
    static final int GENERATION_ROWS = 64;

    /**
     * Pairs of the largest DPO batch, each row at the longest (prompt + new tokens): {@link LoopSettings#DPO_PAIRS},
     * or with a token budget as many as fit in it (at least one: a longer pair trains alone).
     */
    static int dpoPairs(LoopSettings s) {
        long row = 2L * (s.maxPromptTokens() + s.maxNewTokens());
        return s.dpoBatchTokens() > 0 ? (int) Math.max(1, s.dpoBatchTokens() / row) : LoopSettings.DPO_PAIRS;
    }

    @Option(
            names = "--no-memory-check",
            description = "start even when the memory estimate printed before the run exceeds the memory available")
    boolean skip;

    /** {@code train --from DIR} with {@code preset}'s batch size and token limit, with or without checkpointing. */
    void train(Path from, TrainPreset preset, boolean checkpointing, PrintStream out) throws IOException {
        MemoryPlan.Net net = MemoryPlan.classifier(from, preset);
        apply(
                MemoryPlan.classifierTraining(
                        net, rows(preset.settings(), net), preset.settings().maxTokens(), checkpointing),
                out);
    }

    /**
     * Rows of the largest classifier batch, each at the longest (T tokens): {@code --batch} items of one window each
     * (an item longer than a window makes up to {@link EncodedSet#MAX_TRAINING_WINDOWS} rows, so a batch of long
     * items can hold that many times more: the estimate assumes short items, as most chat messages are), or with
     * {@code --batch-tokens} P as many full rows as fit in P, and at least an item's windows (an item over the
     * budget trains alone): full-width rows are the worst case, since attention grows with the width at a fixed
     * rows x width.
     */
    static int rows(TrainSettings s, MemoryPlan.Net net) {
        if (s.batchTokens() <= 0) {
            return s.batchSize();
        }
        long t = Math.min(s.maxTokens(), net.maxTokens());
        long budget = Math.max(s.batchTokens(), EncodedSet.MAX_TRAINING_WINDOWS * t);
        return (int) ((budget + t - 1) / t);
    }

    /** The loop with its generator, judge and classifier as {@code s} names them. */
    void loop(LoopSettings s, PrintStream out) throws IOException {
        TransformerConfig generator = s.generatorFrom() != null
                ? CausalLmCheckpoint.read(s.generatorFrom()).config()
                : TransformerConfig.preset(s.generatorShape(), s.generatorVocab(), 0, 0);
        // the judge on the LoRA generator's base holds no weights of its own
        TransformerConfig judge = s.judge() != null && !s.judgeOnGeneratorBase()
                ? CausalLmCheckpoint.read(s.judge()).config()
                : null;
        TrainPreset classifier = s.classifier();
        apply(
                MemoryPlan.loop(
                        generator,
                        s.lora() != null ? MemoryPlan.loraParameters(generator, s.lora()) : 0,
                        s.dtype(),
                        judge,
                        Math.max(1, GENERATION_ROWS / s.samples()) * s.samples(),
                        s.maxPromptTokens(),
                        s.maxNewTokens(),
                        s.dpo() ? dpoPairs(s) : 0,
                        s.activationCheckpointing() ? SequenceLogProbs.HEAD_VALUES : 0,
                        s.classifierFrom() != null
                                ? MemoryPlan.classifier(s.classifierFrom(), classifier)
                                : MemoryPlan.classifier(classifier),
                        classifier.settings().batchSize(),
                        classifier.settings().maxTokens()),
                out);
    }

    private void apply(MemoryPlan plan, PrintStream out) {
        MemoryPlan.Available available = MemoryPlan.available();
        plan.print(out, available);
        if (!skip) {
            plan.check(available);
        }
    }
}
