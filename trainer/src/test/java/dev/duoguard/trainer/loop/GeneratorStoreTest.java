package dev.duoguard.trainer.loop;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.duoguard.trainer.TinyCausalLm;
import dev.duoguard.trainer.TinyCausalLm.Family;
import dev.duoguard.trainer.ToyData;
import dev.duoguard.trainer.data.Example;
import dev.duoguard.trainer.data.SharedData;
import dev.duoguard.trainer.engine.LoraAdapters;
import dev.duoguard.trainer.engine.LoraConfig;
import dev.duoguard.trainer.hf.DType;
import dev.duoguard.trainer.hf.Safetensors;
import dev.duoguard.trainer.hf.Tensor;
import dev.duoguard.trainer.train.TrainPreset;
import dev.duoguard.trainer.train.TrainSettings;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The generator and its samples carry over from one run of the loop to the next (the trainer service runs one
 * iteration per run), through a store reopened as after a restart.
 */
class GeneratorStoreTest {

    static final TrainPreset TINY = TrainPreset.scratch(
            "store-test",
            "tiny",
            512,
            new TrainSettings(1, 32, 3e-3f, 0.1f, 0.01f, 1.0f, 32, 3, 1000, 1000),
            Map.of(),
            0,
            false);

    static LoopSettings.Builder tiny() {
        return LoopSettings.builder()
                .iterations(1)
                .promptsPerIteration(8)
                .samples(2)
                .maxNewTokens(8)
                .dpoLearningRate(5e-4f)
                .dpoEpochs(1)
                .generatorVocab(512)
                .generatorEpochs(1)
                .generatorLearningRate(3e-3f)
                .maxSeedItems(300)
                .classifier(TINY)
                .seed(5);
    }

    record Data(List<Example> train, List<Example> dev) {
        static Data in(Path dir) throws IOException {
            Path file = dir.resolve("seeds.jsonl");
            Files.write(file, ToyData.lines("seeds", 360, 9, true), StandardCharsets.UTF_8);
            List<Example> all = SharedData.readNormalized(file);
            return new Data(all.subList(0, 300), all.subList(300, 360));
        }
    }

    record Run(TwoPlayerLoop.Iteration iteration, String log) {}

    static Run run(LoopSettings s, Path work, Path store, Data data) throws IOException {
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        // opened anew for every run: as the service does after a restart
        GeneratorStore opened = GeneratorStore.open(store, s, 1, 10_000);
        List<TwoPlayerLoop.Iteration> result = new TwoPlayerLoop(
                        s, work, null, opened, new PrintStream(log, true, StandardCharsets.UTF_8))
                .run(data.train(), data.train(), data.dev());
        return new Run(result.get(1), log.toString(StandardCharsets.UTF_8));
    }

    @Test
    void theScratchGeneratorAndItsSamplesCarryOverToTheNextRun(@TempDir Path dir) throws IOException {
        Data data = Data.in(dir);
        Path store = dir.resolve("generator");
        Run first = run(tiny().build(), dir.resolve("run-1"), store, data);
        assertThat(first.log()).contains("generator supervised training");
        byte[] afterFirst = Files.readAllBytes(store.resolve("generator-1/model.safetensors"));
        assertThat(first.iteration().kept()).as("something to carry over").isPositive();

        // the second run without DPO: a continued generator is saved again unchanged (a new one would be trained
        // from scratch on the seeds, other weights)
        Run second = run(tiny().dpo(false).build(), dir.resolve("run-2"), store, data);
        assertThat(second.log())
                .doesNotContain("generator supervised training")
                .contains("== generator of run 1 from " + store.resolve("generator-1"));
        assertThat(Files.readAllBytes(store.resolve("generator-2/model.safetensors")))
                .isEqualTo(afterFirst);
        assertThat(store.resolve("generator-1"))
                .as("keep 1: the older one is deleted")
                .doesNotExist();

        // the classifier of the second run retrained on both runs' samples, and both are kept
        int both = first.iteration().kept() + second.iteration().kept();
        assertThat(second.iteration().syntheticInTraining()).isEqualTo(both);
        GeneratorStore reopened = GeneratorStore.open(store, tiny().build(), 1, 10_000);
        assertThat(reopened.runs()).isEqualTo(2);
        List<Example> samples = reopened.samples();
        assertThat(samples).hasSize(both).allMatch(e -> e.source().equals("synthetic"));
        assertThat(samples.stream().map(Example::id).distinct())
                .as("ids of both runs differ")
                .hasSize(both);
        assertThat(samples.get(0).id()).startsWith("syn-1-");
        assertThat(samples.get(samples.size() - 1).id()).startsWith("syn-2-");
    }

    @Test
    void theLoraAdaptersOfOneRunAreWhereTheNextStarts(@TempDir Path dir) throws IOException {
        Data data = Data.in(dir);
        Path qwen = dir.resolve("qwen");
        TinyCausalLm.write(qwen, Family.QWEN2, true, 3);
        LoraConfig lora = new LoraConfig(4, 8f, 0f, LoraConfig.DEFAULT_TARGETS);
        LoopSettings s = tiny().checkpointGenerator(qwen, lora)
                .maxPromptTokens(400)
                .llmRater(false)
                .build();
        Path store = dir.resolve("generator");
        run(s, dir.resolve("run-1"), store, data);
        Path adapters = store.resolve("generator-1");
        assertThat(LoraAdapters.readConfig(adapters)).isEqualTo(lora);

        // adapters no fresh start has (B starts at 0): the next run must begin from exactly these
        Path weights = adapters.resolve(LoraAdapters.WEIGHTS);
        List<Tensor> marked = new ArrayList<>();
        Safetensors.read(weights).forEach((name, t) -> {
            float[] v = t.data().clone();
            if (name.contains("lora_B")) {
                Arrays.fill(v, 0.01f);
            }
            marked.add(new Tensor(name, t.shape(), v));
        });
        Safetensors.write(weights, marked, DType.F32, Map.of("format", "pt"));

        Run second = run(s.toBuilder().dpo(false).build(), dir.resolve("run-2"), store, data);
        assertThat(second.log()).contains("== LoRA adapters of run 1 from " + adapters);
        Map<String, Tensor> continued =
                Safetensors.read(store.resolve("generator-2").resolve(LoraAdapters.WEIGHTS));
        assertThat(continued.keySet())
                .containsExactlyInAnyOrderElementsOf(
                        marked.stream().map(Tensor::name).toList());
        marked.forEach(
                t -> assertThat(continued.get(t.name()).data()).as(t.name()).isEqualTo(t.data()));

        // the store refuses settings that cannot continue these adapters
        assertThatThrownBy(() -> GeneratorStore.open(
                        store,
                        s.toBuilder()
                                .lora(new LoraConfig(8, 8f, 0f, lora.targets()))
                                .build(),
                        1,
                        10))
                .hasMessageContaining("holds LoRA adapters")
                .hasMessageContaining("move " + store + " away to start the generator over");
        assertThatThrownBy(() -> GeneratorStore.open(store, tiny().build(), 1, 10))
                .hasMessageContaining("holds a LoRA-adapted " + qwen.toAbsolutePath())
                .hasMessageContaining("the settings ask for a from-scratch one");
    }

    @Test
    void keepsTheNewestSamplesAndGeneratorsAndIgnoresACrashedSave(@TempDir Path dir) throws IOException {
        LoopSettings s = tiny().build();
        Path store = dir.resolve("generator");
        Path saved = Files.createDirectories(dir.resolve("saved"));
        Files.writeString(saved.resolve("model.safetensors"), "weights");
        GeneratorStore g = GeneratorStore.open(store, s, 2, 3);
        assertThat(g.runs()).isZero();
        assertThat(g.latest()).isNull();
        assertThat(g.samples()).isEmpty();
        List<Example> samples = new ArrayList<>();
        for (int run = 1; run <= 3; run++) {
            for (int i = 0; i < 2; i++) {
                samples.add(new Example(
                        "syn-" + run + "-" + i, "text " + run + i, "fr", false, Set.of(), "synthetic", "", "g" + i));
            }
            g.save(saved, samples);
        }
        // a save that crashed before its state was written: its leftovers are not the state, and the samples it
        // wrote are not paired with the old state
        Files.createDirectories(store.resolve("generator-4.tmp"));
        Files.writeString(store.resolve(GeneratorStore.samplesFile(4)), "{\"id\":\"syn-4-0\"}\n");
        GeneratorStore again = GeneratorStore.open(store, s, 2, 3);
        assertThat(again.runs()).isEqualTo(3);
        assertThat(again.latest()).isEqualTo(store.resolve("generator-3"));
        assertThat(store.resolve("generator-2")).exists();
        assertThat(store.resolve("generator-1")).doesNotExist();
        assertThat(again.samples()).extracting(Example::id).containsExactly("syn-2-1", "syn-3-0", "syn-3-1");
        again.save(saved, samples);
        assertThat(again.latest()).isEqualTo(store.resolve("generator-4"));
        assertThat(store.resolve("generator-4.tmp")).doesNotExist();
        assertThat(again.samples())
                .as("run 4's own samples replaced the crashed save's file")
                .extracting(Example::id)
                .containsExactly("syn-2-1", "syn-3-0", "syn-3-1");
        assertThat(store.resolve(GeneratorStore.samplesFile(3))).doesNotExist();

        assertThatThrownBy(() -> GeneratorStore.open(store, s, 0, 3)).hasMessageContaining("at least 1 generator");
        assertThatThrownBy(() ->
                        GeneratorStore.open(store, tiny().generatorVocab(1024).build(), 2, 3))
                .as("another from-scratch shape does not silently continue the saved one")
                .hasMessageContaining("vocabulary 512")
                .hasMessageContaining("vocabulary 1024")
                .hasMessageContaining("away to start the generator over");
    }
}
