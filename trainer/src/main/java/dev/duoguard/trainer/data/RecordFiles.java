package dev.duoguard.trainer.data;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.csv.CsvMapper;
import com.fasterxml.jackson.dataformat.csv.CsvSchema;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Reads the record files data comes in: JSON Lines ({@code .jsonl}), a JSON array of objects ({@code .json}) and
 * CSV with a header row ({@code .csv}). Every row becomes a JSON object; CSV cells are strings. Input must be
 * valid UTF-8; a malformed file fails with its name and the line (or record) that is wrong, never half-read.
 */
public final class RecordFiles {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final CsvMapper CSV = new CsvMapper();

    /** One row and where it came from ({@code file:line} or {@code file[#index]}), for error messages. */
    public record Row(ObjectNode fields, String location) {}

    private RecordFiles() {}

    public static List<Row> read(Path file) {
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        try {
            if (name.endsWith(".jsonl")) {
                return jsonLines(file);
            } else if (name.endsWith(".json")) {
                return jsonArray(file);
            } else if (name.endsWith(".csv")) {
                return csv(file);
            }
        } catch (CharacterCodingException e) {
            throw new DataException(file + " is not valid UTF-8", e);
        } catch (IOException e) {
            throw new DataException("cannot read " + file + ": " + e.getMessage(), e);
        }
        throw new DataException(file + ": unknown format (expected .jsonl, .json or .csv)");
    }

    private static BufferedReader strictUtf8(Path file) throws IOException {
        var decoder = StandardCharsets.UTF_8
                .newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        return new BufferedReader(new InputStreamReader(Files.newInputStream(file), decoder));
    }

    private static List<Row> jsonLines(Path file) throws IOException {
        List<Row> rows = new ArrayList<>();
        try (BufferedReader in = strictUtf8(file)) {
            String line;
            int n = 0;
            while ((line = in.readLine()) != null) {
                n++;
                if (line.isBlank()) {
                    continue;
                }
                JsonNode node;
                try {
                    node = JSON.readTree(line);
                } catch (JsonProcessingException e) {
                    throw new DataException(file + ":" + n + ": not valid JSON: " + e.getOriginalMessage());
                }
                if (!(node instanceof ObjectNode o)) {
                    throw new DataException(file + ":" + n + ": expected a JSON object per line");
                }
                rows.add(new Row(o, file + ":" + n));
            }
        }
        return rows;
    }

    private static List<Row> jsonArray(Path file) throws IOException {
        JsonNode root;
        try (Reader in = strictUtf8(file)) {
            root = JSON.readTree(in);
        } catch (JsonProcessingException e) {
            throw new DataException(file + ": not valid JSON: " + e.getOriginalMessage());
        }
        if (root == null || !root.isArray()) {
            throw new DataException(file + ": expected a JSON array of objects");
        }
        List<Row> rows = new ArrayList<>(root.size());
        for (int i = 0; i < root.size(); i++) {
            if (!(root.get(i) instanceof ObjectNode o)) {
                throw new DataException(file + "[#" + i + "]: expected a JSON object");
            }
            rows.add(new Row(o, file + "[#" + i + "]"));
        }
        return rows;
    }

    private static List<Row> csv(Path file) throws IOException {
        List<Row> rows = new ArrayList<>();
        CsvSchema schema = CsvSchema.emptySchema().withHeader();
        try (Reader in = strictUtf8(file);
                MappingIterator<Map<String, String>> it =
                        CSV.readerForMapOf(String.class).with(schema).readValues(in)) {
            int record = 0;
            while (true) {
                boolean more;
                try {
                    more = it.hasNextValue();
                } catch (RuntimeException | JsonProcessingException e) {
                    throw new DataException(file + ": malformed CSV after record " + record + ": " + e.getMessage());
                }
                if (!more) {
                    break;
                }
                record++;
                ObjectNode o = JSON.createObjectNode();
                it.nextValue().forEach(o::put);
                rows.add(new Row(o, file + "[#" + record + "]"));
            }
        }
        return rows;
    }
}
