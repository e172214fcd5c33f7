package dev.duoguard.trainer.train;

import java.util.Map;

/**
 * A named recipe: backbone, optimisation settings, caps on how many training items a source contributes, how the
 * mix is weighted, and the false-positive rate the thresholds are calibrated for.
 *
 * <ul>
 *   <li>{@code default}: the project's committed bundle ({@code models/default}): the pretrained English sentence
 *       encoder all-MiniLM-L6-v2 (from its Maven jar) fine-tuned with its top layers trainable, on the train seeds
 *       plus their Spanish/French machine translations, on 2 CPU cores in about 90 minutes;</li>
 *   <li>{@code minilm-en}: the same without the translations (the candidates table's control);</li>
 *   <li>{@code scratch}: the earlier default, a Qwen2-style decoder trained from scratch with a byte-level BPE
 *       tokenizer ({@code small} shape);</li>
 *   <li>{@code tiny}: for tests and quick loops (tiny decoder from scratch).</li>
 * </ul>
 *
 * @param backbone        {@code scratch-small}, {@code scratch-tiny} (a decoder of that {@code TransformerConfig}
 *                        preset trained from scratch) or the name of a built-in pretrained encoder
 * @param trainableLayers pretrained encoders: how many top layers are fine-tuned (the head always is; -1 = all)
 * @param maxTrainItems   keep at most this many training items (a seeded sample; 0 = all)
 * @param fp16Bundle      store the bundle's weight matrices in fp16 (the committed default stays small in git)
 * @param targetFpr       thresholds are fitted on dev for this false-positive rate on safe items
 */
public record TrainPreset(
        String name,
        String backbone,
        int vocabSize,
        TrainSettings settings,
        Map<String, Integer> caps,
        Mix mix,
        int trainableLayers,
        int maxTrainItems,
        boolean fp16Bundle,
        double targetFpr) {

    /**
     * @param translations    add the Spanish/French machine translations of the train seeds
     * @param inferCategories name categories of unsafe items whose source gives none (keyword rules)
     * @param unsafePrior     share of the loss weight carried by unsafe items in each language; 0: every item
     *                        weighs 1 (no reweighting)
     * @param temper          exponent of the language and group tempering (see {@code MixWeights})
     */
    public record Mix(boolean translations, boolean inferCategories, double unsafePrior, double temper) {

        /** The data as it comes: no translations, no inferred categories, every item weighs 1. */
        public static final Mix AS_IS = new Mix(false, false, 0, 0);

        public boolean weighted() {
            return unsafePrior > 0;
        }
    }

    /** The built-in pretrained encoder the default is fine-tuned from. */
    public static final String MINILM = "all-minilm-l6-v2";

    public static TrainPreset of(String name) {
        // Caps keep one epoch within the 2-core time budget (measured: ~1,100 real tokens/s with the top 3 MiniLM
        // layers trained): Alpaca instructions (31k safe items of one style per language), and the long items —
        // Do-Not-Answer's rated replies and in-the-wild jailbreak prompts — mostly in their translations. Loss
        // weights (MixWeights) do the rest of the balancing.
        Map<String, Integer> caps = Map.of(
                "refusal_direction_harmless",
                8000,
                "refusal_direction_harmless.es",
                3000,
                "refusal_direction_harmless.fr",
                3000,
                "donotanswer",
                3000,
                "donotanswer.es",
                1500,
                "donotanswer.fr",
                1500,
                "jailbreak_llms.es",
                300,
                "jailbreak_llms.fr",
                300);
        Mix full = new Mix(true, true, 0.15, 0.5);
        return switch (name) {
            case "default" ->
                new TrainPreset(
                        "default",
                        MINILM,
                        0,
                        new TrainSettings(1, 32, 1e-4f, 0.06f, 0.01f, 1.0f, 128, 17, 50, 500),
                        caps,
                        full,
                        3,
                        0,
                        true,
                        0.05);
            case "minilm-en" ->
                new TrainPreset(
                        "minilm-en",
                        MINILM,
                        0,
                        new TrainSettings(1, 32, 1e-4f, 0.06f, 0.01f, 1.0f, 128, 17, 50, 500),
                        caps,
                        new Mix(false, true, 0.15, 0.5),
                        3,
                        0,
                        true,
                        0.05);
            case "scratch" ->
                new TrainPreset(
                        "scratch",
                        "scratch-small",
                        8192,
                        new TrainSettings(2, 32, 1e-3f, 0.06f, 0.01f, 1.0f, 128, 17, 50, 500),
                        caps,
                        full,
                        -1,
                        0,
                        true,
                        0.05);
            case "tiny" ->
                new TrainPreset(
                        "tiny",
                        "scratch-tiny",
                        1024,
                        new TrainSettings(2, 32, 3e-3f, 0.1f, 0.01f, 1.0f, 64, 17, 10, 100),
                        Map.of("refusal_direction_harmless", 1500, "mhc", 1500),
                        Mix.AS_IS,
                        -1,
                        4000,
                        false,
                        0.05);
            default ->
                throw new IllegalArgumentException(
                        "unknown preset '" + name + "'; presets are default, minilm-en, scratch and tiny");
        };
    }

    /** A decoder of {@code TransformerConfig} preset {@code shape} from scratch, on the data as it comes. */
    public static TrainPreset scratch(
            String name,
            String shape,
            int vocabSize,
            TrainSettings settings,
            Map<String, Integer> caps,
            int maxTrainItems,
            boolean fp16Bundle) {
        return new TrainPreset(
                name, "scratch-" + shape, vocabSize, settings, caps, Mix.AS_IS, -1, maxTrainItems, fp16Bundle, 0.05);
    }

    /** True when the backbone is a decoder trained from scratch. */
    public boolean fromScratch() {
        return backbone.startsWith("scratch-");
    }

    /** The {@code TransformerConfig} preset of a from-scratch decoder ({@code small}, {@code tiny}). */
    public String shape() {
        if (!fromScratch()) {
            throw new IllegalStateException("preset " + name + " fine-tunes " + backbone + "; it has no scratch shape");
        }
        return backbone.substring("scratch-".length());
    }

    public TrainPreset with(TrainSettings newSettings, Map<String, Integer> newCaps, int newMaxTrain, boolean newFp16) {
        return new TrainPreset(
                name, backbone, vocabSize, newSettings, newCaps, mix, trainableLayers, newMaxTrain, newFp16, targetFpr);
    }

    /** This preset with thresholds fitted for {@code fpr} (the trainer service: the active model's target). */
    public TrainPreset withTargetFpr(double fpr) {
        return new TrainPreset(
                name, backbone, vocabSize, settings, caps, mix, trainableLayers, maxTrainItems, fp16Bundle, fpr);
    }
}
