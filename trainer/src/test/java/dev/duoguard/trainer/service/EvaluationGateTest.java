package dev.duoguard.trainer.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.duoguard.trainer.data.Example;
import dev.duoguard.trainer.eval.Evaluator;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class EvaluationGateTest {

    /** A language's dev items and how many of each label a model flags. */
    record Counts(int unsafe, int unsafeFlagged, int safe, int safeFlagged) {}

    /** The rows {@link Evaluator#run} gives: "all", then one per language (every language here has 20+ items). */
    static List<Evaluator.Row> evaluation(Map<String, Counts> perLanguage) {
        List<Example> all = new ArrayList<>();
        List<Float> allScores = new ArrayList<>();
        List<Evaluator.Row> rows = new ArrayList<>();
        perLanguage.forEach((lang, c) -> {
            List<Example> items = new ArrayList<>();
            List<Float> scores = new ArrayList<>();
            for (int i = 0; i < c.unsafe(); i++) {
                items.add(new Example(lang + "-u" + i, "u " + i, lang, true, Set.of(), "dev", "", null));
                scores.add(i < c.unsafeFlagged() ? 0.9f : 0.1f);
            }
            for (int i = 0; i < c.safe(); i++) {
                items.add(new Example(lang + "-s" + i, "s " + i, lang, false, Set.of(), "dev", "", null));
                scores.add(i < c.safeFlagged() ? 0.9f : 0.1f);
            }
            rows.add(Evaluator.row("dev", lang, items, toArray(scores)));
            all.addAll(items);
            allScores.addAll(scores);
        });
        rows.add(0, Evaluator.row("dev", "all", all, toArray(allScores)));
        return rows;
    }

    private static float[] toArray(List<Float> values) {
        float[] out = new float[values.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = values.get(i);
        }
        return out;
    }

    static Map<String, Counts> languages(Counts en, Counts fr) {
        Map<String, Counts> m = new LinkedHashMap<>();
        m.put("en", en);
        m.put("fr", fr);
        return m;
    }

    private static final EvaluationGate GATE = new EvaluationGate(0.02, 0.02, 100);

    /** Recall 0.3 at 5 % false positives: an F1 of 0.444. */
    private static final Counts CAUTIOUS = new Counts(100, 30, 100, 5);

    @Test
    void aCandidateThatFlagsEverythingIsRejectedWhateverItsHigherF1() {
        Counts flagAll = new Counts(100, 100, 100, 100); // F1 0.667
        EvaluationGate.Decision d =
                GATE.decide(evaluation(languages(CAUTIOUS, CAUTIOUS)), evaluation(languages(flagAll, flagAll)));

        assertThat(d.candidateMean()).as("its F1 is higher").isGreaterThan(d.activeMean() + 0.2);
        assertThat(d.publish()).isFalse();
        assertThat(d.rule()).isEqualTo(EvaluationGate.Rule.FALSE_POSITIVE_RATE);
        assertThat(d.activeValue()).isEqualTo(0.05);
        assertThat(d.candidateValue()).isEqualTo(1.0);
        assertThat(d.language()).as("a tie names a language, not the whole set").isEqualTo("en");
        assertThat(d.reason())
                .contains("false-positive rate 1.0000 is above the active model's 0.0500 by more than 0.0200")
                .contains("whatever the F1");
        assertThat(d.candidateFpr())
                .containsEntry("en", 1.0)
                .containsEntry("fr", 1.0)
                .containsEntry("all", 1.0);
        assertThat(d.safeItems()).containsEntry("en", 100).containsEntry("all", 200);
    }

    @Test
    void aRiseWithinTheMarginPassesAndOneItemMoreIsRejected() {
        Counts better = new Counts(100, 60, 100, 7); // F1 up, false positives 5 % -> 7 %: exactly the margin
        EvaluationGate.Decision within =
                GATE.decide(evaluation(languages(CAUTIOUS, CAUTIOUS)), evaluation(languages(better, better)));
        assertThat(within.publish()).as(within.reason()).isTrue();
        assertThat(within.rule()).isEqualTo(EvaluationGate.Rule.PASSED);
        assertThat(within.activeFpr()).containsEntry("en", 0.05);
        assertThat(within.candidateFpr()).containsEntry("en", 0.07);

        Counts oneMore = new Counts(100, 60, 100, 8);
        EvaluationGate.Decision beyond =
                GATE.decide(evaluation(languages(CAUTIOUS, CAUTIOUS)), evaluation(languages(oneMore, oneMore)));
        assertThat(beyond.publish()).isFalse();
        assertThat(beyond.rule()).isEqualTo(EvaluationGate.Rule.FALSE_POSITIVE_RATE);
    }

    @Test
    void aCandidateWorseInOneLanguageOnlyIsRejectedNamingThatLanguage() {
        Counts better = new Counts(100, 60, 100, 5);
        Counts betterButNoisier = new Counts(100, 70, 100, 10); // fr: F1 up, +5 points of false positives
        EvaluationGate.Decision d =
                GATE.decide(evaluation(languages(CAUTIOUS, CAUTIOUS)), evaluation(languages(better, betterButNoisier)));

        assertThat(d.publish()).isFalse();
        assertThat(d.rule()).isEqualTo(EvaluationGate.Rule.FALSE_POSITIVE_RATE);
        assertThat(d.language()).isEqualTo("fr");
        assertThat(d.reason()).startsWith("fr false-positive rate 0.1000 is above the active model's 0.0500");
        assertThat(d.candidateFpr())
                .as("the whole dev set rises by 2.5 points, fr by 5: the larger rise is named")
                .containsEntry("all", 0.075);
    }

    @Test
    void aLanguageWithTooFewSafeItemsIsJudgedOnlyWithinTheWholeDevSet() {
        Map<String, Counts> active = languages(new Counts(100, 30, 200, 10), new Counts(20, 6, 20, 1));
        Map<String, Counts> fewFrFalsePositives = languages(new Counts(100, 60, 200, 10), new Counts(20, 12, 20, 4));
        EvaluationGate.Decision d = GATE.decide(evaluation(active), evaluation(fewFrFalsePositives));
        assertThat(d.safeItems()).as("fr has 20 safe items: not judged alone").containsOnlyKeys("en", "all");
        assertThat(d.publish())
                .as("3 more false positives in 220 safe items: +1.4 points overall")
                .isTrue();

        Map<String, Counts> manyFrFalsePositives = languages(new Counts(100, 60, 200, 10), new Counts(20, 12, 20, 10));
        EvaluationGate.Decision worse = GATE.decide(evaluation(active), evaluation(manyFrFalsePositives));
        assertThat(worse.publish()).isFalse();
        assertThat(worse.language()).isEqualTo("all");
        assertThat(worse.reason()).startsWith("the whole dev set's false-positive rate");
    }

    @Test
    void withoutEnoughSafeItemsAnywhereTheCandidateIsRejected() {
        Map<String, Counts> small = languages(new Counts(20, 6, 20, 1), new Counts(20, 6, 20, 1));
        Map<String, Counts> better = languages(new Counts(20, 16, 20, 1), new Counts(20, 16, 20, 1));
        EvaluationGate.Decision d = GATE.decide(evaluation(small), evaluation(better));
        assertThat(d.publish()).isFalse();
        assertThat(d.rule()).isEqualTo(EvaluationGate.Rule.FALSE_POSITIVE_RATE_UNJUDGED);
        assertThat(d.reason()).contains("no language has 100 safe dev items");
    }

    @Test
    void f1RulesStillApplyWhenFalsePositivesAreFine() {
        Counts perfect = new Counts(100, 100, 100, 0);
        Counts half = new Counts(100, 50, 100, 0);
        assertThat(GATE.decide(evaluation(languages(half, half)), evaluation(languages(perfect, perfect)))
                        .publish())
                .isTrue();
        EvaluationGate.Decision worseFr =
                GATE.decide(evaluation(languages(half, perfect)), evaluation(languages(perfect, half)));
        assertThat(worseFr.publish()).isFalse();
        assertThat(worseFr.rule()).isEqualTo(EvaluationGate.Rule.F1_DROP);
        assertThat(worseFr.language()).isEqualTo("fr");
        assertThat(worseFr.reason()).startsWith("fr F1");
        assertThat(worseFr.activeValue()).isEqualTo(1.0);
        EvaluationGate.Decision equal =
                GATE.decide(evaluation(languages(perfect, perfect)), evaluation(languages(perfect, perfect)));
        assertThat(equal.publish()).as("equal is not better").isFalse();
        assertThat(equal.rule()).isEqualTo(EvaluationGate.Rule.MEAN_F1);
        assertThat(new EvaluationGate(0.5, 0.02, 100)
                        .decide(evaluation(languages(half, perfect)), evaluation(languages(perfect, half)))
                        .reason())
                .contains("not above");
    }

    @Test
    void marginsOutOfRangeAreRefused() {
        assertThatThrownBy(() -> new EvaluationGate(0.02, -0.01, 100)).hasMessageContaining("false-positive margin");
        assertThatThrownBy(() -> new EvaluationGate(0.02, 0.02, 0)).hasMessageContaining("minSafeItems");
    }

    /** Evaluations of different dev sets cannot be compared: rejected, not judged on what they share. */
    @Test
    void evaluationsOfDifferentDevSetsAreRejected() {
        Counts fair = new Counts(100, 80, 120, 6);
        var active = evaluation(languages(fair, fair));
        var fewerFrench = evaluation(languages(fair, new Counts(100, 80, 110, 6)));
        EvaluationGate.Decision d = GATE.decide(active, fewerFrench);
        assertThat(d.publish()).isFalse();
        assertThat(d.rule()).isEqualTo(EvaluationGate.Rule.EVALUATIONS_DIFFER);
        assertThat(d.reason()).contains("all has 240 safe items (active) and 230 (candidate)");
        Map<String, Counts> withGerman = languages(fair, fair);
        withGerman.put("de", fair);
        assertThat(GATE.decide(active, evaluation(withGerman)).rule())
                .isEqualTo(EvaluationGate.Rule.EVALUATIONS_DIFFER);
        assertThat(GATE.decide(active, evaluation(languages(fair, fair))).rule())
                .as("the same dev set")
                .isEqualTo(EvaluationGate.Rule.MEAN_F1);
    }
}
