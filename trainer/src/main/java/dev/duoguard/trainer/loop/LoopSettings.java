package dev.duoguard.trainer.loop;

import dev.duoguard.trainer.train.TrainPreset;

import java.util.List;

/**
 * Settings of the two-player loop.
 *
 * @param languages        target languages of generation (en/fr/es/de by default, any list allowed)
 * @param promptsPerIteration (seed, language) requests per iteration, split over languages by {@link #budget}
 * @param samples          n samples per request (DuoGuard: 8)
 * @param temperature      sampling temperature (DuoGuard: 0.9; top_p 1.0)
 * @param beta             DPO β (DuoGuard: 0.01)
 * @param rpoAlpha         weight of the RPO term (DuoGuard: 0.4)
 * @param dpo              false for the control "synthetic data without the DPO update"
 * @param synthetic        false for the control "no synthetic data"
 * @param hardOnly         retrain on the misclassified synthetic samples only (else on every accepted one)
 */
public record LoopSettings(int iterations, List<String> languages, int promptsPerIteration, int samples,
                           float temperature, int maxNewTokens, float beta, float rpoAlpha, float dpoLearningRate,
                           int dpoEpochs, boolean dpo, boolean synthetic, boolean hardOnly, String generatorShape,
                           int generatorVocab, int generatorEpochs, float generatorLearningRate, int maxSeedItems,
                           TrainPreset classifier, long seed) {

    public static final List<String> DEFAULT_LANGUAGES = List.of("en", "fr", "es", "de");

    /** Tiny models, a few minutes on 2 cores: for CI and a first look. */
    public static LoopSettings quick() {
        return new LoopSettings(1, DEFAULT_LANGUAGES, 48, 4, 0.9f, 24, 0.01f, 0.4f, 5e-4f, 2, true, true, false,
                "tiny", 1024, 3, 3e-3f, 1500, TrainPreset.of("tiny"), 23);
    }

    /** Small CPU models for the study: tens of minutes per iteration on 2 cores. */
    public static LoopSettings standard() {
        return new LoopSettings(3, DEFAULT_LANGUAGES, 400, 8, 0.9f, 48, 0.01f, 0.4f, 2e-4f, 2, true, true, false,
                "tiny", 4096, 4, 2e-3f, 12000, TrainPreset.of("tiny"), 23);
    }
}
