package dev.duoguard.trainer.train;

/**
 * Optimisation settings of a classifier run. DuoGuard's own (duoguard-method.md) are lr 5e-5, 2 epochs, warm-up
 * 0.1, clip 1.0, 512 tokens, for a pretrained 0.5B model; a model trained from scratch needs a far higher rate.
 *
 * @param maxTokens       items are truncated to their first {@code maxTokens} tokens
 * @param logEvery        steps between progress lines
 * @param checkpointEvery steps between checkpoints (the last step always writes one)
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
        int checkpointEvery) {

    public TrainSettings {
        if (epochs < 1
                || batchSize < 1
                || maxTokens < 1
                || !(learningRate > 0)
                || warmupRatio < 0
                || warmupRatio >= 1
                || logEvery < 1
                || checkpointEvery < 1) {
            throw new IllegalArgumentException("invalid training settings: " + this);
        }
    }

    /** The fields a resumed run must share with the checkpoint it resumes. */
    public String fingerprint() {
        return epochs + "/" + batchSize + "/" + learningRate + "/" + warmupRatio + "/" + weightDecay + "/" + clipNorm
                + "/" + maxTokens + "/" + seed;
    }
}
