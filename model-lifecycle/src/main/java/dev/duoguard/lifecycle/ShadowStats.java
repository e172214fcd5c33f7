package dev.duoguard.lifecycle;

import java.util.Collections;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * What shadow scoring has measured for a candidate so far, and whether that promotes or rejects it: per language
 * how often the candidate's unsafe decision agrees with the active model's and how often each calls an item
 * unsafe; per category how often each model fires it; the candidate's mean latency per batch and the batches it
 * could not take. A snapshot: the shadow keeps counting, this does not change.
 *
 * @param languages     by language, sorted; a language appears once an item of it was compared
 * @param categories    by category name (lower case), sorted; empty before any item was compared
 * @param meanLatencyMs the candidate's mean time per batch, NaN before its first batch
 */
public record ShadowStats(
        Map<String, Language> languages, Map<String, Category> categories, double meanLatencyMs, long droppedBatches) {

    /** Promotion bounds: enough comparisons, agreement at least, unsafe-rate difference at most (any language). */
    public record Bounds(long minSamples, double minAgreement, double maxUnsafeRateDelta) {}

    public enum Verdict {
        WAIT,
        PROMOTE,
        REJECT
    }

    /** Items of one language both models scored: how many, on how many they agreed, how many each found unsafe. */
    public record Language(long compared, long agreed, long activeUnsafe, long candidateUnsafe) {

        public double agreement() {
            return agreed / (double) compared;
        }

        public double activeUnsafeRate() {
            return activeUnsafe / (double) compared;
        }

        public double candidateUnsafeRate() {
            return candidateUnsafe / (double) compared;
        }
    }

    /** One category over the compared items: on how many each model fired it (probability above its threshold). */
    public record Category(long compared, long activeFired, long candidateFired) {

        public double activeRate() {
            return activeFired / (double) compared;
        }

        public double candidateRate() {
            return candidateFired / (double) compared;
        }
    }

    public ShadowStats {
        languages = Collections.unmodifiableSortedMap(new TreeMap<>(languages));
        categories = Collections.unmodifiableSortedMap(new TreeMap<>(categories));
    }

    /** Items compared, all languages together. */
    public long compared() {
        return languages.values().stream().mapToLong(Language::compared).sum();
    }

    /** Share of all compared items on which both models agreed (0 before any). */
    public double agreement() {
        return languages.values().stream().mapToLong(Language::agreed).sum() / (double) Math.max(1, compared());
    }

    /**
     * PROMOTE when enough items were compared, the agreement is high enough and no language with a tenth of the
     * samples differs too much in unsafe rate; REJECT when one of these fails; WAIT for more items before that.
     */
    public Verdict decide(Bounds b) {
        long n = compared();
        if (n < b.minSamples()) {
            return Verdict.WAIT;
        }
        long agreed = 0;
        for (Language l : languages.values()) {
            agreed += l.agreed();
            if (l.compared() >= b.minSamples() / 10.0
                    && Math.abs(l.candidateUnsafeRate() - l.activeUnsafeRate()) > b.maxUnsafeRateDelta()) {
                return Verdict.REJECT;
            }
        }
        return agreed / (double) n >= b.minAgreement() ? Verdict.PROMOTE : Verdict.REJECT;
    }

    /** Why {@link #decide} decided, for the models topic's status reason and the log. */
    public String summary() {
        StringBuilder perLanguage = new StringBuilder("{");
        languages.forEach((lang, l) -> perLanguage.append(String.format(
                Locale.ROOT,
                "%s: n=%d agree=%.3f unsafe %.3f->%.3f; ",
                lang,
                l.compared(),
                l.agreement(),
                l.activeUnsafeRate(),
                l.candidateUnsafeRate())));
        StringBuilder fired = new StringBuilder("{");
        categories.forEach((c, r) -> {
            if (r.activeFired() > 0 || r.candidateFired() > 0) {
                fired.append(String.format(Locale.ROOT, "%s %.3f->%.3f; ", c, r.activeRate(), r.candidateRate()));
            }
        });
        return String.format(
                Locale.ROOT,
                "shadow: %d items, agreement %.3f, mean candidate latency %.1f ms, "
                        + "per language %s}, categories fired %s}",
                compared(),
                agreement(),
                meanLatencyMs,
                perLanguage,
                fired);
    }
}
