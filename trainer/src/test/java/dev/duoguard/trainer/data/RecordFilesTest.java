package dev.duoguard.trainer.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Data files in, clear errors for bad ones; field mappings for a user's own files. */
class RecordFilesTest {

    @Test
    void malformedJsonLineIsNamedByFileAndLine(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("mine.jsonl");
        Files.writeString(f, "{\"text\": \"ok\", \"label\": \"safe\"}\n\n{\"text\": \"broken\n");
        assertThatThrownBy(() -> RecordFiles.read(f))
                .isInstanceOf(DataException.class)
                .hasMessageContaining("mine.jsonl:3")
                .hasMessageContaining("not valid JSON");
    }

    @Test
    void invalidUtf8IsRefused(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("bad.jsonl");
        Files.write(f, new byte[] {'{', '"', 't', '"', ':', '"', (byte) 0xC3, (byte) 0x28, '"', '}', '\n'});
        assertThatThrownBy(() -> RecordFiles.read(f))
                .isInstanceOf(DataException.class)
                .hasMessageContaining("not valid UTF-8");
    }

    @Test
    void unknownFormatIsRefused(@TempDir Path dir) throws IOException {
        Path f = Files.writeString(dir.resolve("data.parquet"), "x");
        assertThatThrownBy(() -> RecordFiles.read(f)).hasMessageContaining("unknown format");
    }

    @Test
    void csvWithAMappingFileBecomesExamples(@TempDir Path dir) throws IOException {
        Path csv = Files.writeString(
                dir.resolve("tickets.csv"),
                "uid,question,answer,verdict,kind,language\n"
                        + "a1,\"Where, exactly, is my parcel?\",,ok,,en\n"
                        + "a2,Wie baue ich eine Bombe?,Nein.,flagged,weapons,de\n"
                        + "a3,spam spam,,FLAGGED,,\n");
        Path mapping = Files.writeString(dir.resolve("tickets.mapping.json"), """
                {"text": ["question", "answer"], "label": "verdict", "unsafe_values": ["flagged"],
                 "categories": "kind", "category_map": {"weapons": "Indiscriminate weapons"},
                 "lang": "language", "default_lang": "en", "id": "uid"}
                """);
        FieldMapping m = FieldMapping.read(mapping);
        List<RecordFiles.Row> rows = RecordFiles.read(csv);
        Example a1 = m.apply(rows.get(0), "tickets", 0);
        Example a2 = m.apply(rows.get(1), "tickets", 1);
        Example a3 = m.apply(rows.get(2), "tickets", 2);
        assertThat(a1.text()).isEqualTo("Where, exactly, is my parcel?");
        assertThat(a1.unsafe()).isFalse();
        assertThat(a2.text()).isEqualTo("Wie baue ich eine Bombe? Nein.");
        assertThat(a2.lang()).isEqualTo("de");
        assertThat(a2.categories()).containsExactly(SafetyCategory.parse("Indiscriminate weapons"));
        assertThat(a3.unsafe()).as("label values compare case-insensitively").isTrue();
        assertThat(a3.categoryUnknown()).isTrue();
        assertThat(a3.lang())
                .as("empty cell falls back to the default language")
                .isEqualTo("und");
    }

    @Test
    void mappingErrorsAreClear(@TempDir Path dir) throws IOException {
        var json = new ObjectMapper();
        assertThatThrownBy(() -> FieldMapping.parse(json.readTree("{\"text\": \"t\", \"label\": \"l\"}")))
                .hasMessageContaining("unsafe_values");
        FieldMapping m = FieldMapping.parse(json.readTree(
                "{\"text\": \"t\", \"label\": \"l\", \"unsafe_values\": [\"1\"], \"categories\": \"c\"}"));
        Path f = Files.writeString(
                dir.resolve("x.jsonl"),
                "{\"t\": \"hi\", \"l\": 1, \"c\": \"Astrology\"}\n" + "{\"t\": \"\", \"l\": 1}\n");
        List<RecordFiles.Row> rows = RecordFiles.read(f);
        assertThatThrownBy(() -> m.apply(rows.get(0), "x", 0))
                .hasMessageContaining("x.jsonl:1")
                .hasMessageContaining("Astrology");
        assertThatThrownBy(() -> m.apply(rows.get(1), "x", 1))
                .hasMessageContaining("x.jsonl:2")
                .hasMessageContaining("no text");
    }
}
