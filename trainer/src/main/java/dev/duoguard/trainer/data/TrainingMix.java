package dev.duoguard.trainer.data;

import dev.duoguard.runtime.taxonomy.SafetyCategory;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;

/**
 * The training and dev sets built from named sources under {@link DataPolicy}: evaluation-only sets refused,
 * held-out splits dropped, items de-duplicated within and across sources (normalized text; the first source in
 * order wins), items whose text also appears in a benchmark dropped, then optional per-source caps on the
 * training part (a seeded sample) and, optionally, categories inferred for unsafe items whose source names none
 * ({@link CategoryInference}, train and dev alike). The mix is shaped by loss weights ({@link MixWeights}), not
 * by repeats. {@link #report} prints the mix before training starts.
 */
public final class TrainingMix {

    /** What happened to one source's items. */
    public static final class SourceCounts {
        public int read, heldOut, empty, duplicate, labelConflict, benchmarkOverlap, capped, train, dev;
    }

    private final List<Example> train;
    private final List<Example> dev;
    private final Map<String, SourceCounts> counts;
    private final Map<SafetyCategory, Integer> inferred;

    private TrainingMix(
            List<Example> train,
            List<Example> dev,
            Map<String, SourceCounts> counts,
            Map<SafetyCategory, Integer> inferred) {
        this.train = List.copyOf(train);
        this.dev = List.copyOf(dev);
        this.counts = Collections.unmodifiableMap(counts);
        this.inferred = Collections.unmodifiableMap(inferred);
    }

    /**
     * @param sources        dataset name → items, in priority order
     * @param benchmarkTexts {@link Example#dedupKey()}s of every benchmark item that must not be trained on
     * @param caps           dataset name → most training items to keep (absent: all)
     */
    public static TrainingMix build(
            Map<String, List<Example>> sources, Set<String> benchmarkTexts, Map<String, Integer> caps, long seed) {
        return build(sources, benchmarkTexts, caps, seed, false);
    }

    /** @param inferCategories name categories for unsafe items whose source gives none ({@link CategoryInference}) */
    public static TrainingMix build(
            Map<String, List<Example>> sources,
            Set<String> benchmarkTexts,
            Map<String, Integer> caps,
            long seed,
            boolean inferCategories) {
        Map<String, SourceCounts> counts = new LinkedHashMap<>();
        Map<String, Boolean> seen = new HashMap<>();
        // id of a dropped item -> dropped for benchmark overlap (true) or as a duplicate (false): its translations
        // (group key = that id, different text) go with it, or a benchmark item would be trained on in Spanish
        Map<String, Boolean> dropped = new HashMap<>();
        List<Example> dev = new ArrayList<>();
        Map<String, List<Example>> trainBySource = new LinkedHashMap<>();
        for (var source : sources.entrySet()) {
            if (DataPolicy.isEvalOnly(source.getKey())) {
                throw new DataException("'" + source.getKey() + "' is an evaluation-only benchmark and is never "
                        + "used for training (split policy in the data README); evaluate on it with ./duoguard eval");
            }
            SourceCounts c = counts.computeIfAbsent(source.getKey(), k -> new SourceCounts());
            List<Example> train = trainBySource.computeIfAbsent(source.getKey(), k -> new ArrayList<>());
            for (Example e : source.getValue()) {
                c.read++;
                String key = e.dedupKey();
                if (key.isEmpty()) {
                    c.empty++;
                    continue;
                }
                DataPolicy.Split split = DataPolicy.splitOf(e);
                if (split == DataPolicy.Split.HELD_OUT) {
                    c.heldOut++;
                    continue;
                }
                Boolean originalDropped = e.groupKey().equals(e.id()) ? null : dropped.get(e.groupKey());
                if (originalDropped != null) {
                    if (originalDropped) {
                        c.benchmarkOverlap++;
                    } else {
                        c.duplicate++;
                    }
                    continue;
                }
                if (benchmarkTexts.contains(key)) {
                    c.benchmarkOverlap++;
                    dropped.put(e.id(), true);
                    continue;
                }
                Boolean earlier = seen.putIfAbsent(key, e.unsafe());
                if (earlier != null) {
                    c.duplicate++;
                    if (earlier != e.unsafe()) {
                        c.labelConflict++;
                    }
                    dropped.put(e.id(), false);
                    continue;
                }
                if (split == DataPolicy.Split.DEV) {
                    dev.add(e);
                    c.dev++;
                } else {
                    train.add(e);
                }
            }
        }
        List<Example> train = new ArrayList<>();
        for (var entry : trainBySource.entrySet()) {
            List<Example> items = entry.getValue();
            Integer cap = caps.get(entry.getKey());
            SourceCounts c = counts.get(entry.getKey());
            if (cap != null && items.size() > cap) {
                items = new ArrayList<>(items);
                Collections.shuffle(items, new Random(seed ^ entry.getKey().hashCode()));
                c.capped = items.size() - cap;
                items = items.subList(0, cap);
            }
            train.addAll(items);
            c.train = items.size();
        }
        Map<SafetyCategory, Integer> inferred = new EnumMap<>(SafetyCategory.class);
        if (inferCategories) {
            // train and dev together: a translation's English row may sit in either list only with it
            List<Example> all = new ArrayList<>(train);
            all.addAll(dev);
            List<Example> named = CategoryInference.apply(all, inferred);
            train = new ArrayList<>(named.subList(0, train.size()));
            dev = new ArrayList<>(named.subList(train.size(), named.size()));
        }
        return new TrainingMix(train, dev, counts, inferred);
    }

    /** Loss weights of {@link #train()}, in order (see {@link MixWeights}). */
    public double[] weights(double unsafePrior, double temper) {
        return MixWeights.of(train, unsafePrior, temper);
    }

    /** The benchmark keys of {@code benchmarks}, for {@link #build}'s overlap filter. */
    public static Set<String> keysOf(Collection<List<Example>> benchmarks) {
        Set<String> keys = new HashSet<>();
        benchmarks.forEach(list -> list.forEach(e -> keys.add(e.dedupKey())));
        return keys;
    }

    public List<Example> train() {
        return train;
    }

    public List<Example> dev() {
        return dev;
    }

    public Map<String, SourceCounts> counts() {
        return counts;
    }

    /** Training items by language, label and category, as JSON-friendly maps (also written to the manifest). */
    public Map<String, Object> summary() {
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("train", train.size());
        s.put("dev", dev.size());
        s.put("train_by_language", tally(train, e -> e.lang()));
        s.put("train_by_label", tally(train, e -> e.unsafe() ? "unsafe" : "safe"));
        Map<String, Integer> cats = new TreeMap<>();
        for (Example e : train) {
            if (e.categoryUnknown()) {
                cats.merge("(unsafe, category unknown)", 1, Integer::sum);
            }
            for (SafetyCategory c : e.categories()) {
                cats.merge(c.displayName(), 1, Integer::sum);
            }
        }
        s.put("train_by_category", cats);
        Map<String, Integer> named = new TreeMap<>();
        inferred.forEach((c, n) -> named.put(c.displayName(), n));
        s.put("categories_inferred", named);
        s.put("train_by_language_category_label", crossTab(train));
        Map<String, Object> sources = new LinkedHashMap<>();
        counts.forEach((name, c) -> sources.put(
                name,
                Map.of(
                        "read",
                        c.read,
                        "held_out",
                        c.heldOut,
                        "duplicate",
                        c.duplicate,
                        "label_conflict",
                        c.labelConflict,
                        "benchmark_overlap",
                        c.benchmarkOverlap,
                        "capped",
                        c.capped,
                        "train",
                        c.train,
                        "dev",
                        c.dev,
                        "empty",
                        c.empty)));
        s.put("sources", sources);
        return s;
    }

    private static Map<String, Integer> tally(List<Example> items, Function<Example, String> key) {
        Map<String, Integer> m = new TreeMap<>();
        items.forEach(e -> m.merge(key.apply(e), 1, Integer::sum));
        return m;
    }

    /** Prints the mix: per source what was kept and dropped, then the training set by language, label, category. */
    public void report(PrintStream out) {
        out.printf(
                "%-28s %7s %7s %7s %7s %7s %7s %7s%n",
                "source", "read", "test", "dup", "in-eval", "capped", "train", "dev");
        counts.forEach((name, c) -> out.printf(
                "%-28s %7d %7d %7d %7d %7d %7d %7d%n",
                name, c.read, c.heldOut, c.duplicate, c.benchmarkOverlap, c.capped, c.train, c.dev));
        int conflicts = counts.values().stream().mapToInt(c -> c.labelConflict).sum();
        out.printf("duplicates with the opposite label (first kept): %d%n", conflicts);
        Map<String, Object> s = summary();
        out.println("train by label:    " + s.get("train_by_label"));
        out.println("train by language: " + s.get("train_by_language"));
        out.println("train by category: " + s.get("train_by_category"));
        out.println("categories inferred for unsafe items whose source names none: " + s.get("categories_inferred"));
        printCrossTab(out);
    }

    /** language → "label/category" → count, for the manifest. */
    private static Map<String, Map<String, Integer>> crossTab(List<Example> items) {
        Map<String, Map<String, Integer>> t = new TreeMap<>();
        for (Example e : items) {
            Map<String, Integer> row = t.computeIfAbsent(e.lang(), k -> new TreeMap<>());
            if (!e.unsafe()) {
                row.merge("safe", 1, Integer::sum);
            } else if (e.categories().isEmpty()) {
                row.merge("unsafe/unknown", 1, Integer::sum);
            } else {
                e.categories().forEach(c -> row.merge("unsafe/" + c.key(), 1, Integer::sum));
            }
        }
        return t;
    }

    /** The training set as a language × (safe, unsafe per category) table: where the data has holes. */
    private void printCrossTab(PrintStream out) {
        Map<String, Map<String, Integer>> t = crossTab(train);
        List<String> cols = new ArrayList<>(List.of("safe", "unsafe/unknown"));
        SafetyCategory.ordered().forEach(c -> cols.add("unsafe/" + c.key()));
        out.println("train by language x label/category (an unsafe item counts once per category it names):");
        StringBuilder head = new StringBuilder(String.format("%-5s", "lang"));
        for (String c : cols) {
            head.append(String.format(" %7s", abbreviation(c)));
        }
        out.println(head);
        t.forEach((lang, row) -> {
            StringBuilder line = new StringBuilder(String.format("%-5s", lang));
            for (String c : cols) {
                line.append(String.format(" %7d", row.getOrDefault(c, 0)));
            }
            out.println(line);
        });
        out.println("  columns: "
                + String.join(
                        ", ", cols.stream().map(c -> abbreviation(c) + "=" + c).toList()));
    }

    private static String abbreviation(String column) {
        if (column.equals("safe")) {
            return "safe";
        }
        String k = column.substring("unsafe/".length());
        if (k.equals("unknown")) {
            return "unk";
        }
        StringBuilder a = new StringBuilder();
        for (String part : k.split("_")) {
            a.append(part, 0, Math.min(3, part.length()));
        }
        return a.length() > 7 ? a.substring(0, 7) : a.toString();
    }
}
