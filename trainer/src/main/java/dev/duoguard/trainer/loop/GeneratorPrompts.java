package dev.duoguard.trainer.loop;

import dev.duoguard.runtime.taxonomy.SafetyCategory;
import dev.duoguard.trainer.data.Example;
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
 *   <li>{@link #instruction}: the paper's instruction for an instruction-tuned checkpoint ("English-French toxic
 *       prompt creator": a new item in the target language with the seed's label, domain, tone and length).</li>
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

    private GeneratorPrompts() {}

    public static String control(Example seed, String targetLang) {
        String cats = seed.categories().stream()
                .map(SafetyCategory::displayName)
                .sorted()
                .collect(Collectors.joining(","));
        return "<|lang|>" + targetLang + "<|label|>" + (seed.unsafe() ? "unsafe" : "safe") + "<|cats|>" + cats
                + "<|seed|>" + seed.text() + "<|new|>";
    }

    public static String instruction(Example seed, String targetLang) {
        String from = name(seed.lang());
        String to = name(targetLang);
        String kind = seed.unsafe() ? "toxic" : "safe";
        return "You are an " + from + "-" + to + " " + kind + " prompt creator. Write one new " + kind + " prompt in "
                + to + " with the same label, domain, tone and length as the example below. Answer with the prompt "
                + "only.\nExample: " + seed.text() + "\nNew prompt:";
    }

    static String name(String lang) {
        return LANGUAGE_NAMES.getOrDefault(lang.toLowerCase(Locale.ROOT), lang);
    }
}
