package dev.duoguard.trainer.eval;

import dev.duoguard.runtime.policy.DecisionPolicy;
import dev.duoguard.runtime.scoring.GuardrailModel;
import dev.duoguard.runtime.scoring.Scorer;
import dev.duoguard.runtime.scoring.TextScores;
import dev.duoguard.trainer.data.Example;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Scores benchmarks with a bundle through the streams app's own scorer ({@link GuardrailModel}: same tokenizer,
 * windowing and ONNX Runtime session) and computes {@link Metrics} per dataset and per dataset × language, next to
 * the two trivial baselines (flag everything, flag nothing). Also measures latency with one input per call and
 * throughput with batched calls.
 *
 * <p>An item is unsafe when any category probability exceeds the bundle's threshold for the item's {@code lang}
 * (its {@code language_thresholds} entry, else the global thresholds), exactly as the streams app decides a
 * message in that language. AUPRC stays on the max category probability: it ranks, it does not threshold.
 */
public final class Evaluator {

    /** DuoGuard's threshold, for {@link #row(String, String, List, float[])} (dev metrics of an uncalibrated model). */
    public static final double THRESHOLD = 0.5;

    static final String ALL = "all";

    /**
     * One dataset (× language) row of the report.
     *
     * @param thresholds where the row's decision thresholds came from: a language's own, {@code "global"}, a
     *                   mix ({@code "per item: fr, global"}) or {@code "0.5"}
     */
    public record Row(
            String dataset, String lang, Metrics model, Metrics flagAll, Metrics flagNone, String thresholds) {}

    /** Per-input latency (one input per call) and batched throughput. */
    public record Speed(
            int latencySamples, double p50Ms, double p95Ms, double meanMs, int items, double itemsPerSecond) {}

    /** @param thresholds the bundle's thresholds, described (global default and per-language entries) */
    public record Result(String model, List<Row> rows, Speed speed, String thresholds) {}

    private final GuardrailModel model;
    private final int batchSize;
    private final int minGroup;

    /** @param minGroup a language gets its own row when the dataset has at least this many items in it */
    public Evaluator(GuardrailModel model, int batchSize, int minGroup) {
        this.model = model;
        this.batchSize = batchSize;
        this.minGroup = minGroup;
    }

    public Result run(Map<String, List<Example>> benchmarks, int latencySamples) {
        List<Row> rows = new ArrayList<>();
        long nanos = 0;
        int items = 0;
        List<String> sample = new ArrayList<>();
        for (var set : benchmarks.entrySet()) {
            List<Example> examples = set.getValue();
            if (examples.isEmpty()) {
                continue;
            }
            long t0 = System.nanoTime();
            float[][] probabilities = score(examples);
            nanos += System.nanoTime() - t0;
            items += examples.size();
            float[] scores = new float[examples.size()];
            boolean[] flagged = new boolean[examples.size()];
            String[] sources = new String[examples.size()];
            Scorer.ModelIdentity id = model.model();
            for (int i = 0; i < scores.length; i++) {
                String lang = examples.get(i).lang();
                scores[i] = max(probabilities[i]);
                flagged[i] = DecisionPolicy.isUnsafe(probabilities[i], id.thresholds(lang));
                sources[i] = id.thresholdSource(lang);
            }
            rows.add(row(set.getKey(), ALL, examples, scores, flagged, sources));
            Map<String, List<Integer>> byLang = new TreeMap<>();
            for (int i = 0; i < examples.size(); i++) {
                byLang.computeIfAbsent(examples.get(i).lang(), k -> new ArrayList<>())
                        .add(i);
            }
            if (byLang.size() > 1 || !byLang.containsKey("und")) {
                byLang.forEach((lang, idx) -> {
                    if (idx.size() >= minGroup) {
                        rows.add(row(
                                set.getKey(),
                                lang,
                                idx.stream().map(examples::get).toList(),
                                pick(scores, idx),
                                pick(flagged, idx),
                                pick(sources, idx)));
                    }
                });
            }
            int stride = Math.max(1, examples.size() / Math.max(1, latencySamples / benchmarks.size()));
            for (int i = 0; i < examples.size() && sample.size() < latencySamples; i += stride) {
                sample.add(examples.get(i).text());
            }
        }
        return new Result(
                model.model().name() + " " + model.model().version(),
                rows,
                speed(sample, items, nanos),
                describeThresholds(model.model()));
    }

    /** "global 0.5" or "global 0.42 (hate 0.3); own: de, fr" — what decides, in a line. */
    static String describeThresholds(Scorer.ModelIdentity id) {
        float[] t = id.thresholds();
        StringBuilder b = new StringBuilder("global ");
        boolean uniform = true;
        for (float v : t) {
            uniform &= v == t[0];
        }
        if (uniform) {
            b.append(String.format(Locale.ROOT, "%.3f", t[0]));
        } else {
            b.append(Arrays.toString(t));
        }
        if (!id.languageThresholds().isEmpty()) {
            b.append("; own thresholds: ")
                    .append(String.join(
                            ", ", new TreeSet<>(id.languageThresholds().keySet())));
        }
        return b.toString();
    }

    private static float max(float[] p) {
        float m = 0f;
        for (float x : p) {
            m = Math.max(m, x);
        }
        return m;
    }

    private float[][] score(List<Example> examples) {
        float[][] out = new float[examples.size()][];
        for (int start = 0; start < examples.size(); start += batchSize) {
            List<String> texts = examples.subList(start, Math.min(examples.size(), start + batchSize)).stream()
                    .map(Example::text)
                    .toList();
            List<TextScores> s = model.score(texts);
            for (int i = 0; i < s.size(); i++) {
                out[start + i] = s.get(i).probabilities();
            }
        }
        return out;
    }

    private static float[] pick(float[] scores, List<Integer> idx) {
        float[] out = new float[idx.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = scores[idx.get(i)];
        }
        return out;
    }

    private static boolean[] pick(boolean[] values, List<Integer> idx) {
        boolean[] out = new boolean[idx.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = values[idx.get(i)];
        }
        return out;
    }

    private static String[] pick(String[] values, List<Integer> idx) {
        return idx.stream().map(i -> values[i]).toArray(String[]::new);
    }

    /** A row decided at DuoGuard's 0.5 on the max category probability {@code scores}. */
    public static Row row(String dataset, String lang, List<Example> examples, float[] scores) {
        boolean[] flagged = new boolean[scores.length];
        for (int i = 0; i < flagged.length; i++) {
            flagged[i] = scores[i] > THRESHOLD;
        }
        String[] sources = new String[scores.length];
        Arrays.fill(sources, "0.5");
        return row(dataset, lang, examples, scores, flagged, sources);
    }

    /**
     * A row from each item's decision ({@code flagged}) and max category probability ({@code scores}, for AUPRC);
     * {@code sources[i]}: where item i's thresholds came from.
     */
    public static Row row(
            String dataset, String lang, List<Example> examples, float[] scores, boolean[] flagged, String[] sources) {
        boolean[] unsafe = new boolean[examples.size()];
        for (int i = 0; i < unsafe.length; i++) {
            unsafe[i] = examples.get(i).unsafe();
        }
        float[] ones = new float[scores.length];
        Arrays.fill(ones, 1f);
        TreeSet<String> distinct = new TreeSet<>(Arrays.asList(sources));
        String source = distinct.size() == 1 ? distinct.first() : "per item: " + String.join(", ", distinct);
        return new Row(
                dataset,
                lang,
                Metrics.of(scores, flagged, unsafe),
                Metrics.of(ones, unsafe, THRESHOLD),
                Metrics.of(new float[scores.length], unsafe, THRESHOLD),
                source);
    }

    private Speed speed(List<String> sample, int items, long batchedNanos) {
        double[] ms = new double[sample.size()];
        if (!sample.isEmpty()) {
            model.score(List.of(sample.get(0))); // warm-up
        }
        for (int i = 0; i < sample.size(); i++) {
            long t0 = System.nanoTime();
            model.score(List.of(sample.get(i)));
            ms[i] = (System.nanoTime() - t0) / 1e6;
        }
        Arrays.sort(ms);
        double mean = Arrays.stream(ms).average().orElse(Double.NaN);
        return new Speed(
                ms.length,
                percentile(ms, 0.50),
                percentile(ms, 0.95),
                mean,
                items,
                items / Math.max(batchedNanos / 1e9, 1e-9));
    }

    static double percentile(double[] sorted, double q) {
        if (sorted.length == 0) {
            return Double.NaN;
        }
        return sorted[Math.min(sorted.length - 1, (int) Math.ceil(q * sorted.length) - 1)];
    }
}
