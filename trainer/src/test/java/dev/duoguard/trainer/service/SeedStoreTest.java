package dev.duoguard.trainer.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.tuple;

import dev.duoguard.common.redact.Redactor;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import dev.duoguard.schemas.Category;
import dev.duoguard.schemas.SafetyLabel;
import dev.duoguard.schemas.Seed;
import dev.duoguard.schemas.SeedReason;
import dev.duoguard.trainer.data.Example;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Redaction, the idempotent seed store with retention, and the evaluation gate. */
class SeedStoreTest {

    static Seed seed(String text, SafetyLabel label) {
        return Seed.newBuilder()
                .setText(text)
                .setLanguage("fr")
                .setLabel(label)
                .setCategories(label == SafetyLabel.UNSAFE ? List.of(Category.HATE) : List.of())
                .setReason(SeedReason.MISCLASSIFIED)
                .setCreatedAt(Instant.now())
                .build();
    }

    @Test
    void storesEachContentOnceRedactedAndExpiresOldSeeds(@TempDir Path dir) throws IOException {
        SeedStore store = new SeedStore(dir, new Redactor());
        Instant t0 = Instant.parse("2026-01-01T00:00:00Z");
        assertThat(store.put(seed("Appelle-moi au 06 12 34 56 78, sale type", SafetyLabel.UNSAFE), t0))
                .isTrue();
        assertThat(store.put(seed("appelle-moi au   07 98 76 54 32, SALE TYPE", SafetyLabel.UNSAFE), t0))
                .as("same content after redaction and normalisation")
                .isFalse();
        assertThat(store.put(seed("Bonjour", SafetyLabel.SAFE), t0.plus(Duration.ofDays(20))))
                .isTrue();
        assertThat(store.count()).isEqualTo(2);
        assertThat(store.all()).extracting(SeedStore.Stored::text).contains("Appelle-moi au [PHONE], sale type");
        try (var files = Files.list(dir)) {
            assertThat(files.filter(p -> p.toString().endsWith(".tmp"))).isEmpty();
        }
        Example e = store.all().stream()
                .filter(s -> s.label().equals("UNSAFE"))
                .findFirst()
                .orElseThrow()
                .toExample();
        assertThat(e.unsafe()).isTrue();
        assertThat(e.categories()).containsExactly(SafetyCategory.HATE);
        assertThat(e.lang()).isEqualTo("fr");

        assertThat(store.labelledStoredAfter(t0.toEpochMilli())).isEqualTo(1);
        assertThat(store.labelledStoredAfter(t0.toEpochMilli() - 1)).isEqualTo(2);

        assertThat(store.purge(Duration.ofDays(30), t0.plus(Duration.ofDays(31))))
                .isEqualTo(1);
        assertThat(store.all()).extracting(SeedStore.Stored::text).containsExactly("Bonjour");
        assertThat(store.count()).isEqualTo(1);
        SeedStore reopened = new SeedStore(dir, new Redactor()); // the index is rebuilt from the files
        assertThat(reopened.count()).isEqualTo(1);
        assertThat(reopened.labelledStoredAfter(t0.toEpochMilli())).isEqualTo(1);
        assertThat(reopened.put(seed("Bonjour", SafetyLabel.SAFE), t0))
                .as("known after a restart")
                .isFalse();
    }

    @Test
    void unlabelledSeedsAreStoredButAreNotTrainingItems(@TempDir Path dir) throws IOException {
        SeedStore store = new SeedStore(dir, null);
        store.put(seed("maybe bad?", null), Instant.now());
        assertThat(store.all())
                .singleElement()
                .satisfies(s -> assertThat(s.toExample()).isNull());
        assertThat(store.count()).isEqualTo(1);
        assertThat(store.labelledStoredAfter(0))
                .as("no label: does not start an iteration")
                .isZero();
    }

    /**
     * Seeds from a streams app that does not identify languages arrive as "und" (or with the client's hint): the
     * labelled ones get their language when they become training items; a known language is kept as it came.
     */
    @Test
    void undeterminedSeedsAreIdentifiedWhenTheyBecomeTrainingItems(@TempDir Path dir) throws IOException {
        SeedStore store = new SeedStore(dir, null);
        Instant now = Instant.now();
        store.put(
                withLanguage(seed("Wo ist der Bahnhof? Ich habe meinen Zug verpasst.", SafetyLabel.SAFE), "und"), now);
        store.put(withLanguage(seed("¿Dónde está la estación? He perdido mi tren.", SafetyLabel.SAFE), "und"), now);
        store.put(withLanguage(seed("Where is the station? I missed my train.", SafetyLabel.SAFE), "fr"), now);
        store.put(withLanguage(seed("Où est la gare ? J'ai raté mon train.", null), "und"), now);
        assertThat(store.labelledExamples(List.of("en", "fr", "es", "de")))
                .extracting(Example::text, Example::lang)
                .containsExactlyInAnyOrder(
                        tuple("Wo ist der Bahnhof? Ich habe meinen Zug verpasst.", "de"),
                        tuple("¿Dónde está la estación? He perdido mi tren.", "es"),
                        tuple("Where is the station? I missed my train.", "fr"));
        assertThat(store.labelledExamples(List.of("en")))
                .as("one language: nothing to choose between, left undetermined")
                .extracting(Example::lang)
                .containsExactlyInAnyOrder("und", "und", "fr");
    }

    private static Seed withLanguage(Seed s, String language) {
        return Seed.newBuilder(s).setLanguage(language).build();
    }
}
