package dev.duoguard.dev.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import dev.duoguard.trainer.data.Example;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The closed-loop demo's labelled multilingual chat traffic ({@code demo-corpus.json}, written for this project):
 * groups of templates x fillers in en/fr/es/de, safe and unsafe. It is split so that what the demo reports is not
 * measured on what was trained on: the last template of every group is held out of training (it makes the dev set
 * the trainer's gate uses and the evaluation traffic both versions are measured on, with different fillers); the
 * other templates make the trainer's base training set and the live traffic reviewers label (different fillers
 * again). The held-out templates share fillers and topics with the rest, so gains on them are still close to the
 * training distribution: the demo shows the loop working, the benchmarks in the README measure quality.
 */
public record DemoCorpus(
        List<Example> baseTrain, List<Example> dev, List<Example> liveTraffic, List<Example> evaluationTraffic) {

    public static DemoCorpus load() {
        try (InputStream in = DemoCorpus.class.getResourceAsStream("demo-corpus.json")) {
            if (in == null) {
                throw new IllegalStateException("demo-corpus.json is missing from the classpath");
            }
            return split(new ObjectMapper().readTree(in));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static DemoCorpus split(JsonNode root) {
        List<Example> train = new ArrayList<>(),
                dev = new ArrayList<>(),
                live = new ArrayList<>(),
                eval = new ArrayList<>();
        for (Map.Entry<String, JsonNode> lang : root.properties()) {
            if (lang.getKey().startsWith("_")) {
                continue;
            }
            for (JsonNode g : lang.getValue()) {
                String group = lang.getKey() + "/" + g.get("group").asText();
                boolean unsafe = "unsafe".equals(g.get("label").asText());
                Set<SafetyCategory> cats = g.hasNonNull("category")
                        ? Set.of(SafetyCategory.valueOf(g.get("category").asText()))
                        : Set.of();
                int templates = g.get("templates").size();
                int fillers = g.get("fill").size();
                for (int t = 0; t < templates; t++) {
                    boolean heldOut = t == templates - 1;
                    for (int f = 0; f < fillers; f++) {
                        String text = g.get("templates")
                                .get(t)
                                .asText()
                                .replace("{x}", g.get("fill").get(f).asText());
                        text = Character.toUpperCase(text.charAt(0)) + text.substring(1);
                        Example e = new Example(
                                group + "/t" + t + "/f" + f,
                                text,
                                lang.getKey(),
                                unsafe,
                                cats,
                                "demo",
                                "",
                                group + "/t" + t);
                        boolean firstHalf = f < fillers / 2;
                        (heldOut ? (firstHalf ? dev : eval) : (firstHalf ? train : live)).add(e);
                    }
                }
            }
        }
        return new DemoCorpus(List.copyOf(train), List.copyOf(dev), List.copyOf(live), List.copyOf(eval));
    }
}
