package dev.duoguard.trainer.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.duoguard.runtime.baseline.LexiconBaseline;
import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.runtime.onnx.ExecutionDevice;
import dev.duoguard.runtime.policy.DecisionPolicy;
import dev.duoguard.runtime.scoring.GuardrailModel;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import dev.duoguard.trainer.data.Example;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CalibrationTest {

    static final int HATE = SafetyCategory.HATE.ordinal();
    static final int PRIVACY = SafetyCategory.PRIVACY.ordinal();

    /** Synthetic dev items; each added item gets a background of 0.001 in every category but the ones set. */
    static final class Dev {
        final List<String> langs = new ArrayList<>();
        final List<Boolean> unsafe = new ArrayList<>();
        final List<Set<SafetyCategory>> categories = new ArrayList<>();
        final List<float[]> p = new ArrayList<>();

        void add(String lang, boolean isUnsafe, Set<SafetyCategory> cats, int category, double probability) {
            float[] row = new float[SafetyCategory.COUNT];
            Arrays.fill(row, 0.001f);
            row[category] = (float) probability;
            langs.add(lang);
            unsafe.add(isUnsafe);
            categories.add(cats);
            p.add(row);
        }

        Calibration.Result fit(Calibration.Settings s) {
            boolean[] u = new boolean[unsafe.size()];
            for (int i = 0; i < u.length; i++) {
                u[i] = unsafe.get(i);
            }
            return Calibration.fit(langs, u, categories, p.toArray(new float[0][]), s);
        }

        /** Share of the safe (FPR) or unsafe (recall) items of {@code lang} (null: all) that {@code r} flags. */
        double rate(Calibration.Result r, String lang, boolean ofUnsafe) {
            int flagged = 0;
            int total = 0;
            for (int i = 0; i < p.size(); i++) {
                if (unsafe.get(i) == ofUnsafe && (lang == null || lang.equals(langs.get(i)))) {
                    total++;
                    flagged += DecisionPolicy.isUnsafe(p.get(i), r.thresholds(langs.get(i))) ? 1 : 0;
                }
            }
            return flagged / (double) total;
        }
    }

    @Test
    void commonThresholdKeepsTheDevFalsePositiveRateAtOrBelowTheTargetAndIsTight() {
        Random r = new Random(1);
        Dev dev = new Dev();
        for (int i = 0; i < 2000; i++) {
            dev.add("en", false, Set.of(), HATE, r.nextDouble()); // safe: max p uniform on (0, 1)
        }
        for (int i = 0; i < 500; i++) {
            dev.add("en", true, Set.of(), HATE, 0.5 + 0.5 * r.nextDouble()); // unsafe, category unknown
        }
        for (double target : new double[] {0.03, 0.05, 0.2}) {
            Calibration.Result fit = dev.fit(Calibration.Settings.DEFAULTS.withTargetFpr(target));
            double fpr = dev.rate(fit, null, false);
            assertThat(fpr).as("target %s", target).isLessThanOrEqualTo(target).isGreaterThan(target - 0.01);
            assertThat(fit.defaultThreshold()).isCloseTo(1 - target, within(0.02));
            assertThat(fit.perCategory()).as("no category has known positives").isEmpty();
            Calibration.ScopeReport all = fit.report().get(0);
            assertThat(all.scope()).isEqualTo("all");
            assertThat(all.fpr()).isEqualTo(fpr);
            assertThat(all.fprAtHalf()).isCloseTo(0.5, within(0.03));
        }
    }

    @Test
    void aLargeEasySafeSourceDoesNotPullTheThresholdDownForASmallerHardOne() {
        // 3,000 easy safe items (scores near 0, like Alpaca instructions) and 300 hard ones (uniform, like real chat)
        Random r = new Random(4);
        List<String> langs = new ArrayList<>();
        List<String> sources = new ArrayList<>();
        List<Set<SafetyCategory>> cats = new ArrayList<>();
        List<float[]> p = new ArrayList<>();
        List<Boolean> unsafe = new ArrayList<>();
        for (int i = 0; i < 3300; i++) {
            float[] row = new float[SafetyCategory.COUNT];
            Arrays.fill(row, 0.001f);
            row[HATE] = i < 3000 ? (float) (0.01 * r.nextDouble()) : (float) r.nextDouble();
            langs.add("en");
            sources.add(i < 3000 ? "alpaca" : "chat");
            cats.add(Set.of());
            p.add(row);
            unsafe.add(false);
        }
        boolean[] u = new boolean[p.size()];
        float[][] probs = p.toArray(new float[0][]);
        Calibration.Result pooled = Calibration.fit(langs, u, cats, probs, Calibration.Settings.DEFAULTS);
        Calibration.Result perSource = Calibration.fit(langs, u, cats, sources, probs, Calibration.Settings.DEFAULTS);
        double hardFprPooled = 0;
        double hardFprPerSource = 0;
        for (int i = 3000; i < 3300; i++) {
            hardFprPooled += DecisionPolicy.isUnsafe(probs[i], pooled.thresholds("en")) ? 1 / 300.0 : 0;
            hardFprPerSource += DecisionPolicy.isUnsafe(probs[i], perSource.thresholds("en")) ? 1 / 300.0 : 0;
        }
        // pooled, 5 % of 3,300 safe items may be flagged: about half of the hard source
        assertThat(hardFprPooled).isGreaterThan(0.3);
        // per source, the hard source itself stays within the target
        assertThat(hardFprPerSource).isLessThanOrEqualTo(0.05);
        assertThat(perSource.defaultThreshold()).isGreaterThan(0.9);
    }

    @Test
    void aLanguageWithEnoughSafeItemsGetsItsOwnThresholdAndOneWithTooFewFallsBackToTheGlobal() {
        Random r = new Random(2);
        Dev dev = new Dev();
        for (int i = 0; i < 1000; i++) {
            dev.add("en", false, Set.of(), HATE, 0.5 * r.nextDouble()); // en safe: up to 0.5
            dev.add("fr", false, Set.of(), HATE, 0.2 + 0.8 * r.nextDouble()); // fr safe: much higher scores
        }
        for (int i = 0; i < 150; i++) {
            dev.add("de", false, Set.of(), HATE, 0.9 * r.nextDouble()); // de: under the 200 minimum
        }
        Calibration.Result fit = dev.fit(Calibration.Settings.DEFAULTS);
        assertThat(fit.perLanguage()).containsOnlyKeys("en", "fr");
        double en = fit.perLanguage().get("en").get(Calibration.ALL);
        double fr = fit.perLanguage().get("fr").get(Calibration.ALL);
        assertThat(en).isCloseTo(0.475, within(0.02));
        assertThat(fr).isCloseTo(0.96, within(0.02));
        assertThat(dev.rate(fit, "en", false)).isLessThanOrEqualTo(0.05);
        assertThat(dev.rate(fit, "fr", false)).isLessThanOrEqualTo(0.05);
        assertThat(fit.thresholds("de"))
                .as("de falls back to the global thresholds")
                .containsExactly(fit.thresholds(null));
        assertThat(fit.thresholds("es")).containsExactly(fit.thresholds(null));
        assertThat(fit.report())
                .filteredOn(s -> s.scope().equals("de"))
                .singleElement()
                .satisfies(s -> assertThat(s.source()).isEqualTo("global"));
        assertThat(dev.rate(fit, null, false))
                .as("global FPR over all languages")
                .isLessThanOrEqualTo(0.05);
    }

    @Test
    void aCategoryWithEnoughPositivesGetsItsOwnThresholdWithoutExceedingTheFalsePositiveBudget() {
        Random r = new Random(3);
        Dev dev = new Dev();
        for (int i = 0; i < 1000; i++) {
            dev.add("en", false, Set.of(), HATE, r.nextDouble()); // hate fires on safe items
        }
        for (int i = 0; i < 1000; i++) {
            dev.add("en", false, Set.of(), PRIVACY, 0.15 * r.nextDouble()); // privacy stays low on safe ones
        }
        for (int i = 0; i < 100; i++) {
            dev.add("en", true, Set.of(SafetyCategory.PRIVACY), PRIVACY, 0.3 + 0.3 * r.nextDouble());
            dev.add("en", true, Set.of(SafetyCategory.HATE), HATE, 0.7 + 0.3 * r.nextDouble());
        }
        for (int i = 0; i < 10; i++) { // too few to move on their own
            dev.add("en", true, Set.of(SafetyCategory.SEXUAL_CONTENT), SafetyCategory.SEXUAL_CONTENT.ordinal(), 0.4);
        }
        Calibration.Settings s = Calibration.Settings.DEFAULTS;
        Calibration.Result fit = dev.fit(s);
        double common = fit.defaultThreshold();
        assertThat(common)
                .as("100 of the 2000 safe items above it: the top tenth of the uniform hate scores")
                .isCloseTo(0.9, within(0.02));
        assertThat(fit.perCategory()).containsKey("privacy").doesNotContainKey("sexual_content");
        assertThat(fit.perCategory().get("privacy")).isLessThan(0.3).isGreaterThan(0.15);
        assertThat(dev.rate(fit, null, false)).isLessThanOrEqualTo(s.targetFpr());
        // every privacy positive is caught, none would be at the common threshold alone
        float[] t = fit.thresholds("en");
        assertThat(t[PRIVACY]).isLessThan(0.3f);
        Calibration.ScopeReport all = fit.report().get(0);
        assertThat(all.recall()).isGreaterThan(0.5 + 0.1);
        assertThat(all.categories()).containsKey("privacy");
    }

    @Test
    void thresholdsAreClampedAndAnUnreachableTargetIsReported() {
        Random r = new Random(4);
        Dev low = new Dev();
        Dev high = new Dev();
        for (int i = 0; i < 500; i++) {
            low.add("en", false, Set.of(), HATE, 0.001 * r.nextDouble());
            high.add("en", false, Set.of(), HATE, 0.99 + 0.009 * r.nextDouble());
        }
        assertThat(low.fit(Calibration.Settings.DEFAULTS).defaultThreshold()).isEqualTo(0.02);
        Calibration.Result h = high.fit(Calibration.Settings.DEFAULTS);
        assertThat(h.defaultThreshold()).isEqualTo(0.98);
        assertThat(h.perLanguage().get("en")).containsEntry(Calibration.ALL, 0.98);
        assertThat(h.report().get(0).fpr())
                .as("clamping down exceeds the target, and the report says so")
                .isEqualTo(1.0);
    }

    @Test
    void tooFewSafeItemsOverallKeepsDuoGuardsHalf() {
        Dev dev = new Dev();
        for (int i = 0; i < 50; i++) {
            dev.add("en", false, Set.of(), HATE, 0.7);
        }
        Calibration.Result fit = dev.fit(Calibration.Settings.DEFAULTS);
        assertThat(fit.defaultThreshold()).isEqualTo(0.5);
        assertThat(fit.perLanguage()).isEmpty();
        assertThat(fit.report().get(0).source()).isEqualTo("default 0.5");
    }

    @Test
    void badInputIsRefusedWithWhatIsWrong() {
        assertThatThrownBy(() -> Calibration.Settings.DEFAULTS.withTargetFpr(0)).hasMessageContaining("target FPR");
        assertThatThrownBy(() -> Calibration.fit(
                        List.of("en"),
                        new boolean[2],
                        List.of(Set.of(), Set.of()),
                        new float[2][12],
                        Calibration.Settings.DEFAULTS))
                .hasMessageContaining("one language");
    }

    @Test
    void theFittedThresholdsReachTheBundleAndResolveThereAsInTheFit(@TempDir Path dir) throws IOException {
        Random r = new Random(5);
        Dev dev = new Dev();
        for (int i = 0; i < 400; i++) {
            dev.add("en", false, Set.of(), HATE, 0.3 * r.nextDouble());
            dev.add("fr", false, Set.of(), HATE, 0.8 * r.nextDouble());
            dev.add("en", false, Set.of(), PRIVACY, 0.1 * r.nextDouble());
        }
        for (int i = 0; i < 60; i++) {
            dev.add("en", true, Set.of(SafetyCategory.PRIVACY), PRIVACY, 0.2 + 0.1 * r.nextDouble());
            dev.add("de", false, Set.of(), HATE, r.nextDouble());
        }
        Calibration.Result fit = dev.fit(Calibration.Settings.DEFAULTS);
        Path b = dir.resolve("bundle");
        LexiconBaseline.build(b);
        ModelBundle bundle = fit.writeInto(ModelBundle.open(b));
        for (String lang : new String[] {"en", "fr", "de", "es", null}) {
            assertThat(bundle.thresholds(lang)).as(String.valueOf(lang)).containsExactly(fit.thresholds(lang));
        }
        assertThat(bundle.manifest().languageThresholdsOrEmpty()).containsOnlyKeys("en", "fr");
        assertThat(bundle.thresholds("fr")[HATE]).isNotEqualTo(bundle.thresholds("en")[HATE]);
        assertThat(bundle.manifest()
                        .provenance()
                        .get("calibration")
                        .get("target_fpr")
                        .asDouble())
                .isEqualTo(0.05);
        assertThat(bundle.manifest().provenance().get("calibration").get("scopes"))
                .hasSize(4);
        assertThat(bundle.manifest().provenance().get("kind").asText())
                .as("earlier provenance is kept")
                .contains("lexicon");
    }

    @Test
    void perCategoryThresholdsThatOnlyFitNoiseAreRejectedByTheHeldOutCheck() {
        // every category behaves alike: a common threshold is all there is to learn, and 40 positives per
        // category give an in-sample per-category search plenty of noise to fit
        Random r = new Random(6);
        Dev dev = new Dev();
        for (int i = 0; i < 400; i++) {
            dev.add("fr", false, Set.of(), r.nextInt(12), r.nextDouble());
        }
        for (int c = 0; c < 12; c++) {
            for (int i = 0; i < 40; i++) {
                dev.add("fr", true, Set.of(SafetyCategory.ordered().get(c)), c, 0.3 + 0.7 * r.nextDouble());
            }
        }
        Calibration.Result fit = dev.fit(Calibration.Settings.DEFAULTS);
        assertThat(fit.perLanguage().get("fr")).containsOnlyKeys(Calibration.ALL);
        assertThat(fit.report())
                .filteredOn(x -> x.scope().equals("fr"))
                .singleElement()
                .satisfies(x -> assertThat(x.source()).isEqualTo(Calibration.REJECTED));
        assertThat(dev.rate(fit, "fr", false)).isLessThanOrEqualTo(0.05);
    }

    @Test
    void calibrateScoresTheDevItemsWithTheServingScorerAndTheBundleThenDecidesWithTheFit(@TempDir Path dir)
            throws IOException {
        Path b = dir.resolve("bundle");
        LexiconBaseline.build(b);
        // French safe questions that use a weak lexicon term (p = 0.45) and neutral ones (p = 0.0025): at 0.5 none
        // is flagged; a 25 % target lets the threshold fall to the weak terms, so the fr unsafe ones are caught
        List<Example> items = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            items.add(new Example("s" + i, "il fait beau a lyon " + i, "fr", false, Set.of(), "t", "", null));
            items.add(new Example("u" + i, "je veux voler une voiture " + i, "fr", true, Set.of(), "t", "", null));
        }
        for (int i = 0; i < 5; i++) {
            items.add(new Example("p" + i, "quelle posologie " + i, "fr", false, Set.of(), "t", "", null));
        }
        Calibration.Settings s = new Calibration.Settings(0.25, 20, 30, 0.02, 0.98, 0.1);
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        ModelBundle calibrated = Calibration.calibrate(
                ModelBundle.open(b), items, s, new PrintStream(log, true, StandardCharsets.UTF_8));
        float fr = calibrated.thresholds("fr")[0];
        assertThat(fr).as("between the neutral and the weak-term scores").isBetween(0.0025f, 0.45f);
        assertThat(log.toString(StandardCharsets.UTF_8))
                .contains("calibration on dev")
                .contains("fr ");
        try (GuardrailModel m = GuardrailModel.load(b, ExecutionDevice.CPU, 1, 8)) {
            float[] p = m.score(List.of("je veux voler une voiture")).get(0).probabilities();
            assertThat(DecisionPolicy.isUnsafe(p, m.model().thresholds("fr"))).isTrue();
            assertThat(m.model().thresholdSource("fr")).isEqualTo("fr");
            assertThat(m.model().thresholdSource("en"))
                    .as("no en dev items: the global fit")
                    .isEqualTo("global");
        }
    }
}
