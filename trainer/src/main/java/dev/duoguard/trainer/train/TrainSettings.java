package dev.duoguard.trainer.train;

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
        if (epochs < 1
                || batchSize < 1
                || maxTokens < 1
                || !(learningRate > 0)
                || warmupRatio < 0
                || warmupRatio >= 1
                || logEvery < 1
                || checkpointEvery < 1
                || batchTokens < 0) {
            throw new IllegalArgumentException("invalid training settings: " + this);
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
