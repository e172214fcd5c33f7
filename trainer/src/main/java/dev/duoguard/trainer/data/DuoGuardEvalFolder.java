package dev.duoguard.trainer.data;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads the DuoGuard repository's evaluation layout directly, so anyone holding those files reproduces the paper's
 * table: {@code eval_data_En/}, {@code eval_data_Fr/}, {@code eval_data_Es/}, {@code eval_data_De/}, each with up to
 * six benchmark files. Label rules are those of the reference evaluation code (duoguard-method.md).
 */
public final class DuoGuardEvalFolder {

    /** Folder suffix → ISO code. */
    public static final Map<String, String> LANGUAGES = orderedMap("En", "en", "Fr", "fr", "Es", "es", "De", "de");

    private static final Set<String> ONE = Set.of("1", "1.0", "true");

    /** File name → (benchmark name, mapping), in the paper's column order. */
    public static final Map<String, Benchmark> FILES = benchmarks();

    public record Benchmark(String name, FieldMapping mapping) {}

    private DuoGuardEvalFolder() {}

    private static Map<String, Benchmark> benchmarks() {
        Map<String, Benchmark> m = new LinkedHashMap<>();
        m.put(
                "xstest_v2_completions_gpt4_gpteval.csv",
                new Benchmark("XSTest", mapping(List.of("prompt"), "type", null, "contrast_")));
        m.put(
                "openai.json",
                new Benchmark("OpenAI Moderation", mapping(List.of("prompt"), "moderation_flag", ONE, null)));
        m.put("toxic_chat.json", new Benchmark("ToxicChat", mapping(List.of("prompt"), "moderation_flag", ONE, null)));
        m.put(
                "beavertail_test.jsonl",
                new Benchmark(
                        "BeaverTails", mapping(List.of("prompt", "response"), "is_safe", Set.of("false", "0"), null)));
        m.put("rtp_lx_prompt.json", new Benchmark("RTP-LX", mapping(List.of("prompt"), "class", ONE, null)));
        m.put("XSafety.json", new Benchmark("XSafety", mapping(List.of("prompt"), "class", ONE, null)));
        return Collections.unmodifiableMap(m);
    }

    private static FieldMapping mapping(List<String> text, String label, Set<String> unsafe, String prefix) {
        return new FieldMapping(text, label, unsafe, prefix, null, Map.of(), null, "und", null, null, null);
    }

    private static Map<String, String> orderedMap(String... kv) {
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put(kv[i], kv[i + 1]);
        }
        return Collections.unmodifiableMap(m);
    }

    /** True when {@code dir} holds at least one {@code eval_data_*} language folder. */
    public static boolean looksLikeOne(Path dir) {
        return LANGUAGES.keySet().stream().anyMatch(l -> Files.isDirectory(dir.resolve("eval_data_" + l)));
    }

    /** Every benchmark file present under {@code dir}, as examples whose source is the benchmark name. */
    public static List<Example> read(Path dir) {
        if (!looksLikeOne(dir)) {
            throw new DataException(
                    dir + " has none of the folders eval_data_En, eval_data_Fr, eval_data_Es, eval_data_De");
        }
        List<Example> out = new ArrayList<>();
        for (var lang : LANGUAGES.entrySet()) {
            Path folder = dir.resolve("eval_data_" + lang.getKey());
            if (!Files.isDirectory(folder)) {
                continue;
            }
            for (var file : FILES.entrySet()) {
                Path p = folder.resolve(file.getKey());
                if (!Files.isRegularFile(p)) {
                    continue;
                }
                FieldMapping mapping = file.getValue().mapping().withLanguage(lang.getValue());
                List<RecordFiles.Row> rows = RecordFiles.read(p);
                for (int i = 0; i < rows.size(); i++) {
                    String source = file.getValue().name();
                    out.add(mapping.apply(rows.get(i), source, i));
                }
            }
        }
        return out;
    }
}
