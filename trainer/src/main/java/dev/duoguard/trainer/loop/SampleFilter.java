package dev.duoguard.trainer.loop;

import dev.duoguard.runtime.language.LanguageIdentifier;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * The checks a generated sample must pass before it counts, in order; the first failure names the reason, and
 * every reason is counted:
 * <ol>
 *   <li>{@code empty}: nothing but whitespace;</li>
 *   <li>{@code length}: characters outside [{@code minRatio}, {@code maxRatio}] × the seed's (and at least 3);</li>
 *   <li>{@code degenerate}: a word repeated 4 times in a row, or fewer than 40 % distinct words among 8 or more;</li>
 *   <li>{@code language}: Lingua does not detect the target language;</li>
 *   <li>{@code refusal} / {@code off_label}: the LLM judge (when one is configured, {@link LlmRater}) rates the
 *       sample below its threshold: for an unsafe request a refusal or a harmless rewrite, for a safe request
 *       off label; it rates the samples of one seed that pass the checks above in one batch;</li>
 *   <li>{@code near_duplicate}: character-trigram Jaccard similarity ≥ {@code maxSimilarity} with the seed or with an
 *       earlier kept sample of the same seed, or the same normalized text as any earlier kept sample;</li>
 *   <li>{@code label}: the classifier rater (when one is configured, a bundle) disagrees with the seed's label.</li>
 * </ol>
 */
public final class SampleFilter {

    public static final List<String> REASONS = List.of(
            "empty",
            "length",
            "degenerate",
            "language",
            LlmRater.REFUSAL,
            LlmRater.OFF_LABEL,
            "near_duplicate",
            "label");

    /** What became of one sample: the reason it was dropped (null: kept) and the judge's rating (null: not rated). */
    @FunctionalInterface
    public interface Outcome {
        void accept(String sample, String dropReason, Double rating);
    }

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
        return filter(seed, targetLang, samples, raterAgrees, null, (sample, reason, rating) -> {});
    }

    /**
     * As above, with the LLM judge: {@code judge} gets the samples that passed the cheap checks and returns one
     * verdict each (null: no judge). {@code outcome} hears every sample, in order.
     */
    public List<String> filter(
            String seed,
            String targetLang,
            List<String> samples,
            Predicate<String> raterAgrees,
            Function<List<String>, List<LlmRater.Verdict>> judge,
            Outcome outcome) {
        String[] reasons = new String[samples.size()];
        List<String> toJudge = new ArrayList<>();
        for (int i = 0; i < samples.size(); i++) {
            reasons[i] = cheapCheck(seed, targetLang, samples.get(i));
            if (reasons[i] == null) {
                toJudge.add(samples.get(i).strip());
            }
        }
        List<LlmRater.Verdict> verdicts = judge == null || toJudge.isEmpty() ? List.of() : judge.apply(toJudge);
        List<String> out = new ArrayList<>();
        int judged = 0;
        for (int i = 0; i < samples.size(); i++) {
            String s = samples.get(i);
            String reason = reasons[i];
            Double rating = null;
            if (reason == null && !verdicts.isEmpty()) {
                LlmRater.Verdict v = verdicts.get(judged++);
                rating = v.rating();
                reason = v.dropReason();
            }
            if (reason == null) {
                reason = duplicateOrLabel(seed, s.strip(), out, raterAgrees);
            }
            outcome.accept(s, reason, rating);
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

    /** The checks before the judge: empty, length, degenerate, language. */
    private String cheapCheck(String seed, String targetLang, String sample) {
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
        return null;
    }

    /** The checks after the judge: near_duplicate, then the classifier rater's label. */
    private String duplicateOrLabel(String seed, String text, List<String> keptForSeed, Predicate<String> rater) {
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
