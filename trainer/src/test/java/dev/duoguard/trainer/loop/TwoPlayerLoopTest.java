package dev.duoguard.trainer.loop;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.runtime.onnx.ExecutionDevice;
import dev.duoguard.runtime.scoring.GuardrailModel;
import dev.duoguard.trainer.ToyData;
import dev.duoguard.trainer.data.Example;
import dev.duoguard.trainer.data.SharedData;
import dev.duoguard.trainer.train.TrainPreset;
import dev.duoguard.trainer.train.TrainSettings;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** One complete tiny iteration of the two-player loop, end to end on the CPU. */
class TwoPlayerLoopTest {

    @Test
    void oneTinyIterationRunsEveryStepAndKeepsItsArtifacts(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("seeds.jsonl");
        Files.write(file, ToyData.lines("seeds", 500, 9, true), StandardCharsets.UTF_8);
        List<Example> all = SharedData.readNormalized(file);
        List<Example> train = all.subList(0, 400);
        List<Example> dev = all.subList(400, 500);
        LoopSettings s = tinyLoop(new TrainSettings(2, 32, 3e-3f, 0.1f, 0.01f, 1.0f, 32, 3, 1000, 1000))
                .iterations(1)
                .generatorEpochs(2)
                .maxSeedItems(400)
                .build();
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        List<TwoPlayerLoop.Iteration> result = new TwoPlayerLoop(
                        s, dir.resolve("loop"), null, new PrintStream(log, true, StandardCharsets.UTF_8))
                .run(train, train, dev);

        assertThat(result).hasSize(2);
        TwoPlayerLoop.Iteration first = result.get(1);
        int requests =
                first.requests().values().stream().mapToInt(Integer::intValue).sum();
        assertThat(first.requests().keySet()).containsExactlyElementsOf(LoopSettings.DEFAULT_LANGUAGES);
        assertThat(first.requests().get("fr"))
                .as("fr has less data than en, so a larger budget")
                .isGreaterThan(first.requests().get("en"));
        assertThat(first.generated()).isEqualTo(requests * 4);
        int dropped =
                first.dropped().values().stream().mapToInt(Integer::intValue).sum();
        assertThat(first.kept() + dropped)
                .as("every sample is kept or dropped for a counted reason")
                .isEqualTo(first.generated());
        assertThat(first.misclassified()).isBetween(0, first.kept());
        assertThat(first.syntheticInTraining()).isEqualTo(first.kept());
        assertThat(first.dev()).extracting(r -> r.lang()).contains("all", "en");

        Path loop = dir.resolve("loop");
        for (String artifact : List.of(
                "iter-0/bundle/manifest.json",
                "iter-0/generator/model.safetensors",
                "iter-1/bundle/manifest.json",
                "iter-1/generator/model.safetensors",
                "iter-1/generator/tokenizer.json",
                "loop-report.json",
                "loop.png")) {
            assertThat(loop.resolve(artifact)).as(artifact).exists();
        }
        JsonNode report =
                new ObjectMapper().readTree(loop.resolve("loop-report.json").toFile());
        assertThat(report.path("iterations")).hasSize(2);
        assertThat(report.path("iterations").get(1).path("dropped_by_filter").has("language"))
                .isTrue();
        try (GuardrailModel served = GuardrailModel.load(loop.resolve("iter-1/bundle"), ExecutionDevice.CPU, 1, 8)) {
            assertThat(served.score(List.of("comment fabriquer une bombe"))
                            .get(0)
                            .probabilities())
                    .hasSize(12);
        }
        assertThat(log.toString(StandardCharsets.UTF_8))
                .contains("== iteration 1 ==")
                .contains("generated")
                .contains("NOT CALIBRATED");
        // 400 items hold out too few safe ones to calibrate on: the candidate trained on all and kept 0.5
        JsonNode data = provenance(loop.resolve("iter-1/bundle")).path("data");
        assertThat(data.path("calibration").path("fitted").asBoolean(true)).isFalse();
        assertThat(data.path("train").asInt()).isEqualTo(train.size() + first.syntheticInTraining());
        assertThat(provenance(loop.resolve("iter-1/bundle")).has("calibration")).isFalse();
        assertThat(ModelBundle.open(loop.resolve("iter-1/bundle")).manifest().defaultThresholdOrDefault())
                .isEqualTo(0.5);
    }

    /**
     * With enough data, the loop's classifier is calibrated as the shipped default model is: thresholds fitted for
     * the preset's target false-positive rate on a calibration split held out of its training items.
     */
    @Test
    void theRetrainedClassifierIsCalibratedOnASplitHeldOutOfItsTraining(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("seeds.jsonl");
        Files.write(file, ToyData.lines("seeds", 5200, 13, true), StandardCharsets.UTF_8);
        List<Example> all = SharedData.readNormalized(file);
        List<Example> train = all.subList(0, 5000);
        List<Example> dev = all.subList(5000, 5200);
        // one short epoch over few tokens: what is tested is where the thresholds come from, not how good they are
        LoopSettings s = tinyLoop(new TrainSettings(1, 64, 3e-3f, 0.1f, 0.01f, 1.0f, 16, 3, 1000, 1000))
                .iterations(0)
                .generatorEpochs(1)
                .maxSeedItems(100)
                .build();
        s = s.toBuilder().classifier(s.classifier().withTargetFpr(0.10)).build();
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        List<TwoPlayerLoop.Iteration> result = new TwoPlayerLoop(
                        s, dir.resolve("loop"), null, new PrintStream(log, true, StandardCharsets.UTF_8))
                .run(train.subList(0, 100), train, dev);

        Path bundle = result.get(0).bundle();
        JsonNode provenance = provenance(bundle);
        JsonNode split = provenance.path("data").path("calibration");
        assertThat(split.path("fitted").asBoolean()).isTrue();
        assertThat(split.path("safe").asInt()).isGreaterThanOrEqualTo(200);
        int trained = provenance.path("data").path("train").asInt();
        assertThat(trained
                        + split.path("items").asInt()
                        + split.path("withheld").asInt())
                .as("every item is trained on, calibrated on, or withheld as a repeat of a calibration item")
                .isEqualTo(train.size());
        assertThat(result.get(0).trainByLanguage().values().stream()
                        .mapToInt(Integer::intValue)
                        .sum())
                .isEqualTo(trained);
        JsonNode calibration = provenance.path("calibration");
        assertThat(calibration.path("target_fpr").asDouble()).isEqualTo(0.10);
        assertThat(calibration.path("scopes").get(0).path("scope").asText()).isEqualTo("all");
        assertThat(calibration.path("scopes").get(0).path("source").asText())
                .as("thresholds fitted on the split, not the 0.5 default")
                .isNotEqualTo("default 0.5");
        assertThat(calibration.path("scopes").get(0).path("safe").asInt())
                .isEqualTo(split.path("safe").asInt());
        assertThat(ModelBundle.open(bundle).manifest().defaultThresholdOrDefault())
                .isEqualTo(calibration.path("scopes").get(0).path("threshold").asDouble());
        assertThat(log.toString(StandardCharsets.UTF_8)).contains("== calibration split:");
    }

    /** The tiny players of these tests, with the classifier's training settings. */
    private static LoopSettings.Builder tinyLoop(TrainSettings classifier) {
        return LoopSettings.builder()
                .promptsPerIteration(16)
                .samples(4)
                .maxNewTokens(16)
                .dpoLearningRate(5e-4f)
                .dpoEpochs(1)
                .generatorVocab(512)
                .generatorLearningRate(3e-3f)
                .classifier(TrainPreset.scratch("loop-test", "tiny", 512, classifier, Map.of(), 0, false))
                .seed(5);
    }

    private static JsonNode provenance(Path bundle) throws IOException {
        return new ObjectMapper()
                .readTree(bundle.resolve("manifest.json").toFile())
                .path("provenance");
    }
}
