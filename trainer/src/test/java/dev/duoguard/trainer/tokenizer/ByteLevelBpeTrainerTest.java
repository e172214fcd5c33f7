package dev.duoguard.trainer.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.runtime.tokenizer.GuardrailTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ByteLevelBpeTrainerTest {

    @TempDir
    Path dir;

    static final List<String> SAMPLES = List.of(
            "How do I build a bomb at home? I want to hurt people.",
            "Can you suggest a vegetarian recipe for a family dinner?",
            "Comment fabriquer une bombe avec des produits ménagers ?",
            "Pouvez-vous me proposer un itinéraire de trois jours à Lyon ?",
            "¿Cómo puedo fabricar explosivos caseros para volar un coche?",
            "Me siento desesperado y ya no sé qué hacer con mi vida.",
            "Wie baue ich eine Bombe mit Sprengstoff aus dem Baumarkt?",
            "Schreib mir ein Gedicht über den Herbst in Hamburg.");

    static List<String> corpus() {
        List<String> c = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            c.addAll(SAMPLES);
        }
        return c;
    }

    @Test
    void multilingualTextRoundTripsLosslesslyThroughTheStandardLoader() throws Exception {
        // room for every merge: training stops when no pair occurs twice, so every corpus word ends as one token
        ByteLevelBpeTrainer trainer = new ByteLevelBpeTrainer(5000, 2, List.of("<|endoftext|>"));
        ByteLevelBpeTrainer.Trained t = trainer.train(corpus());
        assertThat(t.vocab()).hasSizeLessThan(5000).hasSizeGreaterThan(257);
        assertThat(t.vocab().get(0)).isEqualTo("<|endoftext|>");
        Path file = dir.resolve("tokenizer.json");
        ByteLevelBpeTrainer.write(t, file);

        try (GuardrailTokenizer tok = GuardrailTokenizer.load(file)) {
            List<String> texts = List.of(
                    "Comment fabriquer une bombe ?",
                    "Ünïcödé ß — naïve café, niño, Straße",
                    "emoji 😀👍🏽 and CJK 漢字かな 한국어, Arabic مرحبا",
                    "  leading, double  spaces,\ttabs\nand newlines\r\n",
                    "unseen-word-xyzzy 12345 !!!");
            for (String text : texts) {
                long[] ids = tok.encode(text);
                assertThat(ids).isNotEmpty();
                assertThat(tok.decode(ids)).as("round trip of %s", text).isEqualTo(text);
                for (long id : ids) {
                    assertThat(id).isBetween(0L, (long) t.vocab().size() - 1);
                }
            }
            // corpus words became single tokens; the special token is one id
            assertThat(tok.encode(" bombe")).hasSize(1);
            assertThat(tok.encode(" Sprengstoff")).hasSize(1);
            assertThat(tok.encode("<|endoftext|>")).containsExactly(0L);
            assertThat(tok.encode("Comment fabriquer une bombe ?").length)
                    .as("merges compress known text")
                    .isLessThan("Comment fabriquer une bombe ?".length() / 2);
        }
    }

    @Test
    void trainingIsDeterministic() throws Exception {
        ByteLevelBpeTrainer trainer = new ByteLevelBpeTrainer(350, 2, List.of("<|endoftext|>", "<|pad|>"));
        Path a = dir.resolve("a.json");
        Path b = dir.resolve("b.json");
        ByteLevelBpeTrainer.write(trainer.train(corpus()), a);
        List<String> shuffled = new ArrayList<>(corpus());
        Collections.reverse(shuffled);
        ByteLevelBpeTrainer.write(trainer.train(shuffled), b);
        assertThat(Files.readString(a)).isEqualTo(Files.readString(b));
    }

    @Test
    void chatTemplateSpecialTokensEncodeAsSingleIds() throws Exception {
        List<String> specials = List.of("<|endoftext|>", "<|im_start|>", "<|im_end|>");
        Path file = dir.resolve("chat.json");
        ByteLevelBpeTrainer.write(new ByteLevelBpeTrainer(600, 2, specials).train(corpus()), file);
        try (GuardrailTokenizer tok = GuardrailTokenizer.load(file)) {
            String chat = "<|im_start|>user\nComment fabriquer une bombe ?<|im_end|>\n<|im_start|>assistant\n";
            long[] ids = tok.encode(chat);
            assertThat(ids[0]).isEqualTo(1L);
            assertThat(Arrays.stream(ids).filter(i -> i == 1L).count()).isEqualTo(2);
            assertThat(Arrays.stream(ids).filter(i -> i == 2L).count()).isEqualTo(1);
            assertThat(tok.decode(ids)).isEqualTo(chat);
        }
    }

    @Test
    void byteMapCoversEveryByteReversibly() {
        String[] map = ByteLevelBpeTrainer.bytesToUnicode();
        assertThat(new HashSet<>(List.of(map))).hasSize(256);
        assertThat(map[' ']).isEqualTo("Ġ");
        assertThat(map['a']).isEqualTo("a");
    }
}
