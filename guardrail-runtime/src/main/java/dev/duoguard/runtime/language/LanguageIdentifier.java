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

    private final LanguageDetector detector;

    /** @param isoCodes ISO 639-1 codes, e.g. en, fr, es, de; @param lowAccuracy trade accuracy for ~10x speed */
    public LanguageIdentifier(Collection<String> isoCodes, boolean lowAccuracy) {
        if (isoCodes.size() < 2) {
            throw new IllegalArgumentException("language detection needs at least 2 languages but got " + isoCodes);
        }
        Language[] languages = isoCodes.stream().map(LanguageIdentifier::language).toArray(Language[]::new);
        LanguageDetectorBuilder b = LanguageDetectorBuilder.fromLanguages(languages).withPreloadedLanguageModels();
        this.detector = (lowAccuracy ? b.withLowAccuracyMode() : b).build();
    }

    private static Language language(String iso) {
        try {
            return Language.getByIsoCode639_1(IsoCode639_1.valueOf(iso.trim().toUpperCase(Locale.ROOT)));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("'" + iso + "' is not an ISO 639-1 language code Lingua knows");
        }
    }

    public Detection detect(String text) {
        SortedMap<Language, Double> values = detector.computeLanguageConfidenceValues(text);
        if (values.isEmpty()) {
            return new Detection(UNDETERMINED, 0f);
        }
        Map.Entry<Language, Double> best = null;
        for (Map.Entry<Language, Double> e : values.entrySet()) {
            if (best == null || e.getValue() > best.getValue()) {
                best = e;
            }
        }
        if (best.getKey() == Language.UNKNOWN || best.getValue() <= 0) {
            return new Detection(UNDETERMINED, 0f);
        }
        return new Detection(best.getKey().getIsoCode639_1().toString().toLowerCase(Locale.ROOT), best.getValue().floatValue());
    }

    /** @param language ISO 639-1 code or {@value #UNDETERMINED}; @param confidence Lingua's confidence in [0, 1] */
    public record Detection(String language, float confidence) {
    }
}
