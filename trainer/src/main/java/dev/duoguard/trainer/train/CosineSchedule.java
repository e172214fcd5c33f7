package dev.duoguard.trainer.train;

/** Linear warm-up to the peak learning rate, then cosine decay to {@code floor × peak} at the last step. */
public record CosineSchedule(float peak, long warmupSteps, long totalSteps, float floor) {

    public float at(long step) {
        if (step < warmupSteps) {
            return peak * (step + 1) / warmupSteps;
        }
        double progress = (step - warmupSteps) / (double) Math.max(1, totalSteps - warmupSteps);
        double cosine = 0.5 * (1 + Math.cos(Math.PI * Math.min(1.0, progress)));
        return (float) (peak * (floor + (1 - floor) * cosine));
    }
}
