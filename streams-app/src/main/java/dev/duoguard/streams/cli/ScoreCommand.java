package dev.duoguard.streams.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.duoguard.lifecycle.ModelKey;
import dev.duoguard.runtime.language.LanguageIdentifier;
import dev.duoguard.runtime.onnx.ExecutionDevice;
import dev.duoguard.runtime.policy.DecisionPolicy;
import dev.duoguard.runtime.scoring.GuardrailModel;
import dev.duoguard.runtime.scoring.Scorer;
import dev.duoguard.runtime.scoring.TextScores;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import dev.duoguard.streams.app.ModelLocator;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(
        name = "score",
        mixinStandardHelpOptions = true,
        description = {
            "Scores text with a model bundle and prints the 12 category scores.",
            "With no TEXT, reads one text per line from stdin (batched internally); --json writes one JSON",
            "object per line: unsafe, unsafe_score, the 12 category scores by name, language, thresholds.",
            "Unsafe uses the bundle's thresholds for the text's language (--lang, else detected), as the",
            "streams app does; languages without calibrated thresholds use the global ones."
        })
final class ScoreCommand implements Callable<Integer> {

    @Option(names = "--model", description = "bundle directory (default: the project's default model)")
    Path model;

    @Option(names = "--json", description = "one JSON object per input line")
    boolean json;

    @Option(
            names = "--batch",
            defaultValue = "64",
            description = "texts per model call when reading stdin (default: ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--device", defaultValue = "auto", description = "auto, cpu or cuda (default: ${DEFAULT-VALUE})")
    String device;

    @Option(
            names = "--lang",
            description = "language of every text (ISO 639-1, e.g. fr), as a client's language_hint; "
                    + "default: detected among en, fr, es, de")
    String lang;

    @Parameters(arity = "0..*", paramLabel = "TEXT", description = "text to score (words are joined with spaces)")
    List<String> words = new ArrayList<>();

    private final ObjectMapper mapper = new ObjectMapper();

    @Override
    public Integer call() throws Exception {
        if (lang != null && !lang.matches("[a-z]{2,3}")) {
            System.err.println(
                    "--lang must be a 2-3 letter lower-case language code such as fr, but is '" + lang + "'");
            return 2;
        }
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        LanguageIdentifier lid = new LanguageIdentifier(List.of("en", "fr", "es", "de"), false);
        try (GuardrailModel m =
                GuardrailModel.load(ModelLocator.resolve(model), ExecutionDevice.parse(device), 0, batch)) {
            if (!words.isEmpty()) {
                String text = String.join(" ", words);
                TextScores s = m.score(List.of(text)).get(0);
                LanguageIdentifier.Detection d = language(lid, text);
                if (json) {
                    out.println(toJson(s, m.model(), d));
                } else {
                    printTable(out, m, s, d);
                }
            } else {
                BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
                List<String> chunk = new ArrayList<>(batch);
                String line;
                while ((line = in.readLine()) != null) {
                    chunk.add(line);
                    if (chunk.size() == batch) {
                        emit(out, m, chunk, lid);
                    }
                }
                emit(out, m, chunk, lid);
            }
        }
        out.flush();
        return 0;
    }

    /** The --lang hint (confidence 1, as a client hint in the streams app), else the detected language. */
    private LanguageIdentifier.Detection language(LanguageIdentifier lid, String text) {
        return lang != null ? new LanguageIdentifier.Detection(lang, 1f) : lid.detect(text);
    }

    private void emit(PrintStream out, GuardrailModel m, List<String> chunk, LanguageIdentifier lid) {
        if (chunk.isEmpty()) {
            return;
        }
        List<TextScores> scores = m.score(chunk);
        for (int i = 0; i < chunk.size(); i++) {
            TextScores s = scores.get(i);
            LanguageIdentifier.Detection d = language(lid, chunk.get(i));
            if (json) {
                out.println(toJson(s, m.model(), d));
            } else {
                int top = argmax(s.probabilities());
                out.printf(
                        "%s\t%.4f\t%s\t%s\t%s%n",
                        unsafe(s, m.model().thresholds(d.language())) ? "unsafe" : "safe",
                        s.unsafeScore(),
                        SafetyCategory.ordered().get(top).key(),
                        d.language(),
                        chunk.get(i));
            }
        }
        chunk.clear();
    }

    private String toJson(TextScores s, Scorer.ModelIdentity id, LanguageIdentifier.Detection d) {
        float[] thresholds = id.thresholds(d.language());
        ObjectNode o = mapper.createObjectNode();
        o.put("unsafe", unsafe(s, thresholds));
        o.put("unsafe_score", s.unsafeScore());
        ObjectNode cats = o.putObject("categories");
        for (SafetyCategory c : SafetyCategory.ordered()) {
            cats.put(c.displayName(), s.probability(c));
        }
        o.put("language", d.language());
        o.put("language_confidence", d.confidence());
        o.put("windows", s.windows());
        o.put("thresholds", id.thresholdSource(d.language()));
        return o.toString();
    }

    private static void printTable(PrintStream out, GuardrailModel m, TextScores s, LanguageIdentifier.Detection d) {
        float[] thresholds = m.model().thresholds(d.language());
        out.printf(
                "model: %s   language: %s (%.2f)   windows: %d   thresholds: %s%n",
                new ModelKey(m.model().name(), m.model().version()),
                d.language(),
                d.confidence(),
                s.windows(),
                m.model().thresholdSource(d.language()));
        for (SafetyCategory c : SafetyCategory.ordered()) {
            float p = s.probability(c);
            out.printf(
                    "  %-28s %.4f %s%n",
                    c.displayName(),
                    p,
                    p > thresholds[c.ordinal()] ? String.format("◀ fires (> %.3f)", thresholds[c.ordinal()]) : "");
        }
        out.printf(
                "verdict: %s (max p = %.4f, DuoGuard rule: unsafe when max p > threshold)%n",
                unsafe(s, thresholds) ? "UNSAFE" : "SAFE", s.unsafeScore());
    }

    private static boolean unsafe(TextScores s, float[] thresholds) {
        return DecisionPolicy.isUnsafe(s.probabilities(), thresholds);
    }

    private static int argmax(float[] p) {
        int best = 0;
        for (int i = 1; i < p.length; i++) {
            if (p[i] > p[best]) {
                best = i;
            }
        }
        return best;
    }
}
