package dev.duoguard.trainer.cli;

import dev.duoguard.trainer.train.TrainPreset;
import dev.duoguard.trainer.train.TrainSettings;
import picocli.CommandLine.Option;

/**
 * The classifier recipe the trainer service retrains every iteration: a {@link TrainPreset} and what of it is
 * changed. Unset options keep the preset's values; every option also reads an environment variable (a container
 * sets those).
 */
final class ClassifierRecipeOptions {

    /** The recipe that made the shipped model ({@code models/default}: its manifest's provenance names it). */
    static final String DEFAULT_PRESET = "default";
    /** With {@code --quick}: tiny models for CI and demos. */
    static final String QUICK_PRESET = "tiny";

    @Option(
            names = "--classifier-preset",
            defaultValue = "${env:DUOGUARD_TRAINER_CLASSIFIER_PRESET}",
            description = "default | minilm-en | scratch | tiny (default: $DUOGUARD_TRAINER_CLASSIFIER_PRESET, else "
                    + DEFAULT_PRESET + ", the shipped model's recipe; " + QUICK_PRESET + " with --quick)")
    String preset;

    @Option(
            names = "--classifier-max-items",
            defaultValue = "${env:DUOGUARD_TRAINER_CLASSIFIER_MAX_ITEMS}",
            description = "train on a seeded sample of at most N base items, 0 = all (default: the preset's; "
                    + "$DUOGUARD_TRAINER_CLASSIFIER_MAX_ITEMS)")
    Integer maxItems;

    @Option(
            names = "--classifier-epochs",
            defaultValue = "${env:DUOGUARD_TRAINER_CLASSIFIER_EPOCHS}",
            description = "(default: the preset's; $DUOGUARD_TRAINER_CLASSIFIER_EPOCHS)")
    Integer epochs;

    @Option(
            names = "--classifier-batch",
            defaultValue = "${env:DUOGUARD_TRAINER_CLASSIFIER_BATCH}",
            description = "(default: the preset's; $DUOGUARD_TRAINER_CLASSIFIER_BATCH)")
    Integer batch;

    @Option(
            names = "--classifier-lr",
            defaultValue = "${env:DUOGUARD_TRAINER_CLASSIFIER_LR}",
            description = "(default: the preset's; $DUOGUARD_TRAINER_CLASSIFIER_LR)")
    Float lr;

    @Option(
            names = "--classifier-max-tokens",
            defaultValue = "${env:DUOGUARD_TRAINER_CLASSIFIER_MAX_TOKENS}",
            description = "items are cut into windows of this many tokens (default: the preset's; "
                    + "$DUOGUARD_TRAINER_CLASSIFIER_MAX_TOKENS)")
    Integer maxTokens;

    /**
     * The recipe: the named preset ({@value #DEFAULT_PRESET} unless {@code quick}) with the options given.
     *
     * @throws IllegalArgumentException for an unknown preset or a value out of range, naming the option
     */
    TrainPreset recipe(boolean quick) {
        TrainPreset p = TrainPreset.of(preset != null ? preset : quick ? QUICK_PRESET : DEFAULT_PRESET);
        if (maxItems != null && maxItems < 0) {
            throw new IllegalArgumentException("--classifier-max-items must be 0 (all) or more (got " + maxItems + ")");
        }
        TrainSettings s = p.settings();
        TrainSettings settings;
        try {
            settings = new TrainSettings(
                    or(epochs, s.epochs()),
                    or(batch, s.batchSize()),
                    or(lr, s.learningRate()),
                    s.warmupRatio(),
                    s.weightDecay(),
                    s.clipNorm(),
                    or(maxTokens, s.maxTokens()),
                    s.seed(),
                    s.logEvery(),
                    s.checkpointEvery());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(
                    "--classifier-epochs, --classifier-batch, --classifier-max-tokens must be at least 1 and "
                            + "--classifier-lr above 0: " + e.getMessage(),
                    e);
        }
        return p.with(settings, p.caps(), or(maxItems, p.maxTrainItems()), p.fp16Bundle());
    }

    private static <T> T or(T value, T fallback) {
        return value != null ? value : fallback;
    }
}
