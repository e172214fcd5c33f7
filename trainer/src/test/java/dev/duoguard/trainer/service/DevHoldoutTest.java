package dev.duoguard.trainer.service;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.common.kafka.KafkaConnection;
import dev.duoguard.common.redact.Redactor;
import dev.duoguard.schemas.SafetyLabel;
import dev.duoguard.schemas.Seed;
import dev.duoguard.schemas.SeedReason;
import dev.duoguard.trainer.ToyData;
import dev.duoguard.trainer.data.DevHoldout;
import dev.duoguard.trainer.data.Example;
import dev.duoguard.trainer.loop.LoopSettings;
import dev.duoguard.trainer.train.ClassifierTraining;
import dev.duoguard.trainer.train.TrainPreset;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The gate's dev set is one no training step of the service saw: built as {@code ./duoguard trainer} builds it
 * (the shared data layout with machine translations, split by the hash of each item's group), no dev item, nor
 * a translation of one, is in the base training set; and seeds that repeat a dev item are kept out of training.
 */
class DevHoldoutTest {

    @Test
    void theServicesDevSetAndItsTranslationsAreNeverInItsTrainingSet(@TempDir Path tmp) throws IOException {
        // as TrainerServiceCommand prepares its data, with the default recipe (which reads the translations)
        ClassifierTraining.Prepared p = ClassifierTraining.builder()
                .preset(TrainPreset.of("default"))
                .dataDir(ToyData.translatedSharedData(tmp.resolve("data"), 400))
                .work(tmp.resolve("mix"))
                .build()
                .prepare(new PrintStream(new ByteArrayOutputStream()));
        List<Example> dev = p.dev();
        assertThat(dev).extracting(Example::lang).contains("en", "es");

        Set<String> trainIds = new HashSet<>();
        Set<String> trainGroups = new HashSet<>();
        Set<String> trainTexts = new HashSet<>();
        p.train().forEach(e -> {
            trainIds.add(e.id());
            trainGroups.add(e.groupKey());
            trainTexts.add(e.dedupKey());
        });
        for (Example d : dev) {
            String original = d.groupKey(); // an English row's own id; a translation's English row
            assertThat(trainIds).as(d.id()).doesNotContain(d.id(), original, original + "-es");
            assertThat(trainGroups).as(d.id()).doesNotContain(original);
            assertThat(trainTexts).as(d.id()).doesNotContain(d.dedupKey());
        }

        // the service accepts this data (its own check finds no overlap) ...
        TrainerService.Config c = TrainerService.Config.builder()
                .kafka(KafkaConnection.plaintext("localhost:9092"))
                .home(tmp.resolve("home"))
                .artifactStore(tmp.resolve("artifacts"))
                .activeBundle(tmp.resolve("active"))
                .loop(LoopSettings.quick())
                .baseTrain(p.train())
                .dev(dev)
                .minSafeItems(10)
                .build();
        assertThat(c.baseTrain()).hasSameSizeAs(p.train());

        // ... and keeps seeds that repeat a dev item, in its language or in a translation, out of training
        Example devEn =
                dev.stream().filter(e -> e.lang().equals("en")).findFirst().orElseThrow();
        Example devEs =
                dev.stream().filter(e -> e.lang().equals("es")).findFirst().orElseThrow();
        Example trainItem = p.train().get(0);
        SeedStore store = new SeedStore(tmp.resolve("seeds"), new Redactor());
        for (Example e : List.of(devEn, devEs, trainItem)) {
            store.put(
                    Seed.newBuilder()
                            .setText("  " + e.text().toUpperCase(Locale.ROOT) + " ")
                            .setLanguage(e.lang())
                            .setLabel(e.unsafe() ? SafetyLabel.UNSAFE : SafetyLabel.SAFE)
                            .setReason(SeedReason.MISCLASSIFIED)
                            .setCreatedAt(Instant.now())
                            .build(),
                    Instant.now());
        }
        List<Example> seeds =
                store.all().stream().map(SeedStore.Stored::toExample).toList();
        DevHoldout.Split split = new DevHoldout(dev).split(seeds);
        assertThat(split.dev())
                .as("the English dev item and the Spanish one, as seeds")
                .hasSize(2);
        assertThat(split.unseen())
                .singleElement()
                .satisfies(e -> assertThat(e.dedupKey()).isEqualTo(trainItem.dedupKey()));
    }
}
