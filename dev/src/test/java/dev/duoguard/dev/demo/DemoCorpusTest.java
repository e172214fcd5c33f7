package dev.duoguard.dev.demo;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.trainer.data.Example;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

class DemoCorpusTest {

    private static Set<String> templates(List<Example> items) {
        return items.stream().map(Example::groupKey).collect(Collectors.toSet());
    }

    @Test
    void heldOutTemplatesNeverReachTraining() {
        DemoCorpus c = DemoCorpus.load();
        Set<String> trained = new HashSet<>(templates(c.baseTrain()));
        trained.addAll(templates(c.liveTraffic())); // live traffic becomes seeds, so it is trained on too
        assertThat(templates(c.dev())).doesNotContainAnyElementsOf(trained);
        assertThat(templates(c.evaluationTraffic())).doesNotContainAnyElementsOf(trained);

        Set<String> devTexts = c.dev().stream().map(Example::text).collect(Collectors.toSet());
        assertThat(c.evaluationTraffic()).extracting(Example::text).doesNotContainAnyElementsOf(devTexts);
        long distinct = Stream.of(c.baseTrain(), c.dev(), c.liveTraffic(), c.evaluationTraffic())
                .flatMap(List::stream)
                .map(Example::text)
                .distinct()
                .count();
        assertThat(distinct)
                .as("every item appears in exactly one part")
                .isEqualTo(c.baseTrain().size()
                        + c.dev().size()
                        + c.liveTraffic().size()
                        + c.evaluationTraffic().size());
    }

    @Test
    void everyLanguageAndBothLabelsAreInEveryPart() {
        DemoCorpus c = DemoCorpus.load();
        for (List<Example> part : List.of(c.baseTrain(), c.dev(), c.liveTraffic(), c.evaluationTraffic())) {
            Map<String, Map<Boolean, Long>> counts = part.stream()
                    .collect(Collectors.groupingBy(
                            Example::lang, Collectors.partitioningBy(Example::unsafe, Collectors.counting())));
            assertThat(counts).containsOnlyKeys("en", "fr", "es", "de");
            counts.values().forEach(byLabel -> assertThat(byLabel.get(true)).isEqualTo(byLabel.get(false)));
        }
        assertThat(c.evaluationTraffic()).hasSize(120);
        assertThat(c.evaluationTraffic().stream().filter(Example::unsafe))
                .allSatisfy(e -> assertThat(e.categories()).hasSize(1));
    }
}
