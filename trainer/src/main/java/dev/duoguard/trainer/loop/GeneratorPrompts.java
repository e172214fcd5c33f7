package dev.duoguard.trainer.loop;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import dev.duoguard.trainer.data.Example;
import dev.duoguard.trainer.hf.ChatTemplate;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * How the generator is asked for a new item. Two styles:
 * <ul>
 *   <li>{@link #control}: for a small generator trained from scratch here, the request is a row of control tokens
 *       (target language, label, categories) followed by the seed text, then {@code <|new|>}; the completion is the
 *       new item and {@code <|endoftext|>};</li>
 *   <li>{@link #chat}: the paper's system and user prompts for an instruction-tuned checkpoint ("English-French
 *       toxic prompt creator": a new item in the target language with the seed's label, domain, tone and length),
 *       rendered by the checkpoint's own chat template.</li>
 * </ul>
 */
public final class GeneratorPrompts {

    public static final String END = "<|endoftext|>";
    public static final List<String> SPECIAL_TOKENS =
            List.of(END, "<|lang|>", "<|label|>", "<|cats|>", "<|seed|>", "<|new|>");
    static final Map<String, String> LANGUAGE_NAMES = Map.of(
            "en",
            "English",
            "fr",
            "French",
            "es",
            "Spanish",
            "de",
            "German",
            "it",
            "Italian",
            "pt",
            "Portuguese",
            "nl",
            "Dutch",
            "pl",
            "Polish",
            "zh",
            "Chinese",
            "ar",
            "Arabic");

    /** The paper's system and user prompts, next to this class. */
    static final String PROMPTS_RESOURCE = "generator-prompts.json";

    /** The resource's sections: the generator's "unsafe" and "safe" prompts, and the rater's "judge" prompt. */
    static final JsonNode PROMPTS = loadPrompts();

    private GeneratorPrompts() {}

    public static String control(Example seed, String targetLang) {
        String cats = seed.categories().stream()
                .map(SafetyCategory::displayName)
                .sorted()
                .collect(Collectors.joining(","));
        return "<|lang|>" + targetLang + "<|label|>" + (seed.unsafe() ? "unsafe" : "safe") + "<|cats|>" + cats
                + "<|seed|>" + seed.text() + "<|new|>";
    }

    /**
     * The paper's request to an instruction-tuned generator for {@code seed} in {@code targetLang}: a system and a
     * user message from {@value #PROMPTS_RESOURCE} (the unsafe or the safe pair by the seed's label), with the
     * languages, the seed's categories and the seed's text filled in. The checkpoint's chat template renders them.
     */
    public static List<ChatTemplate.Message> chat(Example seed, String targetLang) {
        JsonNode pair = PROMPTS.path(seed.unsafe() ? "unsafe" : "safe");
        String source = name(seed.lang());
        Map<String, String> values = Map.of(
                "{a_source}",
                ("AEIOU".indexOf(source.charAt(0)) >= 0 ? "an " : "a ") + source,
                "{source}",
                source,
                "{target}",
                name(targetLang),
                "{categories}",
                seed.categories().stream()
                        .map(SafetyCategory::displayName)
                        .sorted()
                        .collect(Collectors.joining(", ")));
        return List.of(
                new ChatTemplate.Message("system", fill(pair.path("system").asText(), values, seed.text())),
                new ChatTemplate.Message("user", fill(pair.path("user").asText(), values, seed.text())));
    }

    /** The seed goes in last, so that a seed which happens to contain "{target}" stays as it is. */
    private static String fill(String template, Map<String, String> values, String seed) {
        String out = template;
        for (Map.Entry<String, String> v : values.entrySet()) {
            out = out.replace(v.getKey(), v.getValue());
        }
        return out.replace("{seed}", seed);
    }

    private static JsonNode loadPrompts() {
        try (InputStream in = GeneratorPrompts.class.getResourceAsStream(PROMPTS_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("resource " + PROMPTS_RESOURCE + " is missing from the trainer jar");
            }
            return new ObjectMapper().readTree(in);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + PROMPTS_RESOURCE, e);
        }
    }

    static String name(String lang) {
        return LANGUAGE_NAMES.getOrDefault(lang.toLowerCase(Locale.ROOT), lang);
    }
}
