package dev.duoguard.trainer.loop;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.duoguard.trainer.train.TrainPreset;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class LoopSettingsTest {

    private static LoopSettings.Builder valid() {
        return LoopSettings.builder().iterations(2).promptsPerIteration(10).classifier(TrainPreset.of("tiny"));
    }

    @Test
    void unsetValuesTakeTheNamedDefaults() {
        LoopSettings s = valid().build();
        assertThat(s.languages()).isEqualTo(LoopSettings.DEFAULT_LANGUAGES);
        assertThat(s.samples()).isEqualTo(LoopSettings.DEFAULT_SAMPLES);
        assertThat(s.temperature()).isEqualTo(LoopSettings.DEFAULT_TEMPERATURE);
        assertThat(s.beta()).isEqualTo(LoopSettings.DEFAULT_BETA);
        assertThat(s.rpoAlpha()).isEqualTo(LoopSettings.DEFAULT_RPO_ALPHA);
        assertThat(s.generatorShape()).isEqualTo(LoopSettings.DEFAULT_GENERATOR_SHAPE);
        assertThat(s.seed()).isEqualTo(LoopSettings.DEFAULT_SEED);
        assertThat(s.dpo()).as("the loop itself, not a control").isTrue();
        assertThat(s.synthetic()).isTrue();
        assertThat(s.hardOnly()).isFalse();
        assertThat(s.maxPromptTokens()).isEqualTo(LoopSettings.DEFAULT_MAX_PROMPT_TOKENS);
        assertThat(s.generatorFrom())
                .as("the from-scratch generator is the CPU default")
                .isNull();
        assertThat(s.classifierFrom()).isNull();
    }

    @Test
    void theBuiltInSettingsAreValidAndACopyChangesOnlyWhatItSets() {
        LoopSettings quick = LoopSettings.quick();
        assertThat(LoopSettings.standard().iterations()).isEqualTo(3);
        assertThat(quick.toBuilder().build()).isEqualTo(quick);
        LoopSettings hf = quick.toBuilder()
                .generatorFrom(Path.of("gen"))
                .classifierFrom(Path.of("cls"))
                .maxPromptTokens(512)
                .build();
        assertThat(hf.toBuilder().build()).isEqualTo(hf);
        LoopSettings one = quick.toBuilder().iterations(7).dpo(false).build();
        assertThat(one.iterations()).isEqualTo(7);
        assertThat(one.dpo()).isFalse();
        assertThat(one.toBuilder().iterations(quick.iterations()).dpo(true).build())
                .isEqualTo(quick);
    }

    @Test
    void missingRequiredValuesAreNamedTogether() {
        assertThatThrownBy(() -> LoopSettings.builder().build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("iterations is required")
                .hasMessageContaining("promptsPerIteration is required")
                .hasMessageContaining("classifier");
    }

    @Test
    void outOfRangeValuesSayWhatIsAllowed() {
        assertThatThrownBy(() -> valid().samples(0)
                        .temperature(0f)
                        .beta(-1f)
                        .dpoEpochs(0)
                        .maxSeedItems(0)
                        .maxPromptTokens(4)
                        .build())
                .hasMessageContaining("samples must be at least 1 (got 0)")
                .hasMessageContaining("temperature must be above 0 (got 0.0)")
                .hasMessageContaining("beta must be above 0 (got -1.0)")
                .hasMessageContaining("dpoEpochs must be at least 1")
                .hasMessageContaining("maxSeedItems must be at least 1")
                .hasMessageContaining("maxPromptTokens must be at least 8 (got 4)");
        assertThatThrownBy(() -> valid().temperature(Float.NaN).build()).hasMessageContaining("temperature");
        assertThatThrownBy(() -> valid().iterations(-1).build())
                .hasMessageContaining("iterations is required, at least 0");
    }

    @Test
    void languagesMustBeAtLeastTwoIsoCodes() {
        assertThat(valid().languages(List.of("fr", "de")).build().languages()).containsExactly("fr", "de");
        assertThatThrownBy(() -> valid().languages(List.of("en")).build())
                .hasMessageContaining("languages must be at least 2 distinct lower-case ISO 639-1 codes")
                .hasMessageContaining("got [en]");
        assertThatThrownBy(() -> valid().languages(List.of("en", "en")).build()).hasMessageContaining("languages");
        assertThatThrownBy(() -> valid().languages(List.of("en", "French")).build())
                .hasMessageContaining("languages");
    }

    @Test
    void theGeneratorMustBeAShapeTheLoopCanBuild() {
        assertThatThrownBy(() -> valid().generatorShape("huge").build())
                .hasMessageContaining("generatorShape: unknown preset 'huge'; presets are tiny and small");
        assertThatThrownBy(() -> valid().generatorVocab(100).build())
                .hasMessageContaining(
                        "generatorVocab must be at least " + (256 + GeneratorPrompts.SPECIAL_TOKENS.size()));
    }

    @Test
    void hardOnlyNeedsSyntheticData() {
        assertThat(valid().hardOnly(true).build().hardOnly()).isTrue();
        assertThatThrownBy(() -> valid().hardOnly(true).synthetic(false).build())
                .hasMessageContaining("hardOnly")
                .hasMessageContaining("needs synthetic");
    }

    @Test
    void theLlmJudgeIsOnWheneverThereIsACheckpointToJudgeWith() {
        assertThat(valid().build().judge())
                .as("the from-scratch generator cannot judge: the classifier-ensemble filter only")
                .isNull();
        LoopSettings hf = valid().generatorFrom(Path.of("gen")).build();
        assertThat(hf.llmRater()).isTrue();
        assertThat(hf.judge()).as("the generator's checkpoint by default").isEqualTo(Path.of("gen"));
        assertThat(hf.raterMin()).isEqualTo(LlmRater.DEFAULT_MIN_RATING);
        assertThat(hf.toBuilder().raterFrom(Path.of("judge")).build().judge()).isEqualTo(Path.of("judge"));
        assertThat(valid().raterFrom(Path.of("judge")).build().judge())
                .as("a judge for the from-scratch generator too")
                .isEqualTo(Path.of("judge"));
        LoopSettings off = hf.toBuilder().llmRater(false).build();
        assertThat(off.judge()).isNull();
        assertThat(off.toBuilder().build()).isEqualTo(off);
    }

    @Test
    void theRatersThresholdIsARatingAndAJudgeNeedsTheRaterOn() {
        assertThat(valid().raterMin(3.5).build().raterMin()).isEqualTo(3.5);
        assertThatThrownBy(() -> valid().raterMin(6).build())
                .hasMessageContaining("raterMin must be a rating from 1 to 5 (got 6.0)");
        assertThatThrownBy(() -> valid().raterMin(Double.NaN).build()).hasMessageContaining("raterMin");
        assertThatThrownBy(() ->
                        valid().llmRater(false).raterFrom(Path.of("judge")).build())
                .hasMessageContaining("raterFrom names a judge but llmRater is off");
    }
}
