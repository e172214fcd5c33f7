package dev.duoguard.trainer.data;

import dev.duoguard.runtime.taxonomy.SafetyCategory;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;

/**
 * One labelled text for training or evaluation.
 *
 * @param text       what the classifier sees: the item's text, or {@code prompt + " " + response} for a reply
 * @param lang       ISO 639-1 code, or {@code "und"} when the source does not say
 * @param categories the unsafe categories the source names; empty for safe items and for unsafe items whose
 *                   source labels only safe/unsafe (see {@link #categoryUnknown()})
 * @param split      the source's own split ({@code train}, {@code test}, ...) or empty
 * @param groupKey   items with the same key stay on one side of a train/dev split (translations, templates)
 */
public record Example(
        String id,
        String text,
        String lang,
        boolean unsafe,
        Set<SafetyCategory> categories,
        String source,
        String split,
        String groupKey) {

    public Example {
        categories = categories.isEmpty() ? Set.of() : Set.copyOf(EnumSet.copyOf(categories));
        lang = lang == null || lang.isBlank() ? "und" : lang.toLowerCase(Locale.ROOT);
        split = split == null ? "" : split;
        groupKey = groupKey == null || groupKey.isBlank() ? id : groupKey;
        if (!unsafe && !categories.isEmpty()) {
            throw new IllegalArgumentException("item " + id + " is safe but names categories " + categories);
        }
    }

    /** Unsafe, but the source does not say in which category (many public sets label only safe/unsafe). */
    public boolean categoryUnknown() {
        return unsafe && categories.isEmpty();
    }

    /** The key duplicates are found by: lower case, whitespace runs collapsed, trimmed. */
    public String dedupKey() {
        return text.toLowerCase(Locale.ROOT).replaceAll("\\s+", " ").strip();
    }
}
