package dev.duoguard.runtime.language;

import com.github.pemistahl.lingua.api.IsoCode639_1;
import com.github.pemistahl.lingua.api.Language;
import com.github.pemistahl.lingua.api.LanguageDetector;
import com.github.pemistahl.lingua.api.LanguageDetectorBuilder;
import java.util.Collection;
import java.util.Locale;
import java.util.Map;
import java.util.SortedMap;

/**
 * Language identification with Lingua, restricted to the configured languages (fewer models: less memory, fewer
 * confusions). Very short texts are unreliable, so every result carries Lingua's confidence, and a client's hint
 * wins over detection.
 */
public final class LanguageIdentifier {

    public static final String UNDETERMINED = "und";
    /**
     * Detection reads at most this many characters (cut at a space): the language of a chat message shows in its
     * first sentences, and Lingua's cost grows with the text, so a 30,000-character reply must not cost 100x more.
     */
    public static final int MAX_CHARS = 400;

    private final LanguageDetector detector;

    /** @param isoCodes ISO 639-1 codes, e.g. en, fr, es, de; @param lowAccuracy trade accuracy for ~10x speed */
    public LanguageIdentifier(Collection<String> isoCodes, boolean lowAccuracy) {
        if (isoCodes.size() < 2) {
            throw new IllegalArgumentException("language detection needs at least 2 languages but got " + isoCodes);
        }
        Language[] languages =
                isoCodes.stream().map(LanguageIdentifier::language).toArray(Language[]::new);
        LanguageDetectorBuilder b =
                LanguageDetectorBuilder.fromLanguages(languages).withPreloadedLanguageModels();
        this.detector = (lowAccuracy ? b.withLowAccuracyMode() : b).build();
    }

    private static Language language(String iso) {
        try {
            return Language.getByIsoCode639_1(IsoCode639_1.valueOf(iso.trim().toUpperCase(Locale.ROOT)));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("'" + iso + "' is not an ISO 639-1 language code Lingua knows");
        }
    }

    /**
     * The most likely language and a confidence in [0, 1]. Lingua's values are relative (the best language gets
     * 1.0), so the confidence reported is the margin to the runner-up, {@code 1 - second}: near 0 when two
     * languages are about equally likely (short or mixed text), larger when the text is unambiguous.
     */
    public Detection detect(String text) {
        SortedMap<Language, Double> values = detector.computeLanguageConfidenceValues(prefix(text));
        Language best = null;
        double first = 0;
        double second = 0;
        for (Map.Entry<Language, Double> e : values.entrySet()) {
            double v = e.getValue();
            if (v > first) {
                second = first;
                first = v;
                best = e.getKey();
            } else if (v > second) {
                second = v;
            }
        }
        if (best == null || best == Language.UNKNOWN || first <= 0) {
            return new Detection(UNDETERMINED, 0f);
        }
        float margin = (float) Math.max(0, Math.min(1, (first - second) / first));
        return new Detection(best.getIsoCode639_1().toString().toLowerCase(Locale.ROOT), margin);
    }

    static String prefix(String text) {
        if (text.length() <= MAX_CHARS) {
            return text;
        }
        int cut = text.lastIndexOf(' ', MAX_CHARS);
        return text.substring(0, cut > MAX_CHARS / 2 ? cut : MAX_CHARS);
    }

    /** @param language ISO 639-1 code or {@value #UNDETERMINED}; @param confidence margin to the runner-up language in [0, 1] */
    public record Detection(String language, float confidence) {}
}
