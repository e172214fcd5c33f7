package dev.duoguard.trainer.loop;

import dev.duoguard.runtime.language.LanguageIdentifier;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.BiConsumer;
import java.util.function.Predicate;

/**
 * The checks a generated sample must pass before it counts, in order; the first failure names the reason, and
 * every reason is counted:
 * <ol>
 *   <li>{@code empty}: nothing but whitespace;</li>
 *   <li>{@code length}: characters outside [{@code minRatio}, {@code maxRatio}] × the seed's (and at least 3);</li>
 *   <li>{@code degenerate}: a word repeated 4 times in a row, or fewer than 40 % distinct words among 8 or more;</li>
 *   <li>{@code language}: Lingua does not detect the target language;</li>
 *   <li>{@code near_duplicate}: character-trigram Jaccard similarity ≥ {@code maxSimilarity} with the seed or with an
 *       earlier kept sample of the same seed, or the same normalized text as any earlier kept sample;</li>
 *   <li>{@code label}: the rater (when one is configured) disagrees with the seed's label.</li>
 * </ol>
 */
public final class SampleFilter {

    public static final List<String> REASONS =
            List.of("empty", "length", "degenerate", "language", "near_duplicate", "label");

    private final LanguageIdentifier languages;
    private final double minRatio;
    private final double maxRatio;
    private final double maxSimilarity;
    private final Set<String> seen = new HashSet<>();
    private final Map<String, Integer> dropped = new LinkedHashMap<>();
    private int kept;

    public SampleFilter(LanguageIdentifier languages, double minRatio, double maxRatio, double maxSimilarity) {
        this.languages = languages;
        this.minRatio = minRatio;
        this.maxRatio = maxRatio;
        this.maxSimilarity = maxSimilarity;
        REASONS.forEach(r -> dropped.put(r, 0));
    }

    /**
     * Filters the samples of one seed; {@code raterAgrees} is asked last (null: no rater, labels unverified).
     * Returns the kept samples in order.
     */
    public List<String> filter(String seed, String targetLang, List<String> samples, Predicate<String> raterAgrees) {
        return filter(seed, targetLang, samples, raterAgrees, (sample, reason) -> {});
    }

    /** As above; {@code outcome} hears every sample with the reason it was dropped (null when kept). */
    public List<String> filter(
            String seed,
            String targetLang,
            List<String> samples,
            Predicate<String> raterAgrees,
            BiConsumer<String, String> outcome) {
        List<String> out = new ArrayList<>();
        for (String s : samples) {
            String reason = check(seed, targetLang, s, out, raterAgrees);
            outcome.accept(s, reason);
            if (reason == null) {
                out.add(s);
                seen.add(normalize(s));
                kept++;
            } else {
                dropped.merge(reason, 1, Integer::sum);
            }
        }
        return out;
    }

    /** Why {@code sample} is dropped, or null to keep it. */
    String check(String seed, String targetLang, String sample, List<String> keptForSeed, Predicate<String> rater) {
        String text = sample.strip();
        if (text.isEmpty()) {
            return "empty";
        }
        int len = text.length();
        if (len < 3 || len < minRatio * seed.length() || len > maxRatio * Math.max(seed.length(), 10)) {
            return "length";
        }
        if (degenerate(text)) {
            return "degenerate";
        }
        if (!languages.detect(text).language().equals(targetLang)) {
            return "language";
        }
        if (seen.contains(normalize(text))
                || similarity(text, seed) >= maxSimilarity
                || keptForSeed.stream().anyMatch(k -> similarity(text, k) >= maxSimilarity)) {
            return "near_duplicate";
        }
        if (rater != null && !rater.test(text)) {
            return "label";
        }
        return null;
    }

    static boolean degenerate(String text) {
        String[] words = text.toLowerCase(Locale.ROOT).split("\\s+");
        int run = 1;
        for (int i = 1; i < words.length; i++) {
            run = words[i].equals(words[i - 1]) ? run + 1 : 1;
            if (run >= 4) {
                return true;
            }
        }
        if (words.length >= 8) {
            return new HashSet<>(List.of(words)).size() < 0.4 * words.length;
        }
        return false;
    }

    /** Jaccard similarity of the character-trigram sets of the normalized texts. */
    static double similarity(String a, String b) {
        Set<String> x = trigrams(normalize(a));
        Set<String> y = trigrams(normalize(b));
        if (x.isEmpty() && y.isEmpty()) {
            return 1;
        }
        int common = 0;
        for (String g : x) {
            common += y.contains(g) ? 1 : 0;
        }
        return common / (double) (x.size() + y.size() - common);
    }

    private static Set<String> trigrams(String s) {
        Set<String> out = new HashSet<>();
        for (int i = 0; i + 3 <= s.length(); i++) {
            out.add(s.substring(i, i + 3));
        }
        if (out.isEmpty() && !s.isEmpty()) {
            out.add(s);
        }
        return out;
    }

    static String normalize(String s) {
        return s.toLowerCase(Locale.ROOT).replaceAll("\\s+", " ").strip();
    }

    public Map<String, Integer> dropped() {
        return dropped;
    }

    public int kept() {
        return kept;
    }
}
