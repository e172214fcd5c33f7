package dev.duoguard.trainer.loop;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
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
        TrainPreset classifier = TrainPreset.scratch(
                "loop-test",
                "tiny",
                512,
                new TrainSettings(2, 32, 3e-3f, 0.1f, 0.01f, 1.0f, 32, 3, 1000, 1000),
                Map.of(),
                0,
                false);
        LoopSettings s = LoopSettings.builder()
                .iterations(1)
                .promptsPerIteration(16)
                .samples(4)
                .maxNewTokens(16)
                .dpoLearningRate(5e-4f)
                .dpoEpochs(1)
                .generatorVocab(512)
                .generatorEpochs(2)
                .generatorLearningRate(3e-3f)
                .maxSeedItems(400)
                .classifier(classifier)
                .seed(5)
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
                .contains("generated");
    }
}
