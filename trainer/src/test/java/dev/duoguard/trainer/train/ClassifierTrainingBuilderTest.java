package dev.duoguard.trainer.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ClassifierTrainingBuilderTest {

    private static ClassifierTraining.Builder valid() {
        return ClassifierTraining.builder().preset(TrainPreset.of("tiny")).work(Path.of("runs/tiny"));
    }

    @Test
    void unsetValuesTakeTheNamedDefaults() {
        ClassifierTraining t = valid().build();
        assertThat(t.out()).isEqualTo(Path.of("runs/tiny").resolve(ClassifierTraining.DEFAULT_OUT));
        assertThat(t.version()).isEqualTo(ClassifierTraining.DEFAULT_VERSION);
        assertThat(t.dataDir()).isNull();
        assertThat(t.from()).isNull();
        assertThat(t.inputs()).isEmpty();
        assertThat(t.mappings()).isEmpty();
        assertThat(t.resume()).isFalse();
        assertThat(t.evaluate()).isTrue();
        assertThat(t.fp16()).isFalse();
    }

    @Test
    void missingRequiredValuesAreNamedTogether() {
        assertThatThrownBy(() -> ClassifierTraining.builder().build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("preset is required")
                .hasMessageContaining("work (checkpoints, tokenizer and reports) is required");
    }

    @Test
    void aVersionMustFitInAModelKey() {
        assertThat(valid().version("v12").build().version()).isEqualTo("v12");
        for (String bad : new String[] {"", "1 2", "1@2"}) {
            assertThatThrownBy(() -> valid().version(bad).build())
                    .as(bad)
                    .hasMessageContaining("version must be non-empty without blanks or '@' (got '" + bad + "')");
        }
    }

    @Test
    void aMappingMustNameAnInput() {
        Path input = Path.of("data/mine.jsonl");
        Path mapping = Path.of("mine-mapping.json");
        assertThat(valid().inputs(List.of(input))
                        .mappings(Map.of("mine", mapping))
                        .build()
                        .mappings())
                .containsEntry("mine", mapping);
        assertThatThrownBy(() -> valid().inputs(List.of(input))
                        .mappings(Map.of("mien", mapping))
                        .build())
                .hasMessageContaining("mapping 'mien' names no input (input file stems: [mine])");
    }
}
