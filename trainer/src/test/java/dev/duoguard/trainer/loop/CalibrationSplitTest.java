package dev.duoguard.trainer.loop;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.trainer.ToyData;
import dev.duoguard.trainer.data.DevHoldout;
import dev.duoguard.trainer.data.Example;
import dev.duoguard.trainer.train.ClassifierTraining;
import dev.duoguard.trainer.train.TrainPreset;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The loop's calibration split on the trainer service's data as {@code ./duoguard trainer} prepares it (the shared
 * data layout with Spanish translations, the gate's dev set split off by the data policy), plus generated samples
 * and seeds from traffic.
 */
class CalibrationSplitTest {

    private static ClassifierTraining.Prepared serviceData(Path tmp, int englishRows) throws IOException {
        return ClassifierTraining.builder()
                .preset(TrainPreset.of("default"))
                .dataDir(ToyData.translatedSharedData(tmp.resolve("data"), englishRows))
                .work(tmp.resolve("mix"))
                .build()
                .prepare(new PrintStream(new ByteArrayOutputStream()));
    }

    private static Example generated(Example seed, int i) {
        return new Example(
                "syn-1-" + i,
                "generated sample " + i,
                "fr",
                seed.unsafe(),
                seed.categories(),
                CalibrationSplit.SYNTHETIC,
                "",
                seed.groupKey());
    }

    private static Set<String> ids(List<Example> items) {
        return items.stream().map(Example::id).collect(Collectors.toSet());
    }

    @Test
    void holdsOutWholeGroupsOfRealItemsThatNothingTrainedOnRepeats(@TempDir Path tmp) throws IOException {
        ClassifierTraining.Prepared p = serviceData(tmp, 3000);
        List<Example> items = new ArrayList<>(p.train());
        // a generated sample for every tenth training item, keyed by its seed's group as the loop keys them
        for (int i = 0; i < p.train().size(); i += 10) {
            items.add(generated(p.train().get(i), i));
        }
        // a seed from traffic that repeats a training item's text in another case (its own group)
        List<Example> dev = p.dev();
        CalibrationSplit before = CalibrationSplit.of(items, dev);
        Example repeated = before.calibration().get(0);
        items.add(new Example(
                "seed-repeat",
                repeated.text().toUpperCase(Locale.ROOT),
                repeated.lang(),
                repeated.unsafe(),
                repeated.categories(),
                "seeds",
                "",
                null));
        // a caller that passes two dev items as training items by mistake: both in groups the split would take
        Map<Boolean, List<Example>> inCalibrationGroups = before.calibration().stream()
                .collect(Collectors.partitioningBy(e -> e.lang().equals("en")));
        List<Example> misplaced = List.of(
                inCalibrationGroups.get(true).get(inCalibrationGroups.get(true).size() - 1),
                inCalibrationGroups
                        .get(false)
                        .get(inCalibrationGroups.get(false).size() - 1));
        assertThat(misplaced).extracting(Example::groupKey).doesNotContain(repeated.groupKey());
        List<Example> gateDev = new ArrayList<>(dev);
        gateDev.addAll(misplaced);

        CalibrationSplit split = CalibrationSplit.of(items, gateDev);

        assertThat(split.enough()).as("%d safe calibration items", split.safe()).isTrue();
        Set<String> realGroups = p.train().stream().map(Example::groupKey).collect(Collectors.toSet());
        Set<String> calibrationGroups =
                split.calibration().stream().map(Example::groupKey).collect(Collectors.toSet());
        assertThat(calibrationGroups.size() / (double) realGroups.size())
                .as("about the data policy's dev share of the groups")
                .isBetween(0.07, 0.13);

        // translations stay together: every real item of a calibration group is calibrated on, none trained on
        DevHoldout gate = new DevHoldout(gateDev);
        for (Example e : items) {
            if (calibrationGroups.contains(e.groupKey())) {
                assertThat(split.train()).as(e.id()).doesNotContain(e);
                boolean real = !e.source().equals(CalibrationSplit.SYNTHETIC);
                assertThat(split.calibration().contains(e)).as(e.id()).isEqualTo(real && !gate.isDev(e));
            }
        }
        assertThat(split.calibration().stream().filter(e -> e.lang().equals("es")))
                .extracting(Example::groupKey)
                .as("Spanish calibration items are translations of English calibration items")
                .isNotEmpty()
                .allSatisfy(g -> assertThat(ids(split.calibration())).contains(g));

        // nothing trained on shares a calibration item's text or group
        DevHoldout calibration = new DevHoldout(split.calibration());
        assertThat(split.train()).noneMatch(calibration::isDev);
        assertThat(ids(split.train())).doesNotContain("seed-repeat");
        // no generated sample is a calibration item; those of other groups are trained on
        assertThat(split.calibration()).noneMatch(e -> e.source().equals(CalibrationSplit.SYNTHETIC));
        assertThat(split.train()).anyMatch(e -> e.source().equals(CalibrationSplit.SYNTHETIC));
        // no gate dev item (text or group) is a calibration item, even one passed as a training item
        assertThat(split.calibration()).noneMatch(gate::isDev);
        assertThat(split.calibration()).doesNotContainAnyElementsOf(misplaced);
        // every item is trained on, calibrated on or withheld
        assertThat(split.train().size() + split.calibration().size() + split.withheld())
                .isEqualTo(items.size());
        assertThat(split.withheld()).isPositive();

        // a fixed split: the same groups whatever the order of the items
        List<Example> shuffled = new ArrayList<>(items);
        Collections.shuffle(shuffled, new Random(7));
        assertThat(ids(CalibrationSplit.of(shuffled, gateDev).calibration())).isEqualTo(ids(split.calibration()));
    }

    @Test
    void aSplitWithTooFewSafeItemsForCalibrationIsNotEnough(@TempDir Path tmp) throws IOException {
        ClassifierTraining.Prepared p = serviceData(tmp, 400);
        CalibrationSplit split = CalibrationSplit.of(p.train(), p.dev());
        assertThat(split.calibration()).isNotEmpty();
        assertThat(split.enough()).as("%d safe items", split.safe()).isFalse();
        assertThat(split.summary(0.05)).containsEntry("fitted", false).containsEntry("target_fpr", 0.05);
    }
}
