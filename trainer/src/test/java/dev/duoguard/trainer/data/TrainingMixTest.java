package dev.duoguard.trainer.data;

import dev.duoguard.runtime.taxonomy.SafetyCategory;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The split policy: eval-only sets refused, held-out splits kept out, de-duplication, benchmark overlap, caps. */
class TrainingMixTest {

    static Example ex(String source, String id, String text, boolean unsafe, String split) {
        return new Example(id, text, "en", unsafe, Set.of(), source, split, null);
    }

    @Test
    void evaluationOnlySetsAreRefusedAsTrainingInput() {
        Map<String, List<Example>> sources = Map.of("xstest", List.of(ex("xstest", "1", "a", false, "")));
        assertThatThrownBy(() -> TrainingMix.build(sources, Set.of(), Map.of(), 1))
                .isInstanceOf(DataException.class).hasMessageContaining("evaluation-only");
    }

    @Test
    void deduplicatesWithinAndAcrossSourcesAndDropsBenchmarkTextsAndHeldOutSplits() {
        Map<String, List<Example>> sources = new LinkedHashMap<>();
        sources.put("toxicchat", List.of(
                ex("toxicchat", "t1", "Hello  there", false, "train"),
                ex("toxicchat", "t2", "hello there", false, "train"),          // duplicate within (case, spaces)
                ex("toxicchat", "t3", "a test-split item", true, "test"),      // official test split: held out
                ex("toxicchat", "t4", "Seen in a benchmark", true, "train")));
        sources.put("mine", List.of(
                ex("mine", "m1", "HELLO THERE", true, ""),                     // duplicate across, opposite label
                ex("mine", "m2", "", false, "")));
        TrainingMix mix = TrainingMix.build(sources, Set.of("seen in a benchmark"), Map.of(), 1);

        List<Example> all = new ArrayList<>(mix.train());
        all.addAll(mix.dev());
        assertThat(all).extracting(Example::id).containsExactly("t1");
        TrainingMix.SourceCounts t = mix.counts().get("toxicchat");
        assertThat(t.duplicate).isEqualTo(1);
        assertThat(t.heldOut).isEqualTo(1);
        assertThat(t.benchmarkOverlap).isEqualTo(1);
        TrainingMix.SourceCounts m = mix.counts().get("mine");
        assertThat(m.duplicate).isEqualTo(1);
        assertThat(m.labelConflict).isEqualTo(1);
        assertThat(m.empty).isEqualTo(1);
    }

    @Test
    void splitIsDeterministicByGroupAndCapsSampleTheTrainingPart() {
        List<Example> items = new ArrayList<>();
        for (int i = 0; i < 2000; i++) {
            // 100 templates x 20 items: template siblings must land on one side
            items.add(new Example("x" + i, "text number " + i, "fr", true, Set.of(SafetyCategory.HATE), "mhc", "",
                    "template:f" + (i % 100) + "|women"));
        }
        TrainingMix a = TrainingMix.build(Map.of("mhc", items), Set.of(), Map.of(), 1);
        TrainingMix b = TrainingMix.build(Map.of("mhc", items), Set.of(), Map.of(), 2);
        assertThat(a.dev()).isEqualTo(b.dev());
        Set<String> devGroups = new java.util.HashSet<>();
        a.dev().forEach(e -> devGroups.add(e.groupKey()));
        assertThat(a.train()).noneMatch(e -> devGroups.contains(e.groupKey()));
        assertThat(a.dev().size()).as("about 20 %% of the templates").isBetween(200, 600);

        TrainingMix capped = TrainingMix.build(Map.of("mhc", items), Set.of(), Map.of("mhc", 100), 1);
        assertThat(capped.train()).hasSize(100);
        assertThat(capped.dev()).isEqualTo(a.dev());
        assertThat(capped.counts().get("mhc").capped).isEqualTo(a.train().size() - 100);

        TrainingMix repeated = TrainingMix.build(Map.of("mhc", items), Set.of(), Map.of("mhc", 100), Map.of("mhc", 3), 1);
        assertThat(repeated.train()).as("every (unsafe) capped item three times").hasSize(300);
        assertThat(repeated.dev()).as("dev is never repeated").isEqualTo(a.dev());
        assertThat(repeated.counts().get("mhc").repeated).isEqualTo(200);
    }

    @Test
    void reportShowsTheMixByLanguageLabelAndCategory() {
        List<Example> items = List.of(
                new Example("1", "bonjour", "fr", false, Set.of(), "mine", "", null),
                new Example("2", "unsafe thing", "en", true, Set.of(), "mine", "", null),
                new Example("3", "hateful thing", "en", true, Set.of(SafetyCategory.HATE), "mine", "", null));
        TrainingMix mix = TrainingMix.build(Map.of("mine", items), Set.of(), Map.of(), 1);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        mix.report(new PrintStream(out, true, StandardCharsets.UTF_8));
        String text = out.toString(StandardCharsets.UTF_8);
        assertThat(text).contains("mine").contains("train by label").contains("train by language")
                .contains("(unsafe, category unknown)");
    }
}
