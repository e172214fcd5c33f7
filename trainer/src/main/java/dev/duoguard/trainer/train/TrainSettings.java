package dev.duoguard.trainer.train;

import java.util.ArrayList;
import java.util.List;

/**
 * Optimisation settings of a classifier run. DuoGuard's own (duoguard-method.md) are lr 5e-5, 2 epochs, warm-up
 * 0.1, clip 1.0, 512 tokens, for a pretrained 0.5B model; a model trained from scratch needs a far higher rate.
 *
 * @param batchSize       items per batch (unused with {@code batchTokens})
 * @param maxTokens       items are truncated to their first {@code maxTokens} tokens
 * @param logEvery        steps between progress lines
 * @param checkpointEvery steps between checkpoints (the last step always writes one)
 * @param batchTokens     0: batches of {@code batchSize} items; else token-budget batches of at most this many
 *                        padded tokens (rows x longest row; see {@link LengthGroupedBatches#byTokens})
 */
public record TrainSettings(
        int epochs,
        int batchSize,
        float learningRate,
        float warmupRatio,
        float weightDecay,
        float clipNorm,
        int maxTokens,
        long seed,
        int logEvery,
        int checkpointEvery,
        int batchTokens) {

    public TrainSettings {
        // the values themselves: in a compact constructor the fields are not assigned yet (this prints zeros)
        List<String> bad = new ArrayList<>();
        if (epochs < 1) {
            bad.add("epochs " + epochs + " (at least 1)");
        }
        if (batchSize < 1) {
            bad.add("batch size " + batchSize + " (at least 1)");
        }
        if (maxTokens < 1) {
            bad.add("max tokens " + maxTokens + " (at least 1)");
        }
        if (!(learningRate > 0)) {
            bad.add("learning rate " + learningRate + " (above 0)");
        }
        if (!(warmupRatio >= 0 && warmupRatio < 1)) {
            bad.add("warm-up ratio " + warmupRatio + " (from 0 up to 1)");
        }
        if (logEvery < 1) {
            bad.add("log every " + logEvery + " (at least 1)");
        }
        if (checkpointEvery < 1) {
            bad.add("checkpoint every " + checkpointEvery + " (at least 1)");
        }
        if (batchTokens < 0) {
            bad.add("batch tokens " + batchTokens + " (0: off, or a number of padded tokens)");
        }
        if (!bad.isEmpty()) {
            throw new IllegalArgumentException("invalid training settings: " + String.join(", ", bad));
        }
    }

    /** Batches of {@code batchSize} items. */
    public TrainSettings(
            int epochs,
            int batchSize,
            float learningRate,
            float warmupRatio,
            float weightDecay,
            float clipNorm,
            int maxTokens,
            long seed,
            int logEvery,
            int checkpointEvery) {
        this(
                epochs,
                batchSize,
                learningRate,
                warmupRatio,
                weightDecay,
                clipNorm,
                maxTokens,
                seed,
                logEvery,
                checkpointEvery,
                0);
    }

    /**
     * The fields a resumed run must share with the checkpoint it resumes (the batch order depends on them). A run of
     * fixed-size batches keeps the fingerprint it had before token budgets existed, so its checkpoints still resume.
     */
    public String fingerprint() {
        return epochs + "/" + batchSize + "/" + learningRate + "/" + warmupRatio + "/" + weightDecay + "/" + clipNorm
                + "/" + maxTokens + "/" + seed + (batchTokens > 0 ? "/tokens=" + batchTokens : "");
    }
}
