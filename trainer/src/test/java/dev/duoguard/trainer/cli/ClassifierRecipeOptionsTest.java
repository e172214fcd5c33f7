package dev.duoguard.trainer.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.duoguard.trainer.train.TrainPreset;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** The trainer service's classifier recipe: the shipped model's by default, every part of it configurable. */
class ClassifierRecipeOptionsTest {

    private static TrainerServiceCommand parse(String... args) {
        TrainerServiceCommand c = new TrainerServiceCommand();
        new CommandLine(c).parseArgs(args);
        return c;
    }

    @Test
    void theDefaultIsTheRecipeThatMadeTheShippedModel() {
        TrainerServiceCommand c = parse();
        TrainPreset p = c.classifier.recipe(c.quick);
        TrainPreset shipped = TrainPreset.of("default");
        assertThat(p.name()).isEqualTo("default");
        assertThat(p.backbone()).isEqualTo(TrainPreset.MINILM);
        assertThat(p.settings()).isEqualTo(shipped.settings());
        assertThat(p.caps()).isEqualTo(shipped.caps());
        assertThat(p.mix().translations()).isTrue();
        assertThat(p.maxTrainItems()).as("no 4,000-item cap").isZero();
    }

    @Test
    void quickKeepsTheTinyRecipeAndOptionsChangeWhatTheyName() {
        TrainerServiceCommand quick = parse("--quick");
        assertThat(quick.classifier.recipe(quick.quick).name()).isEqualTo("tiny");
        assertThat(quick.classifier.recipe(quick.quick).maxTrainItems()).isEqualTo(4000);

        TrainerServiceCommand c = parse(
                "--classifier-preset",
                "tiny",
                "--classifier-max-items",
                "0",
                "--classifier-epochs",
                "3",
                "--classifier-batch",
                "8",
                "--classifier-lr",
                "0.001",
                "--classifier-max-tokens",
                "96");
        TrainPreset p = c.classifier.recipe(c.quick);
        TrainPreset tiny = TrainPreset.of("tiny");
        assertThat(p.backbone()).isEqualTo(tiny.backbone());
        assertThat(p.maxTrainItems()).isZero();
        assertThat(p.settings().epochs()).isEqualTo(3);
        assertThat(p.settings().batchSize()).isEqualTo(8);
        assertThat(p.settings().learningRate()).isEqualTo(0.001f);
        assertThat(p.settings().maxTokens()).isEqualTo(96);
        assertThat(p.settings().seed()).isEqualTo(tiny.settings().seed());
        assertThat(p.caps()).isEqualTo(tiny.caps());
    }

    @Test
    void badValuesNameTheOption() {
        TrainerServiceCommand unknown = parse("--classifier-preset", "huge");
        assertThatThrownBy(() -> unknown.classifier.recipe(false)).hasMessageContaining("unknown preset 'huge'");
        TrainerServiceCommand negative = parse("--classifier-max-items", "-1");
        assertThatThrownBy(() -> negative.classifier.recipe(false))
                .hasMessageContaining("--classifier-max-items must be 0 (all) or more (got -1)");
        TrainerServiceCommand zeroEpochs = parse("--classifier-epochs", "0");
        assertThatThrownBy(() -> zeroEpochs.classifier.recipe(false)).hasMessageContaining("--classifier-epochs");
    }
}
