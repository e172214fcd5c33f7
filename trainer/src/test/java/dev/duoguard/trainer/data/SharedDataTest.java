package dev.duoguard.trainer.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import dev.duoguard.trainer.train.TrainPreset;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The split policy on the real shared datasets. Needs {@code ../shared/data} (or {@code DUOGUARD_SHARED_DATA});
 * without it these tests are reported as skipped, with that reason.
 */
class SharedDataTest {

    static Path dir;

    @BeforeAll
    static void locate() {
        String env = System.getenv("DUOGUARD_SHARED_DATA");
        dir = env != null ? Path.of(env) : Path.of("../../shared/data");
        assumeTrue(
                Files.isRegularFile(dir.resolve("mhc.jsonl")),
                "needs the shared datasets at " + dir.toAbsolutePath().normalize()
                        + " (set DUOGUARD_SHARED_DATA); not present here, so the real-data checks did not run");
    }

    @Test
    void theDefaultMixNeverContainsABenchmarkItemAndKeepsGroupsOnOneSide() throws IOException {
        Map<String, List<Example>> benchmarks = SharedData.benchmarks(dir);
        assertThat(benchmarks)
                .containsKeys(
                        "xstest",
                        "openai_moderation",
                        "multijail",
                        SharedData.TOXICCHAT_TEST,
                        SharedData.HATECHECK_HELDOUT);
        Set<String> benchmarkKeys = TrainingMix.keysOf(benchmarks.values());
        TrainPreset p = TrainPreset.of("default");
        TrainingMix mix = TrainingMix.build(
                SharedData.trainSeeds(dir, true),
                benchmarkKeys,
                p.caps(),
                p.settings().seed(),
                true);

        assertThat(mix.train()).isNotEmpty().noneMatch(e -> benchmarkKeys.contains(e.dedupKey()));
        assertThat(mix.dev()).noneMatch(e -> benchmarkKeys.contains(e.dedupKey()));
        assertThat(mix.train()).noneMatch(e -> DataPolicy.isEvalOnly(e.source()));
        assertThat(mix.train())
                .noneMatch(e -> e.source().equals("toxicchat") && e.split().equals("test"));
        assertThat(mix.counts().get("toxicchat").heldOut)
                .isEqualTo(benchmarks.get(SharedData.TOXICCHAT_TEST).size());
        assertThat(mix.dev())
                .as("ToxicChat's train split gives dev items too")
                .anyMatch(e -> e.source().equals("toxicchat"));

        Set<String> trainKeys = new HashSet<>();
        mix.train()
                .forEach(e -> assertThat(trainKeys.add(e.dedupKey()))
                        .as("duplicate %s", e.id())
                        .isTrue());
        // (Set.contains, not AssertJ's doesNotContain, which scans the whole set for every item)
        assertThat(mix.dev()).noneMatch(e -> trainKeys.contains(e.dedupKey()));
        Set<String> devGroups = new HashSet<>();
        mix.dev().forEach(e -> devGroups.add(e.groupKey()));
        assertThat(mix.train())
                .as("no template or translation group on both sides")
                .noneMatch(e -> devGroups.contains(e.groupKey()));
        assertThat(mix.train())
                .filteredOn(e -> e.source().equals("refusal_direction_harmless")
                        && e.lang().equals("en"))
                .hasSize(8000);
        assertThat(mix.train()).extracting(Example::lang).contains("fr", "es", "de", "en");

        // no translation of an item that a benchmark holds is kept (its text differs, its meaning does not)
        Set<String> droppedOriginals = new HashSet<>();
        SharedData.trainSeeds(dir)
                .values()
                .forEach(items -> items.stream()
                        .filter(e -> benchmarkKeys.contains(e.dedupKey()))
                        .forEach(e -> droppedOriginals.add(e.id())));
        assertThat(droppedOriginals).isNotEmpty();
        assertThat(mix.train()).noneMatch(e -> droppedOriginals.contains(e.groupKey()));
        assertThat(mix.dev()).noneMatch(e -> droppedOriginals.contains(e.groupKey()));
        // translations follow their English row: a group's languages are all on one side
        assertThat(mix.train())
                .filteredOn(e -> e.id().endsWith("-fr") && e.source().equals("advbench"))
                .isNotEmpty()
                .noneMatch(e -> devGroups.contains(e.groupKey()));
        // Multilingual HateCheck is split by template id across languages: a template's items in every language
        // are on one side (German "Ich hasse [IDENT]" and French "Je déteste les [IDENT]" are template 1)
        // (read from the raw file's orig_label.templ_id, not from the split's own group key)
        Map<String, String> templateOf = new HashMap<>();
        for (String line : Files.readAllLines(dir.resolve("mhc.jsonl"))) {
            var row = new ObjectMapper().readTree(line);
            templateOf.put(
                    row.path("id").asText(),
                    row.path("orig_label").path("templ_id").asText());
        }
        Map<String, Set<Boolean>> sidesOfTemplate = new HashMap<>();
        mix.train().stream()
                .filter(e -> e.source().equals("mhc"))
                .forEach(e -> sidesOfTemplate
                        .computeIfAbsent(templateOf.get(e.id()), k -> new HashSet<>())
                        .add(true));
        mix.dev().stream()
                .filter(e -> e.source().equals("mhc"))
                .forEach(e -> sidesOfTemplate
                        .computeIfAbsent(templateOf.get(e.id()), k -> new HashSet<>())
                        .add(false));
        assertThat(sidesOfTemplate)
                .hasSizeGreaterThan(500)
                .allSatisfy((templ, sides) -> assertThat(sides).hasSize(1));
        assertThat(mix.train())
                .filteredOn(e -> e.source().equals("mhc"))
                .extracting(Example::lang)
                .contains("de", "fr", "es");
        assertThat(benchmarks.get(SharedData.HATECHECK_HELDOUT))
                .isNotEmpty()
                .hasSizeLessThan(benchmarks.get("hatecheck").size() / 2);

        // every language of the translations has safe and unsafe items; unsafe items outside Hate in fr and es
        for (String lang : List.of("fr", "es")) {
            assertThat(mix.train())
                    .filteredOn(e -> e.lang().equals(lang) && !e.unsafe())
                    .hasSizeGreaterThan(1000);
            assertThat(mix.train())
                    .filteredOn(e -> e.lang().equals(lang)
                            && e.unsafe()
                            && !e.categories().contains(SafetyCategory.HATE))
                    .hasSizeGreaterThan(500);
        }
        // the keyword rules give training items to every category
        for (SafetyCategory c : SafetyCategory.ordered()) {
            assertThat(mix.train())
                    .as("training items of %s", c)
                    .anyMatch(e -> e.categories().contains(c));
        }
    }
}
