package dev.duoguard.trainer.data;

import dev.duoguard.trainer.train.TrainPreset;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

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
        assumeTrue(Files.isRegularFile(dir.resolve("mhc.jsonl")),
                "needs the shared datasets at " + dir.toAbsolutePath().normalize()
                        + " (set DUOGUARD_SHARED_DATA); not present here, so the real-data checks did not run");
    }

    @Test
    void theDefaultMixNeverContainsABenchmarkItem() {
        Map<String, List<Example>> benchmarks = SharedData.benchmarks(dir);
        assertThat(benchmarks).containsKeys("xstest", "openai_moderation", "multijail", SharedData.TOXICCHAT_TEST);
        Set<String> benchmarkKeys = TrainingMix.keysOf(benchmarks.values());
        TrainPreset p = TrainPreset.of("default");
        TrainingMix mix = TrainingMix.build(SharedData.trainSeeds(dir), benchmarkKeys, p.caps(), p.unsafeRepeats(),
                p.settings().seed());

        assertThat(mix.train()).isNotEmpty().noneMatch(e -> benchmarkKeys.contains(e.dedupKey()));
        assertThat(mix.dev()).noneMatch(e -> benchmarkKeys.contains(e.dedupKey()));
        assertThat(mix.train()).noneMatch(e -> DataPolicy.isEvalOnly(e.source()));
        assertThat(mix.train()).noneMatch(e -> e.source().equals("toxicchat") && e.split().equals("test"));
        assertThat(mix.counts().get("toxicchat").heldOut).isEqualTo(benchmarks.get(SharedData.TOXICCHAT_TEST).size());

        Set<String> trainKeys = new HashSet<>();
        mix.train().stream().filter(e -> !e.unsafe() || !p.unsafeRepeats().containsKey(e.source()))
                .forEach(e -> assertThat(trainKeys.add(e.dedupKey())).as("duplicate %s", e.id()).isTrue());
        mix.train().forEach(e -> trainKeys.add(e.dedupKey()));
        mix.dev().forEach(e -> assertThat(trainKeys).doesNotContain(e.dedupKey()));
        Set<String> devGroups = new HashSet<>();
        mix.dev().forEach(e -> devGroups.add(e.groupKey()));
        assertThat(mix.train()).noneMatch(e -> devGroups.contains(e.groupKey()));
        assertThat(mix.train()).filteredOn(e -> e.source().equals("refusal_direction_harmless")).hasSize(10000);
        assertThat(mix.train()).extracting(Example::lang).contains("fr", "es", "de", "en");
    }
}
