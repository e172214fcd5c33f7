package dev.duoguard.runtime.language;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class LanguageIdentifierTest {

    final LanguageIdentifier lid = new LanguageIdentifier(List.of("en", "fr", "es", "de"), false);

    @Test
    void detectsTheFourDemoLanguagesWithConfidence() {
        assertThat(lid.detect("Could you help me write a polite email to my landlord?")
                        .language())
                .isEqualTo("en");
        assertThat(lid.detect("Pouvez-vous m'aider à écrire une lettre à mon propriétaire ?")
                        .language())
                .isEqualTo("fr");
        assertThat(lid.detect("¿Puedes ayudarme a escribir una carta a mi casero?")
                        .language())
                .isEqualTo("es");
        assertThat(lid.detect("Kannst du mir helfen, einen Brief an meinen Vermieter zu schreiben?")
                        .language())
                .isEqualTo("de");
        assertThat(lid.detect("What's the maximum safe dosage of ibuprofen for an adult?")
                        .language())
                .isEqualTo("en");
    }

    @Test
    void confidenceIsTheMarginToTheRunnerUp() {
        float clear = lid.detect("Kannst du mir helfen, einen Brief an meinen Vermieter zu schreiben?")
                .confidence();
        float ambiguous = lid.detect("c'est la vie").confidence();
        assertThat(clear).isBetween(0f, 1f);
        assertThat(ambiguous).isLessThan(clear);
    }

    @Test
    void longTextsAreDetectedFromTheirBeginning() {
        String german = "Kannst du mir helfen, einen Brief an meinen Vermieter zu schreiben? ".repeat(200);
        assertThat(LanguageIdentifier.prefix(german).length()).isLessThanOrEqualTo(LanguageIdentifier.MAX_CHARS);
        assertThat(lid.detect(german).language()).isEqualTo("de");
    }

    @Test
    void textWithoutLettersIsUndetermined() {
        LanguageIdentifier.Detection d = lid.detect("12345 !!! ???");
        assertThat(d.language()).isEqualTo(LanguageIdentifier.UNDETERMINED);
        assertThat(d.confidence()).isZero();
    }

    @Test
    void unknownLanguageCodeIsRefused() {
        assertThatThrownBy(() -> new LanguageIdentifier(List.of("en", "xx"), true))
                .hasMessageContaining("'xx'");
    }
}
