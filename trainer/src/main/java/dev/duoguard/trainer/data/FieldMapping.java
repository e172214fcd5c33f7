package dev.duoguard.trainer.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * How the fields of a record file become an {@link Example}: which fields hold the text (joined by one space, as
 * DuoGuard joins prompt and response; absent or null fields are skipped), which field holds the label and which of
 * its values mean unsafe, and optionally the categories, the language, the id and a grouping key for splits.
 *
 * <p>A mapping file is JSON, for example:
 * <pre>{@code
 * {"text": ["prompt", "response"], "label": "is_safe", "unsafe_values": ["false"],
 *  "categories": "category", "category_map": {"violence": "Violent crimes"},
 *  "lang": "lang", "default_lang": "en", "id": "uid"}
 * }</pre>
 * {@code unsafe_prefix} may replace {@code unsafe_values} (XSTest: unsafe iff {@code type} starts with
 * {@code contrast_}). Label values are compared as text, case-insensitively ({@code 1}, {@code true}, {@code unsafe}).
 * Categories not in the map must be DuoGuard category names; an unknown one is an error, not a silent drop.
 */
public record FieldMapping(
        List<String> textFields,
        String labelField,
        Set<String> unsafeValues,
        String unsafePrefix,
        String categoriesField,
        Map<String, String> categoryMap,
        String langField,
        String defaultLang,
        String idField,
        String splitField,
        String groupField) {

    /** The project's normalized JSONL ({@code ../shared/data}): replies are scored as prompt + " " + response. */
    public static final FieldMapping NORMALIZED = new FieldMapping(
            List.of("prompt", "text"),
            "label",
            Set.of("unsafe"),
            null,
            "categories",
            Map.of(),
            "lang",
            "und",
            "id",
            "split",
            null);

    public FieldMapping {
        textFields = List.copyOf(textFields);
        unsafeValues = unsafeValues == null ? Set.of() : lower(unsafeValues);
        categoryMap = categoryMap == null ? Map.of() : Map.copyOf(categoryMap);
        if (textFields.isEmpty() || labelField == null) {
            throw new DataException("a mapping needs \"text\" and \"label\"");
        }
        if (unsafeValues.isEmpty() == (unsafePrefix == null)) {
            throw new DataException("a mapping needs exactly one of \"unsafe_values\" and \"unsafe_prefix\"");
        }
    }

    private static Set<String> lower(Set<String> values) {
        Set<String> out = new HashSet<>();
        values.forEach(v -> out.add(v.toLowerCase(Locale.ROOT)));
        return Set.copyOf(out);
    }

    public static FieldMapping read(Path file) {
        JsonNode n;
        try {
            n = new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new DataException("cannot read mapping " + file + ": " + e.getMessage(), e);
        }
        try {
            return parse(n);
        } catch (DataException e) {
            throw new DataException("mapping " + file + ": " + e.getMessage());
        }
    }

    public static FieldMapping parse(JsonNode n) {
        if (n == null || !n.isObject()) {
            throw new DataException("a mapping is a JSON object");
        }
        List<String> text = new ArrayList<>();
        JsonNode t = n.path("text");
        if (t.isArray()) {
            t.forEach(x -> text.add(x.asText()));
        } else if (t.isTextual()) {
            text.add(t.asText());
        }
        Set<String> unsafe = new HashSet<>();
        n.path("unsafe_values").forEach(x -> unsafe.add(x.asText()));
        Map<String, String> catMap = new HashMap<>();
        n.path("category_map")
                .properties()
                .forEach(e -> catMap.put(
                        e.getKey().toLowerCase(Locale.ROOT), e.getValue().asText()));
        return new FieldMapping(
                text,
                textOrNull(n, "label"),
                unsafe,
                textOrNull(n, "unsafe_prefix"),
                textOrNull(n, "categories"),
                catMap,
                textOrNull(n, "lang"),
                n.path("default_lang").asText("und"),
                textOrNull(n, "id"),
                textOrNull(n, "split"),
                textOrNull(n, "group"));
    }

    private static String textOrNull(JsonNode n, String field) {
        JsonNode v = n.get(field);
        return v == null || v.isNull() ? null : v.asText();
    }

    /** A copy whose items all get {@code lang} (the DuoGuard folders name the language in the folder). */
    public FieldMapping withLanguage(String lang) {
        return new FieldMapping(
                textFields,
                labelField,
                unsafeValues,
                unsafePrefix,
                categoriesField,
                categoryMap,
                null,
                lang,
                idField,
                splitField,
                groupField);
    }

    /** Applies the mapping to one row; {@code source} names the dataset, {@code index} numbers rows without ids. */
    public Example apply(RecordFiles.Row row, String source, int index) {
        ObjectNode f = row.fields();
        List<String> parts = new ArrayList<>();
        for (String field : textFields) {
            JsonNode v = f.get(field);
            if (v != null && !v.isNull() && !v.asText().isEmpty()) {
                parts.add(v.asText());
            }
        }
        if (parts.isEmpty()) {
            throw new DataException(row.location() + ": no text in " + textFields);
        }
        JsonNode label = f.get(labelField);
        if (label == null || label.isNull() || label.asText().isBlank()) {
            throw new DataException(row.location() + ": no label in \"" + labelField + "\"");
        }
        String value = label.asText().strip().toLowerCase(Locale.ROOT);
        boolean unsafe = unsafePrefix != null
                ? value.startsWith(unsafePrefix.toLowerCase(Locale.ROOT))
                : unsafeValues.contains(value);
        Set<SafetyCategory> cats = unsafe ? categories(f, row.location()) : Set.of();
        String id = idField != null && f.hasNonNull(idField) ? f.get(idField).asText() : source + "-" + index;
        String lang =
                langField != null && f.hasNonNull(langField) ? f.get(langField).asText() : defaultLang;
        String split = splitField != null && f.hasNonNull(splitField)
                ? f.get(splitField).asText()
                : "";
        return new Example(id, String.join(" ", parts), lang, unsafe, cats, source, split, groupKey(f, id));
    }

    private Set<SafetyCategory> categories(ObjectNode f, String location) {
        if (categoriesField == null || !f.hasNonNull(categoriesField)) {
            return Set.of();
        }
        JsonNode c = f.get(categoriesField);
        List<String> names = new ArrayList<>();
        if (c.isArray()) {
            c.forEach(x -> names.add(x.asText()));
        } else if (!c.asText().isBlank()) {
            names.add(c.asText());
        }
        Set<SafetyCategory> out = EnumSet.noneOf(SafetyCategory.class);
        for (String name : names) {
            String mapped = categoryMap.getOrDefault(name.toLowerCase(Locale.ROOT), name);
            try {
                out.add(SafetyCategory.parse(mapped));
            } catch (IllegalArgumentException e) {
                throw new DataException(location + ": " + e.getMessage());
            }
        }
        return out;
    }

    /**
     * The split key: the configured group field; else, in the normalized data, a {@code parallel_id} (the id of the
     * English row an item translates, so an item and all its translations stay together: the English row's own key
     * is its id) or Multilingual HateCheck's template id (its templates are translations of one another across
     * languages, so the key has no language: a template is on one side in every language); else the id.
     */
    private String groupKey(ObjectNode f, String id) {
        if (groupField != null && f.hasNonNull(groupField)) {
            return f.get(groupField).asText();
        }
        if (f.hasNonNull("parallel_id")) {
            return f.get("parallel_id").asText();
        }
        JsonNode orig = f.path("orig_label");
        if (orig.hasNonNull("templ_id") && !orig.get("templ_id").asText().isBlank()) {
            return TEMPLATE_KEY + orig.get("templ_id").asText();
        }
        return id;
    }

    /** Prefix of template group keys: such groups get {@link DataPolicy#TEMPLATE_DEV_FRACTION}. */
    public static final String TEMPLATE_KEY = "template:";
}
