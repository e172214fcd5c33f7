package dev.duoguard.trainer.service;

import dev.duoguard.trainer.eval.Evaluator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Whether a candidate classifier may be published: on the same dev set, its F1 must not fall below the active
 * model's by more than {@code margin} in any language, and its mean F1 over those languages must be higher.
 * Languages are the per-language rows both evaluations have with a defined F1; without any, the "all" row decides.
 */
public record EvaluationGate(double margin) {

    public record Decision(
            boolean publish,
            String reason,
            Map<String, Double> activeF1,
            Map<String, Double> candidateF1,
            double activeMean,
            double candidateMean,
            double margin) {}

    public Decision decide(List<Evaluator.Row> active, List<Evaluator.Row> candidate) {
        Map<String, Double> a = f1ByLanguage(active);
        Map<String, Double> c = f1ByLanguage(candidate);
        a.keySet().retainAll(c.keySet());
        c.keySet().retainAll(a.keySet());
        if (a.isEmpty()) {
            return new Decision(
                    false, "no language has an F1 in both evaluations", a, c, Double.NaN, Double.NaN, margin);
        }
        double am =
                a.values().stream().mapToDouble(Double::doubleValue).average().orElseThrow();
        double cm =
                c.values().stream().mapToDouble(Double::doubleValue).average().orElseThrow();
        for (String lang : a.keySet()) {
            if (c.get(lang) < a.get(lang) - margin) {
                return new Decision(
                        false,
                        String.format(
                                "%s F1 %.4f is below the active model's %.4f by more than %.4f",
                                lang, c.get(lang), a.get(lang), margin),
                        a,
                        c,
                        am,
                        cm,
                        margin);
            }
        }
        if (!(cm > am)) {
            return new Decision(
                    false,
                    String.format("mean F1 %.4f is not above the active model's %.4f", cm, am),
                    a,
                    c,
                    am,
                    cm,
                    margin);
        }
        return new Decision(
                true,
                String.format("mean F1 %.4f > %.4f and no language worse by more than %.4f", cm, am, margin),
                a,
                c,
                am,
                cm,
                margin);
    }

    static Map<String, Double> f1ByLanguage(List<Evaluator.Row> rows) {
        Map<String, Double> perLanguage = new TreeMap<>();
        Double all = null;
        for (Evaluator.Row r : rows) {
            double f1 = r.model().f1();
            if (Double.isNaN(f1)) {
                continue;
            }
            if (r.lang().equals("all")) {
                all = f1;
            } else {
                perLanguage.put(r.lang(), f1);
            }
        }
        if (perLanguage.isEmpty() && all != null) {
            perLanguage.put("all", all);
        }
        return perLanguage;
    }
}
