package dev.duoguard.trainer.data;

import dev.duoguard.runtime.taxonomy.SafetyCategory;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Per-item loss weights that shape the training mix without repeating items (repeats overfit the repeated texts
 * and cost compute; a weight does neither).
 *
 * <ol>
 *   <li>Languages: each language's total weight is proportional to {@code n^temper} (0.5: square-root
 *       tempering), so English does not drown the others and a small language is not blown up.</li>
 *   <li>Unsafe prior: inside each language the unsafe items carry {@code unsafePrior} of the weight and the safe
 *       items the rest (a language with one class only keeps all of it), close to the share of unsafe messages in
 *       real chat traffic instead of whatever the public sets happen to hold (51 % unsafe before).</li>
 *   <li>Inside a (language, label) cell, groups are tempered again: unsafe items by their first category (or
 *       "unknown"), so Hate, 75 % of the unsafe items, stops standing for "unsafe"; safe items by source, so one
 *       style (10,000 Alpaca instructions) does not stand for "safe".</li>
 * </ol>
 * Weights are scaled to mean 1, clipped to [{@value #MIN}, {@value #MAX}] and rescaled to mean 1 again (so the
 * bounds hold up to that last factor), so that no item dominates a batch.
 */
public final class MixWeights {

    static final double MIN = 0.05;
    static final double MAX = 20;

    private MixWeights() {}

    public static double[] of(List<Example> items, double unsafePrior, double temper) {
        if (!(unsafePrior > 0 && unsafePrior < 1) || !(temper >= 0 && temper <= 1)) {
            throw new IllegalArgumentException(
                    "unsafe prior must be in (0, 1) and temper in [0, 1] but are " + unsafePrior + ", " + temper);
        }
        int n = items.size();
        Map<String, Integer> perLang = new HashMap<>();
        Map<String, Integer> perCell = new HashMap<>();
        Map<String, Integer> perGroup = new HashMap<>();
        Map<String, Double> cellGroupMass = new HashMap<>();
        for (Example e : items) {
            perLang.merge(e.lang(), 1, Integer::sum);
            perCell.merge(cell(e), 1, Integer::sum);
            perGroup.merge(group(e), 1, Integer::sum);
        }
        perGroup.forEach((g, count) ->
                cellGroupMass.merge(g.substring(0, g.lastIndexOf('|')), Math.pow(count, temper), Double::sum));
        double langMass =
                perLang.values().stream().mapToDouble(c -> Math.pow(c, temper)).sum();
        double[] w = new double[n];
        for (int i = 0; i < n; i++) {
            Example e = items.get(i);
            double lang = Math.pow(perLang.get(e.lang()), temper) / langMass;
            boolean bothLabels = perCell.containsKey(e.lang() + "|unsafe") && perCell.containsKey(e.lang() + "|safe");
            double label = !bothLabels ? 1 : e.unsafe() ? unsafePrior : 1 - unsafePrior;
            int groupCount = perGroup.get(group(e));
            double group = Math.pow(groupCount, temper) / cellGroupMass.get(cell(e));
            w[i] = lang * label * group / groupCount;
        }
        normalise(w);
        for (int i = 0; i < n; i++) {
            w[i] = Math.max(MIN, Math.min(MAX, w[i]));
        }
        normalise(w);
        return w;
    }

    private static String cell(Example e) {
        return e.lang() + "|" + (e.unsafe() ? "unsafe" : "safe");
    }

    private static String group(Example e) {
        String g = !e.unsafe()
                ? "source:" + e.source()
                : e.categories().isEmpty()
                        ? "unknown"
                        : SafetyCategory.ordered().stream()
                                .filter(e.categories()::contains)
                                .findFirst()
                                .orElseThrow()
                                .key();
        return cell(e) + "|" + g;
    }

    private static void normalise(double[] w) {
        double sum = 0;
        for (double v : w) {
            sum += v;
        }
        if (sum <= 0) {
            return;
        }
        double scale = w.length / sum;
        for (int i = 0; i < w.length; i++) {
            w[i] *= scale;
        }
    }
}
