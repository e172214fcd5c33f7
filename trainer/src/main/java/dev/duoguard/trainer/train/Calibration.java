package dev.duoguard.trainer.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.duoguard.runtime.bundle.BundleManifest;
import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.runtime.onnx.ExecutionDevice;
import dev.duoguard.runtime.policy.DecisionPolicy;
import dev.duoguard.runtime.scoring.GuardrailModel;
import dev.duoguard.runtime.scoring.Scorer;
import dev.duoguard.runtime.scoring.TextScores;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import dev.duoguard.trainer.data.Example;
import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Fits the decision thresholds of a bundle on a dev split for a target false-positive rate, globally and per
 * language where the dev data allows; the decision rule stays DuoGuard's "unsafe iff any category p_c > t_c".
 * Pure arithmetic on probabilities: no model, no DJL (see docs/training.md, "Calibration").
 *
 * <p>For each scope (all dev items, then each language with at least {@code minSafe} safe items):
 * <ol>
 *   <li><b>Common threshold</b> t on max_c p_c, Neyman-Pearson with the split-conformal rank: t is the
 *       ⌈(1−α)(n+1)⌉-th smallest of the n safe items' scores, so at most K = n − ⌈(1−α)(n+1)⌉ safe items lie
 *       above it (dev FPR ≤ α) and a new safe item from the same distribution is flagged with probability ≤ α.</li>
 *   <li><b>Per category</b>, for categories with at least {@code minPositives} dev items labelled with them in the
 *       scope: their thresholds (on a grid in logit space) are chosen to flag as many dev unsafe items as possible
 *       while the flagged safe items, counted over the union of all categories, stay ≤ K (a Lagrangian search,
 *       see {@link #perCategory}); other categories keep the common threshold. So the per-category thresholds
 *       never spend more than the common threshold's false-positive budget, and are kept only when they flag
 *       more dev unsafe items than it does and that gain carries over to held-out items ({@link #holdsOut}).</li>
 * </ol>
 * Languages below the minimum (and {@code "und"}: a dev item's "und" means its source gave no language, not that
 * the detector could not tell) get no entry and are decided by the global thresholds. Thresholds are clamped to
 * [{@code minThreshold}, {@code maxThreshold}]; clamping down can exceed the target FPR, which the report shows.
 */
public final class Calibration {

    /** Report source of a scope whose per-category thresholds did not survive {@link #holdsOut}. */
    public static final String REJECTED = "common only";

    /** In the manifest's {@code language_thresholds}: every category of the language. */
    public static final String ALL = ModelBundle.ALL_CATEGORIES;

    /**
     * @param targetFpr     α, the false-positive rate on safe dev items that the thresholds may reach
     * @param minSafe       safe dev items a language needs for thresholds of its own (and the global fit)
     * @param minPositives  dev items labelled with a category (in the scope) for that category to move on its own
     * @param minThreshold  lowest threshold written
     * @param maxThreshold  highest threshold written
     * @param gridStep      spacing of the per-category search grid in logit units
     */
    public record Settings(
            double targetFpr,
            int minSafe,
            int minPositives,
            double minThreshold,
            double maxThreshold,
            double gridStep) {
        public static final Settings DEFAULTS = new Settings(0.05, 200, 30, 0.02, 0.98, 0.1);

        public Settings {
            if (!(targetFpr > 0 && targetFpr < 1)) {
                throw new IllegalArgumentException("target FPR must be in (0, 1) but is " + targetFpr);
            }
            if (minSafe < 1 || minPositives < 1) {
                throw new IllegalArgumentException(
                        "minimum counts must be at least 1 but are safe " + minSafe + ", positives " + minPositives);
            }
            if (!(minThreshold > 0 && minThreshold < maxThreshold && maxThreshold < 1)) {
                throw new IllegalArgumentException("threshold bounds must satisfy 0 < min < max < 1 but are "
                        + minThreshold + ", " + maxThreshold);
            }
            if (!(gridStep > 0)) {
                throw new IllegalArgumentException("grid step must be positive but is " + gridStep);
            }
        }

        public Settings withTargetFpr(double fpr) {
            return new Settings(fpr, minSafe, minPositives, minThreshold, maxThreshold, gridStep);
        }
    }

    /**
     * One scope of the report.
     *
     * @param scope      {@code "all"} or a language code
     * @param source     {@code "fitted"}; {@value #REJECTED} (per-category thresholds failed the held-out check); or
     *                   why not fitted: {@code "global"} (too few safe items), {@code "default 0.5"}
     * @param threshold  the common threshold (max_c p_c) in force for the scope
     * @param categories per-category thresholds that differ from {@code threshold}, by category key
     * @param fpr        dev FPR with the scope's thresholds; {@code fprAtHalf}: with 0.5 everywhere
     * @param recall     dev recall with the scope's thresholds; {@code recallAtHalf}: with 0.5 everywhere
     */
    public record ScopeReport(
            String scope,
            String source,
            int safe,
            int unsafe,
            double threshold,
            Map<String, Double> categories,
            double fpr,
            double recall,
            double fprAtHalf,
            double recallAtHalf) {

        public Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("scope", scope);
            m.put("source", source);
            m.put("safe", safe);
            m.put("unsafe", unsafe);
            m.put("threshold", threshold);
            m.put("categories", categories);
            m.put("fpr", finite(fpr));
            m.put("recall", finite(recall));
            m.put("fpr_at_0.5", finite(fprAtHalf));
            m.put("recall_at_0.5", finite(recallAtHalf));
            return m;
        }
    }

    /**
     * Fitted thresholds in the manifest's shape, and the report.
     *
     * @param defaultThreshold the global common threshold ({@code default_threshold})
     * @param perCategory      global per-category thresholds where they differ from it ({@code thresholds})
     * @param perLanguage      per language: {@code "*"} = its common threshold, plus its per-category ones
     *                         ({@code language_thresholds})
     */
    public record Result(
            Settings settings,
            double defaultThreshold,
            Map<String, Double> perCategory,
            Map<String, Map<String, Double>> perLanguage,
            List<ScopeReport> report) {

        /**
         * Rewrites {@code bundle}'s manifest with these thresholds ({@code default_threshold}, {@code thresholds},
         * {@code language_thresholds}) and this report under {@code provenance.calibration}; returns the reopened
         * bundle, which {@code score}, {@code eval} and the streams app then decide with.
         */
        public ModelBundle writeInto(ModelBundle bundle) throws IOException {
            BundleManifest m = bundle.manifest();
            ObjectNode provenance =
                    m.provenance() instanceof ObjectNode o ? o.deepCopy() : JsonNodeFactory.instance.objectNode();
            provenance.set("calibration", new ObjectMapper().valueToTree(toMap()));
            ModelBundle.writeManifest(
                    bundle.directory(),
                    m.withFiles(null)
                            .withThresholds(
                                    defaultThreshold,
                                    perCategory.isEmpty() ? null : perCategory,
                                    perLanguage.isEmpty() ? null : perLanguage)
                            .withProvenance(provenance));
            return ModelBundle.open(bundle.directory());
        }

        /** The thresholds a text in {@code language} is decided with, resolved as {@code ModelBundle#thresholds(String)}. */
        public float[] thresholds(String language) {
            float[] t = new float[SafetyCategory.COUNT];
            Arrays.fill(t, (float) defaultThreshold);
            perCategory.forEach((k, v) -> t[SafetyCategory.parse(k).ordinal()] = v.floatValue());
            Map<String, Double> lang = language == null ? null : perLanguage.get(language);
            if (lang != null) {
                Arrays.fill(t, lang.get(ALL).floatValue());
                lang.forEach((k, v) -> {
                    if (!ALL.equals(k)) {
                        t[SafetyCategory.parse(k).ordinal()] = v.floatValue();
                    }
                });
            }
            return t;
        }

        /** For the manifest's provenance and the run's reports. */
        public Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put(
                    "method",
                    "Neyman-Pearson (split-conformal rank) on max category probability, then per-category "
                            + "exchange under the same false-positive budget; see docs/training.md");
            m.put("target_fpr", settings.targetFpr());
            m.put("min_safe_per_language", settings.minSafe());
            m.put("min_positives_per_category", settings.minPositives());
            m.put("clamp", List.of(settings.minThreshold(), settings.maxThreshold()));
            m.put("scopes", report.stream().map(ScopeReport::toMap).toList());
            return m;
        }

        public void print(PrintStream out) {
            out.printf("== calibration on dev: target FPR %.1f %% ==%n", 100 * settings.targetFpr());
            out.printf(
                    "%-5s %-12s %6s %6s %9s %8s %8s %10s %10s  %s%n",
                    "scope",
                    "source",
                    "safe",
                    "unsafe",
                    "threshold",
                    "FPR",
                    "recall",
                    "FPR@0.5",
                    "recall@0.5",
                    "per category");
            for (ScopeReport r : report) {
                out.printf(
                        "%-5s %-12s %6d %6d %9.4f %8s %8s %10s %10s  %s%n",
                        r.scope(),
                        r.source(),
                        r.safe(),
                        r.unsafe(),
                        r.threshold(),
                        pct(r.fpr()),
                        pct(r.recall()),
                        pct(r.fprAtHalf()),
                        pct(r.recallAtHalf()),
                        r.categories().isEmpty() ? "-" : describe(r.categories()));
            }
        }
    }

    private Calibration() {}

    /** The target false-positive rate {@link Result#writeInto} recorded in a bundle's manifest; empty when none. */
    public static OptionalDouble recordedTargetFpr(BundleManifest manifest) {
        JsonNode fpr = manifest.provenance() == null
                ? null
                : manifest.provenance().path("calibration").get("target_fpr");
        return fpr != null && fpr.isNumber() ? OptionalDouble.of(fpr.doubleValue()) : OptionalDouble.empty();
    }

    /** Fits on dev {@code items} whose category probabilities (the serving scorer's, ideally) are {@code probabilities}. */
    public static Result fit(List<Example> items, float[][] probabilities, Settings settings) {
        List<String> langs = new ArrayList<>(items.size());
        boolean[] unsafe = new boolean[items.size()];
        List<Set<SafetyCategory>> categories = new ArrayList<>(items.size());
        List<String> sources = new ArrayList<>(items.size());
        for (int i = 0; i < items.size(); i++) {
            Example e = items.get(i);
            langs.add(e.lang());
            unsafe[i] = e.unsafe();
            categories.add(e.categories());
            sources.add(e.source());
        }
        return fit(langs, unsafe, categories, sources, probabilities, settings);
    }

    /** As {@link #fit(List, boolean[], List, List, float[][], Settings)} with every item from one source. */
    public static Result fit(
            List<String> languages,
            boolean[] unsafe,
            List<Set<SafetyCategory>> categories,
            float[][] probabilities,
            Settings settings) {
        return fit(languages, unsafe, categories, null, probabilities, settings);
    }

    /**
     * @param languages     each item's language ({@code "und"} when unknown)
     * @param unsafe        each item's label
     * @param categories    each unsafe item's known categories (empty when its source does not say)
     * @param sources       each item's source dataset (null: one source); a scope's common threshold holds the
     *                      target FPR on each source with at least {@value #MIN_SAFE_PER_SOURCE} safe items
     * @param probabilities per item, the 12 category probabilities in {@link SafetyCategory} order
     */
    public static Result fit(
            List<String> languages,
            boolean[] unsafe,
            List<Set<SafetyCategory>> categories,
            List<String> sources,
            float[][] probabilities,
            Settings settings) {
        int n = unsafe.length;
        if (languages.size() != n || categories.size() != n || probabilities.length != n) {
            throw new IllegalArgumentException("calibration needs one language, label, category set and probability "
                    + "row per item but got " + languages.size() + ", " + n + ", " + categories.size() + ", "
                    + probabilities.length);
        }
        for (int i = 0; i < n; i++) {
            if (probabilities[i].length != SafetyCategory.COUNT) {
                throw new IllegalArgumentException("item " + i + " has " + probabilities[i].length
                        + " probabilities; expected " + SafetyCategory.COUNT);
            }
        }
        int[] all = new int[n];
        Arrays.setAll(all, i -> i);
        Scope global = new Scope(all, unsafe, categories, sources, probabilities);
        List<ScopeReport> report = new ArrayList<>();
        float[] globalThresholds;
        double common;
        String globalSource;
        if (global.safe >= settings.minSafe()) {
            common = commonThreshold(global, settings);
            Fitted f = fitScope(global, common, settings);
            globalThresholds = f.thresholds();
            globalSource = f.source();
        } else {
            common = 0.5;
            globalThresholds = filled(0.5f);
            globalSource = "default 0.5";
        }
        report.add(global.report("all", globalSource, common, globalThresholds));

        Map<String, List<Integer>> byLanguage = new TreeMap<>();
        for (int i = 0; i < n; i++) {
            String lang = languages.get(i) == null ? "und" : languages.get(i).toLowerCase(Locale.ROOT);
            byLanguage.computeIfAbsent(lang, k -> new ArrayList<>()).add(i);
        }
        Map<String, Map<String, Double>> perLanguage = new TreeMap<>();
        for (Map.Entry<String, List<Integer>> e : byLanguage.entrySet()) {
            Scope s = new Scope(
                    e.getValue().stream().mapToInt(Integer::intValue).toArray(),
                    unsafe,
                    categories,
                    sources,
                    probabilities);
            String lang = e.getKey();
            boolean own = !lang.equals("und") && lang.matches("[a-z]{2,3}") && s.safe >= settings.minSafe();
            if (!own) {
                report.add(s.report(lang, "global", common, globalThresholds));
                continue;
            }
            double langCommon = commonThreshold(s, settings);
            Fitted f = fitScope(s, langCommon, settings);
            Map<String, Double> entry = new TreeMap<>();
            entry.put(ALL, langCommon);
            entry.putAll(differing(f.thresholds(), langCommon));
            perLanguage.put(lang, entry);
            report.add(s.report(lang, f.source(), langCommon, f.thresholds()));
        }
        return new Result(settings, common, differing(globalThresholds, common), perLanguage, List.copyOf(report));
    }

    /**
     * The whole step for a freshly exported bundle: scores {@code dev} through the bundle's own serving scorer
     * (ONNX Runtime, CPU), fits, prints the report to {@code log}, and writes the thresholds and the report into
     * the manifest. Returns the reopened bundle. {@code dev} must be the dev split, never an evaluation-only set.
     */
    public static ModelBundle calibrate(ModelBundle bundle, List<Example> dev, Settings settings, PrintStream log)
            throws IOException {
        float[][] p;
        try (GuardrailModel model = GuardrailModel.load(bundle.directory(), ExecutionDevice.CPU, 2, 64)) {
            p = probabilities(model, dev, 64);
        }
        Result fit = fit(dev, p, settings);
        fit.print(log);
        return fit.writeInto(bundle);
    }

    private record Fitted(float[] thresholds, String source) {}

    /** A scope's per-category thresholds around its common one, unless they fail the held-out check. */
    private static Fitted fitScope(Scope s, double common, Settings settings) {
        float[] t = perCategory(s, common, settings);
        if (!isCommon(t, common) && (!holdsOut(s, common, settings) || !withinTargetPerSource(s, t, settings))) {
            return new Fitted(filled((float) common), REJECTED);
        }
        return new Fitted(t, "fitted");
    }

    /** Whether {@code t} keeps every sizeable safe source of the scope within the target (see commonThreshold). */
    private static boolean withinTargetPerSource(Scope s, float[] t, Settings settings) {
        if (s.sources == null) {
            return true;
        }
        Map<String, int[]> perSource = new TreeMap<>(); // source -> {safe, flagged}
        for (int i : s.items) {
            if (!s.unsafe[i]) {
                int[] c = perSource.computeIfAbsent(s.sources.get(i), k -> new int[2]);
                c[0]++;
                c[1] += DecisionPolicy.isUnsafe(s.p[i], t) ? 1 : 0;
            }
        }
        for (int[] c : perSource.values()) {
            if (c[0] >= MIN_SAFE_PER_SOURCE && c[1] > settings.targetFpr() * c[0]) {
                return false;
            }
        }
        return true;
    }

    /** Category probabilities of {@code items} from a serving scorer, so thresholds are fitted on what is served. */
    public static float[][] probabilities(Scorer scorer, List<Example> items, int batch) {
        float[][] out = new float[items.size()][];
        for (int start = 0; start < items.size(); start += batch) {
            List<String> texts = items.subList(start, Math.min(items.size(), start + batch)).stream()
                    .map(Example::text)
                    .toList();
            List<TextScores> s = scorer.score(texts);
            for (int i = 0; i < s.size(); i++) {
                out[start + i] = s.get(i).probabilities();
            }
        }
        return out;
    }

    /** The split-conformal Neyman-Pearson threshold on max_c p_c over the scope's safe items, clamped. */
    /**
     * Safe dev items one source needs before the common threshold must also hold the target on it alone. Why: in
     * English, 3,000 of 3,900 safe dev items are Alpaca instructions that every model scores near 0; pooled, they
     * let the threshold fall to the floor (0.02) and the rarer, harder safe items (real chat, rated replies) are
     * flagged far above the target (a first calibration gave XSTest FPR 91 %, HateCheck 71 %).
     */
    static final int MIN_SAFE_PER_SOURCE = 100;

    /**
     * The split-conformal Neyman-Pearson threshold on max_c p_c over the scope's safe items, and over each source's
     * safe items that has enough of them: the largest of these, so every such source stays within the target.
     */
    static double commonThreshold(Scope s, Settings settings) {
        double t = conformal(s, null, settings);
        if (s.sources != null) {
            Map<String, Integer> safePerSource = new TreeMap<>();
            for (int i : s.items) {
                if (!s.unsafe[i]) {
                    safePerSource.merge(s.sources.get(i), 1, Integer::sum);
                }
            }
            for (Map.Entry<String, Integer> e : safePerSource.entrySet()) {
                if (e.getValue() >= MIN_SAFE_PER_SOURCE) {
                    t = Math.max(t, conformal(s, e.getKey(), settings));
                }
            }
        }
        return t;
    }

    /** The conformal threshold over the scope's safe items of {@code source} (null: all of them), clamped. */
    private static double conformal(Scope s, String source, Settings settings) {
        int n = 0;
        float[] safeScores = new float[s.safe];
        for (int i : s.items) {
            if (!s.unsafe[i] && (source == null || source.equals(s.sources.get(i)))) {
                safeScores[n++] = max(s.p[i]);
            }
        }
        Arrays.sort(safeScores, 0, n);
        int rank = (int) Math.ceil((1 - settings.targetFpr()) * (n + 1)); // 1-based
        double t = rank > n ? settings.maxThreshold() : safeScores[rank - 1];
        return clamp(t, settings);
    }

    /**
     * Per-category thresholds of a scope, starting from {@code common} for all. Categories with enough positives
     * are moved to maximise the dev unsafe items flagged subject to the flagged safe items staying within the
     * budget (the larger of what {@code common} flags and the conformal K): a Lagrangian search, each λ solved by
     * coordinate ascent on TP − λ·FP over a threshold grid, λ bisected, the best feasible solution kept, then the
     * budget left spent greedily ({@link #fill}); the common thresholds are the fallback, so the result never
     * flags fewer dev unsafe items than they do.
     */
    static float[] perCategory(Scope s, double common, Settings settings) {
        float[] start = filled((float) common);
        boolean[] eligible = new boolean[SafetyCategory.COUNT];
        boolean any = false;
        for (int c = 0; c < SafetyCategory.COUNT; c++) {
            eligible[c] = s.positives[c] >= settings.minPositives();
            any |= eligible[c];
        }
        if (!any) {
            return start;
        }
        float[] grid = grid(settings);
        int[][] byCategory = new int[SafetyCategory.COUNT][];
        for (int c = 0; c < SafetyCategory.COUNT; c++) {
            if (eligible[c]) {
                byCategory[c] = descending(s, c);
            }
        }
        int[] counts = s.counts(start);
        int budget = Math.max(counts[1], conformalBudget(s.safe, settings.targetFpr()));
        float[] best = start;
        int bestTp = counts[0];
        int bestFp = counts[1];
        double lo = 1e-3;
        double hi = 1e3;
        for (int iteration = 0; iteration < 40; iteration++) {
            double lambda = Math.sqrt(lo * hi);
            float[] t = ascend(s, start, eligible, byCategory, grid, lambda);
            int[] tf = s.counts(t);
            if (tf[1] <= budget) {
                if (tf[0] > bestTp || (tf[0] == bestTp && tf[1] < bestFp)) {
                    best = t;
                    bestTp = tf[0];
                    bestFp = tf[1];
                }
                hi = lambda; // feasible: false positives may cost less
            } else {
                lo = lambda;
            }
        }
        // a Lagrangian only reaches the corners of the TP/FP trade-off: spend what is left of the budget greedily,
        // from its solution and from the common threshold, and keep whichever flags more dev unsafe items
        float[] fromBest = fill(s, best, eligible, byCategory, grid, budget);
        float[] fromCommon = fill(s, start, eligible, byCategory, grid, budget);
        int[] a = s.counts(fromBest);
        int[] b = s.counts(fromCommon);
        return a[0] > b[0] || (a[0] == b[0] && a[1] <= b[1]) ? fromBest : fromCommon;
    }

    /**
     * Lowers eligible categories' thresholds while the flagged safe items stay within {@code budget}, each time
     * the move with the most newly flagged unsafe items per newly flagged safe item (+1, so free moves come first).
     */
    private static float[] fill(
            Scope s, float[] from, boolean[] eligible, int[][] byCategory, float[] grid, int budget) {
        float[] t = from.clone();
        int[] fires = new int[s.p.length];
        int fp = 0;
        for (int i : s.items) {
            for (int c = 0; c < SafetyCategory.COUNT; c++) {
                fires[i] += s.p[i][c] > t[c] ? 1 : 0;
            }
            fp += fires[i] > 0 && !s.unsafe[i] ? 1 : 0;
        }
        while (true) {
            int bestC = -1;
            float bestT = 0;
            int bestFp = 0;
            double bestScore = 0;
            for (int c = 0; c < SafetyCategory.COUNT; c++) {
                if (!eligible[c]) {
                    continue;
                }
                int[] order = byCategory[c];
                int k = 0;
                while (k < order.length && s.p[order[k]][c] > t[c]) {
                    k++;
                }
                int dTp = 0;
                int dFp = 0;
                for (int g = grid.length - 1; g >= 0; g--) {
                    if (grid[g] >= t[c]) {
                        continue;
                    }
                    while (k < order.length && s.p[order[k]][c] > grid[g]) {
                        int i = order[k++];
                        if (fires[i] == 0) {
                            if (s.unsafe[i]) dTp++;
                            else dFp++;
                        }
                    }
                    if (fp + dFp > budget) {
                        break;
                    }
                    double score = dTp / (dFp + 1.0);
                    if (dTp > 0 && score > bestScore) {
                        bestScore = score;
                        bestC = c;
                        bestT = grid[g];
                        bestFp = dFp;
                    }
                }
            }
            if (bestC < 0) {
                return t;
            }
            for (int i : s.items) {
                if (s.p[i][bestC] > bestT && s.p[i][bestC] <= t[bestC]) {
                    fires[i]++;
                }
            }
            t[bestC] = bestT;
            fp += bestFp;
        }
    }

    /** Coordinate ascent on (unsafe flagged) − λ·(safe flagged) over the eligible categories' thresholds. */
    private static float[] ascend(
            Scope s, float[] start, boolean[] eligible, int[][] byCategory, float[] grid, double lambda) {
        float[] t = start.clone();
        int[] fires = new int[s.p.length];
        for (int i : s.items) {
            for (int c = 0; c < SafetyCategory.COUNT; c++) {
                fires[i] += s.p[i][c] > t[c] ? 1 : 0;
            }
        }
        for (int sweep = 0; sweep < 10; sweep++) {
            boolean changed = false;
            for (int c = 0; c < SafetyCategory.COUNT; c++) {
                if (!eligible[c]) {
                    continue;
                }
                // only items no other category flags depend on t[c]; walk them from the highest p_c down
                int[] order = byCategory[c];
                double gain = 0;
                double bestGain = 0;
                float bestT = grid[grid.length - 1];
                int k = 0;
                for (int g = grid.length - 1; g >= 0; g--) {
                    while (k < order.length && s.p[order[k]][c] > grid[g]) {
                        int i = order[k++];
                        boolean others = fires[i] - (s.p[i][c] > t[c] ? 1 : 0) > 0;
                        if (!others) {
                            gain += s.unsafe[i] ? 1 : -lambda;
                        }
                    }
                    if (gain > bestGain + 1e-9) {
                        bestGain = gain;
                        bestT = grid[g];
                    }
                }
                if (bestT != t[c]) {
                    for (int i : s.items) {
                        fires[i] += (s.p[i][c] > bestT ? 1 : 0) - (s.p[i][c] > t[c] ? 1 : 0);
                    }
                    t[c] = bestT;
                    changed = true;
                }
            }
            if (!changed) {
                break;
            }
        }
        return t;
    }

    /** The scope's items by category {@code c}'s probability, highest first. */
    private static int[] descending(Scope s, int c) {
        return Arrays.stream(s.items)
                .boxed()
                .sorted((a, b) -> Float.compare(s.p[b][c], s.p[a][c]))
                .mapToInt(Integer::intValue)
                .toArray();
    }

    /**
     * Whether per-category thresholds are worth having in a scope: fitted on a random half of its items, they must flag a larger share of the other half's unsafe items than the common threshold does,
     * with that half's FPR at most half the target above the common threshold's. Per-category thresholds fitted
     * on a few dozen positives per category can fit noise; this keeps them only when they carry over.
     */
    static boolean holdsOut(Scope s, double common, Settings settings) {
        // a seeded coin per item, not alternate positions: dev items come grouped by source and label
        Random coin = new Random(17);
        List<Integer> a = new ArrayList<>();
        List<Integer> b = new ArrayList<>();
        for (int i : s.items) {
            (coin.nextBoolean() ? a : b).add(i);
        }
        Scope fitHalf = s.subset(a.stream().mapToInt(Integer::intValue).toArray());
        Scope checkHalf = s.subset(b.stream().mapToInt(Integer::intValue).toArray());
        float[] fitted = perCategory(fitHalf, common, settings);
        float[] plain = filled((float) common);
        double recallGain = checkHalf.rate(fitted, true) - checkHalf.rate(plain, true);
        double fprRise = checkHalf.rate(fitted, false) - checkHalf.rate(plain, false);
        return recallGain > 0 && fprRise <= settings.targetFpr() / 2;
    }

    private static boolean isCommon(float[] t, double common) {
        for (float v : t) {
            if (v != (float) common) {
                return false;
            }
        }
        return true;
    }

    /** K: how many of n safe items the conformal threshold may leave above it. */
    static int conformalBudget(int safe, double alpha) {
        return Math.max(0, safe - (int) Math.ceil((1 - alpha) * (safe + 1)));
    }

    /** Thresholds at equal steps in logit space between the bounds: finer where probabilities bunch up. */
    static float[] grid(Settings settings) {
        double lo = logit(settings.minThreshold());
        double hi = logit(settings.maxThreshold());
        int steps = (int) Math.floor((hi - lo) / settings.gridStep());
        TreeSet<Float> g = new TreeSet<>();
        for (int i = 0; i <= steps; i++) {
            g.add((float) sigmoid(lo + i * settings.gridStep()));
        }
        g.add((float) settings.maxThreshold());
        float[] out = new float[g.size()];
        int k = 0;
        for (float v : g) {
            out[k++] = v;
        }
        return out;
    }

    /** The items of a scope, with their labels, probabilities and per-category positive counts. */
    static final class Scope {
        final int[] items;
        final boolean[] unsafe;
        final float[][] p;
        final int safe;
        final int[] positives = new int[SafetyCategory.COUNT];

        final List<String> sources; // per item (all items, not only the scope's), or null
        private final List<Set<SafetyCategory>> categories;

        Scope(int[] items, boolean[] unsafe, List<Set<SafetyCategory>> categories, List<String> sources, float[][] p) {
            this.categories = categories;
            this.sources = sources;
            this.items = items;
            this.unsafe = unsafe;
            this.p = p;
            int safeCount = 0;
            for (int i : items) {
                if (!unsafe[i]) {
                    safeCount++;
                } else {
                    for (SafetyCategory c : categories.get(i)) {
                        positives[c.ordinal()]++;
                    }
                }
            }
            this.safe = safeCount;
        }

        Scope subset(int[] some) {
            return new Scope(some, unsafe, categories, sources, p);
        }

        /** {unsafe flagged, safe flagged} by thresholds {@code t}. */
        int[] counts(float[] t) {
            int[] tf = new int[2];
            for (int i : items) {
                if (DecisionPolicy.isUnsafe(p[i], t)) {
                    tf[unsafe[i] ? 0 : 1]++;
                }
            }
            return tf;
        }

        int unsafeCount() {
            return items.length - safe;
        }

        ScopeReport report(String scope, String source, double common, float[] t) {
            float[] half = filled(0.5f);
            return new ScopeReport(
                    scope,
                    source,
                    safe,
                    unsafeCount(),
                    common,
                    differing(t, common),
                    rate(t, false),
                    rate(t, true),
                    rate(half, false),
                    rate(half, true));
        }

        /** Share of the scope's unsafe (recall) or safe (FPR) items flagged by {@code t}; NaN without any. */
        double rate(float[] t, boolean ofUnsafe) {
            int flagged = 0;
            int total = 0;
            for (int i : items) {
                if (unsafe[i] == ofUnsafe) {
                    total++;
                    flagged += DecisionPolicy.isUnsafe(p[i], t) ? 1 : 0;
                }
            }
            return total == 0 ? Double.NaN : flagged / (double) total;
        }
    }

    private static Map<String, Double> differing(float[] t, double common) {
        Map<String, Double> out = new TreeMap<>();
        for (SafetyCategory c : SafetyCategory.ordered()) {
            if (t[c.ordinal()] != (float) common) {
                out.put(c.key(), (double) t[c.ordinal()]);
            }
        }
        return out;
    }

    private static double clamp(double t, Settings s) {
        return Math.max(s.minThreshold(), Math.min(s.maxThreshold(), t));
    }

    private static float[] filled(float v) {
        float[] t = new float[SafetyCategory.COUNT];
        Arrays.fill(t, v);
        return t;
    }

    private static float max(float[] p) {
        float m = 0;
        for (float x : p) {
            m = Math.max(m, x);
        }
        return m;
    }

    static double logit(double p) {
        return Math.log(p / (1 - p));
    }

    static double sigmoid(double x) {
        return 1 / (1 + Math.exp(-x));
    }

    private static String pct(double v) {
        return Double.isNaN(v) ? "—" : String.format("%.1f %%", 100 * v);
    }

    private static Double finite(double v) {
        return Double.isNaN(v) ? null : v;
    }

    private static String describe(Map<String, Double> categories) {
        StringBuilder b = new StringBuilder();
        categories.forEach(
                (k, v) -> b.append(b.length() == 0 ? "" : ", ").append(k).append(String.format(" %.3f", v)));
        return b.toString();
    }
}
