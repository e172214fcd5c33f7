package dev.duoguard.trainer.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The normalized JSONL datasets of a data directory (the layout of {@code ../shared/data}): one file per dataset,
 * named after it, in the project's normalized schema.
 */
public final class SharedData {

    /** Name of ToxicChat's official test split when it is used as a benchmark. */
    public static final String TOXICCHAT_TEST = "toxicchat-test";
    /** HateCheck restricted to the templates that Multilingual HateCheck training never sees in any language. */
    public static final String HATECHECK_HELDOUT = "hatecheck-heldout-templates";

    private SharedData() {}

    /** Reads {@code file} as normalized JSONL; the dataset name is the file stem. */
    public static List<Example> readNormalized(Path file) {
        String dataset = stem(file);
        List<RecordFiles.Row> rows = RecordFiles.read(file);
        List<Example> out = new ArrayList<>(rows.size());
        for (int i = 0; i < rows.size(); i++) {
            out.add(FieldMapping.NORMALIZED.apply(rows.get(i), dataset, i));
        }
        return out;
    }

    /** Reads a user file: normalized JSONL when {@code mapping} is null, else through that field mapping file. */
    public static List<Example> read(Path file, Path mapping) {
        if (mapping == null) {
            return readNormalized(file);
        }
        FieldMapping m = FieldMapping.read(mapping);
        String dataset = stem(file);
        List<RecordFiles.Row> rows = RecordFiles.read(file);
        List<Example> out = new ArrayList<>(rows.size());
        for (int i = 0; i < rows.size(); i++) {
            out.add(m.apply(rows.get(i), dataset, i));
        }
        return out;
    }

    public static String stem(Path file) {
        String name = file.getFileName().toString();
        int dot = name.indexOf('.');
        return dot < 0 ? name : name.substring(0, dot);
    }

    /** Folder of machine translations of the English train seeds ({@code <dataset>.<lang>.jsonl}). */
    public static final String TRANSLATED = "translated";

    /** The training seeds present in {@code dir} (maybe none), by dataset, in {@link DataPolicy#TRAIN_SEEDS} order. */
    public static Map<String, List<Example>> trainSeeds(Path dir) {
        return trainSeeds(dir, false);
    }

    /**
     * As {@link #trainSeeds(Path)}; with {@code translations}, each seed's machine translations in
     * {@code translated/} follow the originals as sources named {@code <dataset>.<lang>} (their group key is the
     * English row's id, so the split keeps an item and its translations together).
     */
    public static Map<String, List<Example>> trainSeeds(Path dir, boolean translations) {
        Map<String, List<Example>> out = new LinkedHashMap<>();
        for (String name : DataPolicy.TRAIN_SEEDS) {
            Path f = dir.resolve(name + ".jsonl");
            if (Files.isRegularFile(f)) {
                out.put(name, readNormalized(f));
            }
        }
        Path translated = dir.resolve(TRANSLATED);
        if (translations && Files.isDirectory(translated)) {
            for (String name : DataPolicy.TRAIN_SEEDS) {
                try (var files = Files.list(translated)) {
                    for (Path f : files.filter(p ->
                                    p.getFileName().toString().matches(Pattern.quote(name) + "\\.[a-z]{2,3}\\.jsonl"))
                            .sorted()
                            .toList()) {
                        String lang = f.getFileName().toString().split("\\.")[1];
                        List<RecordFiles.Row> rows = RecordFiles.read(f);
                        List<Example> items = new ArrayList<>(rows.size());
                        for (int i = 0; i < rows.size(); i++) {
                            items.add(FieldMapping.NORMALIZED.apply(rows.get(i), name, i));
                        }
                        out.put(name + "." + lang, items);
                    }
                } catch (IOException e) {
                    throw new DataException("cannot list " + translated + ": " + e.getMessage());
                }
            }
        }
        return out;
    }

    /**
     * The dev split of the default mix (train seeds and their translations, split as training splits them), as two
     * evaluation sets: {@code dev-mhc} (Multilingual HateCheck's held-out templates) and {@code dev-seeds} (the
     * other seeds' held-out items, English and machine-translated). Dev is never trained on, but thresholds are
     * fitted on it: read its numbers as in-sample for the thresholds.
     */
    public static Map<String, List<Example>> devSlices(Path dir, Map<String, List<Example>> benchmarks) {
        TrainingMix mix =
                TrainingMix.build(trainSeeds(dir, true), TrainingMix.keysOf(benchmarks.values()), Map.of(), 0, true);
        Map<String, List<Example>> out = new LinkedHashMap<>();
        out.put(
                "dev-mhc",
                mix.dev().stream().filter(e -> e.source().equals("mhc")).toList());
        out.put(
                "dev-seeds",
                mix.dev().stream().filter(e -> !e.source().equals("mhc")).toList());
        return out;
    }

    /**
     * The benchmarks present in {@code dir}: every evaluation-only set plus ToxicChat's official test split
     * ({@value #TOXICCHAT_TEST}).
     */
    public static Map<String, List<Example>> benchmarks(Path dir) {
        Map<String, List<Example>> out = new LinkedHashMap<>();
        for (String name : DataPolicy.EVAL_ONLY.stream().sorted().toList()) {
            Path f = dir.resolve(name + ".jsonl");
            if (Files.isRegularFile(f)) {
                out.put(name, readNormalized(f));
            }
        }
        if (out.containsKey("hatecheck")) {
            // HateCheck's templates are the English originals of Multilingual HateCheck's, which is trained on:
            // this view keeps only the templates whose translations are all on the dev side of that split
            out.put(
                    HATECHECK_HELDOUT,
                    out.get("hatecheck").stream()
                            .filter(e -> DataPolicy.splitOf(e) == DataPolicy.Split.DEV)
                            .toList());
        }
        Path toxic = dir.resolve("toxicchat.jsonl");
        if (Files.isRegularFile(toxic)) {
            out.put(
                    TOXICCHAT_TEST,
                    readNormalized(toxic).stream()
                            .filter(e -> DataPolicy.splitOf(e) == DataPolicy.Split.HELD_OUT)
                            .toList());
        }
        return out;
    }
}
