package dev.duoguard.trainer.train;

import java.util.Map;

/**
 * A named recipe: model shape (a {@link dev.duoguard.trainer.hf.TransformerConfig#preset} name), tokenizer
 * vocabulary for a from-scratch run, optimisation settings and caps on how many training items a source
 * contributes. {@code default} makes the project's committed bundle on 2 CPU cores in about half an hour;
 * {@code tiny} is for tests and quick loops.
 *
 * @param unsafeRepeats how often each unsafe training item of a source appears (oversampling the rare class)
 * @param maxTrainItems keep at most this many training items (a seeded sample; 0 = all)
 * @param fp16Bundle    store the bundle's weight matrices in fp16 (the committed default stays small in git)
 */
public record TrainPreset(String name, String shape, int vocabSize, TrainSettings settings, Map<String, Integer> caps,
                          Map<String, Integer> unsafeRepeats, int maxTrainItems, boolean fp16Bundle) {

    public static TrainPreset of(String name) {
        return switch (name) {
            // Alpaca instructions (refusal_direction_harmless) are capped: 31k safe items of one style would
            // dominate the mix and the time budget. English unsafe items outside hate speech are rare (about 2.6k
            // against 19k safe English items), so the English sources' unsafe items are repeated; a first run
            // without repeats flagged only 14-30 % of the English benchmarks' unsafe prompts (README).
            case "default" -> new TrainPreset("default", "small", 8192,
                    new TrainSettings(2, 32, 1e-3f, 0.06f, 0.01f, 1.0f, 128, 17, 50, 500),
                    Map.of("refusal_direction_harmless", 10000),
                    Map.of("advbench", 3, "maliciousinstruct", 3, "jailbreak_llms", 2, "donotanswer", 3, "toxicchat", 3),
                    0, true);
            case "tiny" -> new TrainPreset("tiny", "tiny", 1024,
                    new TrainSettings(2, 32, 3e-3f, 0.1f, 0.01f, 1.0f, 64, 17, 10, 100),
                    Map.of("refusal_direction_harmless", 1500, "mhc", 1500), Map.of(), 4000, false);
            default -> throw new IllegalArgumentException("unknown preset '" + name + "'; presets are default and tiny");
        };
    }
}
