package dev.duoguard.lifecycle;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.lifecycle.ShadowStats.Bounds;
import dev.duoguard.lifecycle.ShadowStats.Category;
import dev.duoguard.lifecycle.ShadowStats.Language;
import dev.duoguard.lifecycle.ShadowStats.Verdict;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The promotion rule and the summary written into the models topic. */
class ShadowStatsTest {

    static final Bounds BOUNDS = new Bounds(100, 0.9, 0.05);

    @Test
    void aLanguageWithATenthOfTheSamplesMustKeepItsUnsafeRateOneWithFewerMayDiffer() {
        Language en = new Language(190, 190, 40, 40);
        ShadowStats fewDe = new ShadowStats(Map.of("en", en, "de", new Language(9, 9, 0, 9)), Map.of(), 1, 0);
        assertThat(fewDe.decide(BOUNDS)).isEqualTo(Verdict.PROMOTE);
        ShadowStats enoughDe = new ShadowStats(Map.of("en", en, "de", new Language(10, 10, 0, 1)), Map.of(), 1, 0);
        assertThat(enoughDe.decide(BOUNDS)).as("de unsafe rate 0.0 -> 0.1").isEqualTo(Verdict.REJECT);
    }

    @Test
    void agreementIsOverAllLanguagesTogether() {
        ShadowStats s = new ShadowStats(
                Map.of("en", new Language(100, 100, 0, 0), "de", new Language(100, 70, 0, 0)), Map.of(), 1, 0);
        assertThat(s.compared()).isEqualTo(200);
        assertThat(s.agreement()).isEqualTo(0.85);
        assertThat(s.decide(BOUNDS)).isEqualTo(Verdict.REJECT);
        assertThat(s.decide(new Bounds(100, 0.85, 0.05))).isEqualTo(Verdict.PROMOTE);
        assertThat(s.decide(new Bounds(201, 0.0, 1.0))).isEqualTo(Verdict.WAIT);
    }

    @Test
    void theSummaryReadsTheSameInEveryLocaleAndListsOnlyCategoriesThatFired() {
        Locale before = Locale.getDefault();
        Locale.setDefault(Locale.GERMANY);
        try {
            ShadowStats s = new ShadowStats(
                    Map.of("en", new Language(4, 3, 2, 1)),
                    Map.of("hate", new Category(4, 2, 1), "violent_crimes", new Category(4, 0, 0)),
                    1.25,
                    3);
            assertThat(s.summary())
                    .isEqualTo("shadow: 4 items, agreement 0.750, mean candidate latency 1.3 ms, "
                            + "per language {en: n=4 agree=0.750 unsafe 0.500->0.250; }, categories fired "
                            + "{hate 0.500->0.250; }");
        } finally {
            Locale.setDefault(before);
        }
    }
}
