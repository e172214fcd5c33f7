package dev.duoguard.streams.topology;

import dev.duoguard.runtime.scoring.Scorer;
import dev.duoguard.runtime.scoring.ScoringException;
import dev.duoguard.runtime.scoring.TextScores;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;

/**
 * A scorer for topology tests: "bomb" → weapons 0.95, "kill" → violent crimes 0.9, "maybe" → hate 0.45 (inside the
 * uncertainty band), everything else 0.01. Records every call; fails any batch holding "POISON".
 */
final class FakeScorer implements Scorer {

    final List<List<String>> calls = Collections.synchronizedList(new ArrayList<>());
    private final ModelIdentity identity;

    /** "fake" version 1, threshold 0.5 for every category and language. */
    FakeScorer() {
        this(new ModelIdentity("fake", "1", filled(0.5f), "test"));
    }

    /** The same scores under another identity: another version, other (per-language) thresholds. */
    FakeScorer(ModelIdentity identity) {
        this.identity = identity;
    }

    static float[] filled(float v) {
        float[] t = new float[SafetyCategory.COUNT];
        Arrays.fill(t, v);
        return t;
    }

    @Override
    public List<TextScores> score(List<String> texts) {
        calls.add(List.copyOf(texts));
        List<TextScores> out = new ArrayList<>();
        for (String t : texts) {
            if (t.contains("POISON")) {
                throw new ScoringException("model failed on this batch");
            }
            float[] p = new float[SafetyCategory.COUNT];
            Arrays.fill(p, 0.01f);
            if (t.contains("bomb")) {
                p[SafetyCategory.INDISCRIMINATE_WEAPONS.ordinal()] = 0.95f;
            }
            if (t.contains("kill")) {
                p[SafetyCategory.VIOLENT_CRIMES.ordinal()] = 0.9f;
            }
            if (t.contains("maybe")) {
                p[SafetyCategory.HATE.ordinal()] = 0.45f;
            }
            out.add(new TextScores(p, 1));
        }
        return out;
    }

    @Override
    public ModelIdentity model() {
        return identity;
    }
}
