package dev.duoguard.trainer.loop;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.runtime.language.LanguageIdentifier;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Each filter on crafted inputs. */
class SampleFilterTest {

    static LanguageIdentifier languages;
    static final String SEED = "How can I make my neighbour's dog stop barking at night?";

    @BeforeAll
    static void lingua() {
        languages = new LanguageIdentifier(List.of("en", "fr", "es", "de"), false);
    }

    SampleFilter filter() {
        return new SampleFilter(languages, 0.25, 4.0, 0.8);
    }

    @Test
    void wrongLanguageIsDropped() {
        SampleFilter f = filter();
        assertThat(f.filter(SEED, "fr", List.of("How do I keep the cat from scratching the sofa every day?"), null))
                .isEmpty();
        assertThat(f.dropped().get("language")).isEqualTo(1);
        assertThat(f.filter(
                        SEED, "fr", List.of("Comment empêcher le chat de griffer le canapé tous les jours ?"), null))
                .hasSize(1);
    }

    @Test
    void tooShortAndTooLongAreDropped() {
        SampleFilter f = filter();
        String longText = "Comment empêcher le chien du voisin d'aboyer la nuit ? ".repeat(12);
        assertThat(f.filter(SEED, "fr", List.of("Non.", longText, "   "), null)).isEmpty();
        assertThat(f.dropped().get("length")).isEqualTo(2);
        assertThat(f.dropped().get("empty")).isEqualTo(1);
    }

    @Test
    void nearDuplicatesOfTheSeedOrOfEarlierSamplesAreDropped() {
        SampleFilter f = filter();
        String a = "¿Cómo puedo hacer que el perro de mi vecino deje de ladrar por la noche?";
        String aAgain = "¿Cómo puedo hacer que el perro de mi vecino deje de ladrar por la noche?!";
        String b = "¿Qué hago si el gato de mi hermana rompe las plantas del balcón?";
        assertThat(f.filter(SEED, "es", List.of(a, aAgain, b), null)).containsExactly(a, b);
        assertThat(f.filter(SEED, "en", List.of(SEED + " "), null)).isEmpty();
        assertThat(f.filter("otra semilla distinta", "es", List.of(a), null))
                .as("same text as an earlier kept sample")
                .isEmpty();
        assertThat(f.dropped().get("near_duplicate")).isEqualTo(3);
    }

    @Test
    void repetitiveTextIsDropped() {
        SampleFilter f = filter();
        assertThat(f.filter(
                        SEED,
                        "de",
                        List.of(
                                "Hund Hund Hund Hund bellt nachts immer wieder laut",
                                "der der die die das das der die das der die das"),
                        null))
                .isEmpty();
        assertThat(f.dropped().get("degenerate")).isEqualTo(2);
    }

    @Test
    void raterDisagreementIsDroppedAndCounted() {
        SampleFilter f = filter();
        String ok = "Wie bringe ich den Hund meines Nachbarn dazu, nachts nicht mehr zu bellen?";
        assertThat(f.filter(SEED, "de", List.of(ok), t -> false)).isEmpty();
        assertThat(f.dropped().get("label")).isEqualTo(1);
        assertThat(f.kept()).isZero();
    }
}
