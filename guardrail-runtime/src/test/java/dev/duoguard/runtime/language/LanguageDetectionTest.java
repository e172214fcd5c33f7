package dev.duoguard.runtime.language;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.duoguard.runtime.language.LanguageIdentifier.Detection;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

class LanguageDetectionTest {

    private static final LanguageIdentifier LINGUA = new LanguageIdentifier(List.of("en", "fr", "es", "de"), false);

    private static List<String> texts() {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < 25; i++) {
            out.add("Where is the train station, please? I need to leave at " + i);
            out.add("Où est la gare, s'il vous plaît ? Je dois partir à " + i + " heures");
            out.add("¿Dónde está la estación de tren? Tengo que salir a las " + i);
            out.add("Wo ist der Bahnhof, bitte? Ich muss um " + i + " Uhr los");
        }
        return out;
    }

    @Test
    void theParallelDetectionEqualsOneTextAtATimeInOrderOnThreadsOfItsOwn() {
        List<String> texts = texts();
        List<Detection> sequential = LanguageDetection.each(LINGUA::detect).detect(texts);
        Set<String> threads = ConcurrentHashMap.newKeySet();
        try (LanguageDetection.Parallel parallel = LanguageDetection.parallel(
                t -> {
                    threads.add(Thread.currentThread().getName());
                    return LINGUA.detect(t);
                },
                3)) {
            assertThat(parallel.detect(texts)).isEqualTo(sequential);
            assertThat(parallel.detect(texts.subList(0, 2))).isEqualTo(sequential.subList(0, 2));
            assertThat(parallel.detect(List.of())).isEmpty();
        }
        assertThat(sequential.subList(0, 4)).extracting(Detection::language).containsExactly("en", "fr", "es", "de");
        assertThat(threads).hasSize(3).allMatch(n -> n.startsWith("duoguard-language-"));
    }

    @Test
    void aFailingDetectionFailsTheBatchWithItsOwnException() {
        try (LanguageDetection.Parallel parallel = LanguageDetection.parallel(
                t -> {
                    if (t.contains("gare")) {
                        throw new IllegalArgumentException("bad text");
                    }
                    return LINGUA.detect(t);
                },
                2)) {
            assertThatThrownBy(() -> parallel.detect(texts()))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("bad text");
        }
    }

    @Test
    void offLeavesEveryTextUndetermined() {
        assertThat(LanguageDetection.off().detect(List.of("Bonjour", "Hallo")))
                .containsExactly(new Detection("und", 0f), new Detection("und", 0f));
    }

    @Test
    void aPoolNeedsAThread() {
        assertThatThrownBy(() -> LanguageDetection.parallel(LINGUA::detect, 0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("at least 1 thread");
    }
}
