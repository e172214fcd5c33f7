package dev.duoguard.trainer.service;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.duoguard.trainer.eval.Evaluator;
import dev.duoguard.trainer.eval.Metrics;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Whether a candidate classifier may be published, judged on the same dev set as the active model, rule by rule
 * (the first rule broken rejects it, and the decision names that rule with both models' numbers):
 * <ol>
 *   <li><b>false positives</b>: in every row with at least {@code minSafeItems} safe items (each language, and the
 *       whole dev set, which covers the languages too small to judge alone) the candidate's false-positive rate
 *       must not exceed the active model's by more than {@code fprMargin}, whatever its F1: a model that flags
 *       everything has a fine recall and often a fine F1, and blocks the users it should serve;</li>
 *   <li><b>F1 drop</b>: its F1 must not fall below the active model's by more than {@code f1Margin} in any
 *       language;</li>
 *   <li><b>mean F1</b>: its mean F1 over those languages must be higher.</li>
 * </ol>
 * F1 languages are the per-language rows both evaluations have with a defined F1; without any, the "all" row
 * decides. Without a row that has enough safe items the false-positive rate cannot be judged, and the candidate is
 * rejected (the service refuses such a dev set at start, see {@link TrainerService.Config}).
 *
 * @param f1Margin     the largest F1 drop allowed in any language
 * @param fprMargin    the largest rise in false-positive rate allowed in any judged row
 * @param minSafeItems a row's false-positive rate is judged when it has at least this many safe items
 */
public record EvaluationGate(double f1Margin, double fprMargin, int minSafeItems) {

    /**
     * Two percentage points: the default model is calibrated for 5 % false positives on dev, so a candidate may
     * flag at most 2 more benign requests in 100 than the model it replaces (a 40 % rise in what users see blocked
     * at that operating point) before it is refused; with {@link #DEFAULT_MIN_SAFE_ITEMS} safe items that is 3
     * items more, past the noise of a few items on which two similar models disagree.
     */
    public static final double DEFAULT_FPR_MARGIN = 0.02;

    /**
     * A row's false-positive rate is judged from 100 safe items up: one item is then one percentage point, so the
     * margin above means "three more items flagged", not one unlucky item.
     */
    public static final int DEFAULT_MIN_SAFE_ITEMS = 100;

    static final String ALL = "all";

    public EvaluationGate {
        if (!(f1Margin >= 0 && f1Margin < 1)) {
            throw new IllegalArgumentException(
                    "the F1 margin is an F1 difference, from 0 up to 1 (got " + f1Margin + ")");
        }
        if (!(fprMargin >= 0 && fprMargin < 1)) {
            throw new IllegalArgumentException(
                    "the false-positive margin is a rate difference, from 0 up to 1 (got " + fprMargin + ")");
        }
        if (minSafeItems < 1) {
            throw new IllegalArgumentException("minSafeItems must be at least 1 (got " + minSafeItems + ")");
        }
    }

    /** The rule that decided. */
    public enum Rule {
        /** Every rule holds: the candidate is published. */
        @JsonProperty("passed")
        PASSED,
        @JsonProperty("false-positive-rate")
        FALSE_POSITIVE_RATE,
        /** No row has enough safe items to judge the false-positive rate. */
        @JsonProperty("false-positive-rate-unjudged")
        FALSE_POSITIVE_RATE_UNJUDGED,
        @JsonProperty("f1-drop")
        F1_DROP,
        @JsonProperty("mean-f1")
        MEAN_F1,
        /** No language has an F1 in both evaluations. */
        @JsonProperty("no-common-language")
        NO_COMMON_LANGUAGE,
        /**
         * The two evaluations judged different rows or counted different safe items: they were not made on the same
         * dev set, so nothing can be compared.
         */
        @JsonProperty("evaluations-differ")
        EVALUATIONS_DIFFER
    }

    /**
     * @param rule           the rule that rejected the candidate, or {@link Rule#PASSED}
     * @param language       where the rule was broken ("all": the whole dev set); null for the mean and when passed
     * @param activeValue    the active model's number the rule compared (an F1, a mean F1 or a false-positive rate)
     * @param candidateValue the candidate's
     * @param activeFpr      the false-positive rate of every judged row (languages with enough safe items, "all")
     * @param safeItems      the safe items of every judged row
     * @param margin         the F1 margin
     */
    public record Decision(
            boolean publish,
            Rule rule,
            String reason,
            String language,
            double activeValue,
            double candidateValue,
            Map<String, Double> activeF1,
            Map<String, Double> candidateF1,
            double activeMean,
            double candidateMean,
            double margin,
            Map<String, Double> activeFpr,
            Map<String, Double> candidateFpr,
            Map<String, Integer> safeItems,
            double fprMargin,
            int minSafeItems) {}

    /** Why two evaluations' judged rows cannot be from one dev set, or null when they can. */
    private static String mismatch(Map<String, Metrics> active, Map<String, Metrics> candidate) {
        if (!active.keySet().equals(candidate.keySet())) {
            return "rows judged " + active.keySet() + " (active) and " + candidate.keySet() + " (candidate)";
        }
        for (Map.Entry<String, Metrics> e : active.entrySet()) {
            int other = candidate.get(e.getKey()).safe();
            if (other != e.getValue().safe()) {
                return e.getKey() + " has " + e.getValue().safe() + " safe items (active) and " + other
                        + " (candidate)";
            }
        }
        return null;
    }

    public Decision decide(List<Evaluator.Row> active, List<Evaluator.Row> candidate) {
        Map<String, Metrics> activeRows = judgedForFalsePositives(active);
        Map<String, Metrics> candidateRows = judgedForFalsePositives(candidate);
        String mismatch = mismatch(activeRows, candidateRows);
        activeRows.keySet().retainAll(candidateRows.keySet());
        candidateRows.keySet().retainAll(activeRows.keySet());
        Map<String, Double> af = new TreeMap<>();
        Map<String, Double> cf = new TreeMap<>();
        Map<String, Integer> safe = new TreeMap<>();
        activeRows.forEach((lang, m) -> {
            af.put(lang, m.fpr());
            cf.put(lang, candidateRows.get(lang).fpr());
            safe.put(lang, Math.min(m.safe(), candidateRows.get(lang).safe()));
        });

        Map<String, Double> a = f1ByLanguage(active);
        Map<String, Double> c = f1ByLanguage(candidate);
        a.keySet().retainAll(c.keySet());
        c.keySet().retainAll(a.keySet());
        double am =
                a.values().stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
        double cm =
                c.values().stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
        Numbers n = new Numbers(a, c, am, cm, af, cf, safe);

        if (mismatch != null) {
            return reject(
                    n,
                    Rule.EVALUATIONS_DIFFER,
                    "the evaluations were not made on the same dev set: " + mismatch,
                    null,
                    Double.NaN,
                    Double.NaN);
        }
        if (af.isEmpty()) {
            return reject(
                    n,
                    Rule.FALSE_POSITIVE_RATE_UNJUDGED,
                    String.format(
                            "no language has %d safe dev items in both evaluations: the false-positive rate "
                                    + "cannot be judged",
                            minSafeItems),
                    null,
                    Double.NaN,
                    Double.NaN);
        }
        // the largest rise decides which row the reason names (a language before "all" on a tie); every judged
        // row is in the decision
        List<String> judged = new ArrayList<>(af.keySet());
        judged.remove(ALL);
        if (af.containsKey(ALL)) {
            judged.add(ALL);
        }
        String worst = null;
        for (String lang : judged) {
            if (worst == null || cf.get(lang) - af.get(lang) > cf.get(worst) - af.get(worst)) {
                worst = lang;
            }
        }
        // 1e-12: a rise of exactly the margin (3 items in 100 vs 1 in 100 is 0.02 + rounding) is allowed
        if (cf.get(worst) - af.get(worst) > fprMargin + 1e-12) {
            return reject(
                    n,
                    Rule.FALSE_POSITIVE_RATE,
                    String.format(
                            "%s false-positive rate %.4f is above the active model's %.4f by more than %.4f "
                                    + "(%d safe items), whatever the F1",
                            worst.equals(ALL) ? "the whole dev set's" : worst,
                            cf.get(worst),
                            af.get(worst),
                            fprMargin,
                            safe.get(worst)),
                    worst,
                    af.get(worst),
                    cf.get(worst));
        }
        if (a.isEmpty()) {
            return reject(
                    n,
                    Rule.NO_COMMON_LANGUAGE,
                    "no language has an F1 in both evaluations",
                    null,
                    Double.NaN,
                    Double.NaN);
        }
        for (String lang : a.keySet()) {
            if (c.get(lang) < a.get(lang) - f1Margin) {
                return reject(
                        n,
                        Rule.F1_DROP,
                        String.format(
                                "%s F1 %.4f is below the active model's %.4f by more than %.4f",
                                lang, c.get(lang), a.get(lang), f1Margin),
                        lang,
                        a.get(lang),
                        c.get(lang));
            }
        }
        if (!(cm > am)) {
            return reject(
                    n,
                    Rule.MEAN_F1,
                    String.format("mean F1 %.4f is not above the active model's %.4f", cm, am),
                    null,
                    am,
                    cm);
        }
        return decision(
                n,
                true,
                Rule.PASSED,
                String.format(
                        "mean F1 %.4f > %.4f, no language's F1 worse by more than %.4f, no false-positive rate "
                                + "higher by more than %.4f",
                        cm, am, f1Margin, fprMargin),
                null,
                am,
                cm);
    }

    /** The numbers every decision carries, whichever rule decides. */
    private record Numbers(
            Map<String, Double> activeF1,
            Map<String, Double> candidateF1,
            double activeMean,
            double candidateMean,
            Map<String, Double> activeFpr,
            Map<String, Double> candidateFpr,
            Map<String, Integer> safe) {}

    private Decision reject(
            Numbers n, Rule rule, String reason, String language, double activeValue, double candidateValue) {
        return decision(n, false, rule, reason, language, activeValue, candidateValue);
    }

    private Decision decision(
            Numbers n,
            boolean publish,
            Rule rule,
            String reason,
            String language,
            double activeValue,
            double candidateValue) {
        return new Decision(
                publish,
                rule,
                reason,
                language,
                activeValue,
                candidateValue,
                n.activeF1(),
                n.candidateF1(),
                n.activeMean(),
                n.candidateMean(),
                f1Margin,
                n.activeFpr(),
                n.candidateFpr(),
                n.safe(),
                fprMargin,
                minSafeItems);
    }

    /** The rows whose false-positive rate is judged: every language and "all" with at least minSafeItems safe. */
    private Map<String, Metrics> judgedForFalsePositives(List<Evaluator.Row> rows) {
        Map<String, Metrics> judged = new TreeMap<>();
        for (Evaluator.Row r : rows) {
            if (r.model().safe() >= minSafeItems) {
                judged.put(r.lang(), r.model());
            }
        }
        return judged;
    }

    static Map<String, Double> f1ByLanguage(List<Evaluator.Row> rows) {
        Map<String, Double> perLanguage = new TreeMap<>();
        Double all = null;
        for (Evaluator.Row r : rows) {
            double f1 = r.model().f1();
            if (Double.isNaN(f1)) {
                continue;
            }
            if (r.lang().equals(ALL)) {
                all = f1;
            } else {
                perLanguage.put(r.lang(), f1);
            }
        }
        if (perLanguage.isEmpty() && all != null) {
            perLanguage.put(ALL, all);
        }
        return perLanguage;
    }
}
