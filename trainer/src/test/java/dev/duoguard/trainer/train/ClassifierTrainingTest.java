package dev.duoguard.trainer.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDManager;
import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.runtime.onnx.ExecutionDevice;
import dev.duoguard.runtime.scoring.GuardrailModel;
import dev.duoguard.runtime.scoring.TextScores;
import dev.duoguard.runtime.tokenizer.GuardrailTokenizer;
import dev.duoguard.trainer.TinyCheckpoint;
import dev.duoguard.trainer.TinyEncoder;
import dev.duoguard.trainer.ToyData;
import dev.duoguard.trainer.data.DataException;
import dev.duoguard.trainer.data.Example;
import dev.duoguard.trainer.engine.DjlTransformer;
import dev.duoguard.trainer.hf.DType;
import dev.duoguard.trainer.hf.EncoderConfig;
import dev.duoguard.trainer.hf.Safetensors;
import dev.duoguard.trainer.hf.Tensor;
import dev.duoguard.trainer.hf.TransformerConfig;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ./duoguard train} end to end on data the test writes: mix → BPE tokenizer → tiny model → bundle →
 * evaluation through ONNX Runtime, and the same scores from DJL and from the served bundle.
 */
class ClassifierTrainingTest {

    @Test
    void trainExportEvaluateGivesTheSameScoresThroughDjlAndOnnxRuntime(@TempDir Path dir) throws IOException {
        Path data = Files.createDirectories(dir.resolve("data"));
        Files.write(data.resolve("advbench.jsonl"), ToyData.lines("advbench", 700, 1, true), StandardCharsets.UTF_8);
        Files.write(data.resolve("xstest.jsonl"), ToyData.lines("xstest", 120, 2, false), StandardCharsets.UTF_8);
        TrainPreset preset = TrainPreset.scratch(
                "test",
                "tiny",
                512,
                new TrainSettings(4, 32, 3e-3f, 0.1f, 0.01f, 1.0f, 32, 3, 20, 1000),
                Map.of(),
                0,
                false);
        Path work = dir.resolve("work");
        Path out = dir.resolve("bundle");
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        ModelBundle bundle = ClassifierTraining.builder()
                .preset(preset)
                .dataDir(data)
                .work(work)
                .out(out)
                .version("7")
                .build()
                .run(new PrintStream(log, true, StandardCharsets.UTF_8));
        String text = log.toString(StandardCharsets.UTF_8);

        assertThat(text)
                .contains("== training mix")
                .contains("train by language")
                .contains("== calibration")
                .contains("paper layout")
                .contains("latency");
        assertThat(bundle.manifest().version()).isEqualTo("7");
        assertThat(bundle.manifest().provenance().path("preset").asText()).isEqualTo("test");
        assertThat(bundle.manifest().provenance().path("data").path("train").asInt())
                .isPositive();
        assertThat(bundle.manifest().maxTokens()).isEqualTo(32);
        var rows = bundle.manifest().metrics().path("rows");
        assertThat(rows.get(0).path("dataset").asText()).isEqualTo("xstest");
        double f1 = rows.get(0).path("model").path("f1").asDouble();
        double flagAll = rows.get(0).path("flag_everything").path("f1").asDouble();
        assertThat(f1).as("benchmark F1 above flag-everything").isGreaterThan(flagAll);
        assertThat(Files.exists(work.resolve("eval/eval.png"))).isTrue();
        List<String> evaluated = new ArrayList<>();
        rows.forEach(r -> evaluated.add(r.path("dataset").asText()));
        assertThat(evaluated)
                .as("the dev slice is reported next to the benchmarks")
                .contains("dev-seeds");
        assertThat(bundle.manifest().provenance().path("calibration").isObject())
                .isTrue();

        // same texts through the DJL model (from the Hugging Face export) and the ONNX bundle the streams app serves
        List<String> texts = List.of("how do I build a bomb 3 now", "wie spät ist es 5 please", "write a poem");
        TransformerConfig config = TransformerConfig.read(work.resolve("hf/config.json"));
        float[][] djl;
        try (NDManager manager = NDManager.newBaseManager();
                DjlTransformer model = DjlTransformer.fromTensors(
                        config, Safetensors.readCheckpoint(work.resolve("hf")), manager, true, false);
                GuardrailTokenizer tokenizer = GuardrailTokenizer.load(work.resolve("hf/tokenizer.json"))) {
            List<Example> examples = texts.stream()
                    .map(t -> new Example(t, t, "en", false, Set.of(), "t", "", null))
                    .toList();
            djl = new ClassifierTrainer(model, manager, preset.settings(), System.out)
                    .predict(EncodedSet.of(examples, tokenizer, EncodedSet.Windowing.plain(32, 0)), 8);
        }
        try (GuardrailModel served = GuardrailModel.load(out, ExecutionDevice.CPU, 1, 8)) {
            List<TextScores> onnx = served.score(texts);
            for (int i = 0; i < texts.size(); i++) {
                assertThat(onnx.get(i).probabilities()).as(texts.get(i)).containsExactly(djl[i], within(1e-4f));
            }
        }
    }

    @Test
    void fineTunesAHuggingFaceBaseModelGivingItAScoreHead(@TempDir Path dir) throws IOException {
        // a base LM as Qwen2.5 ships: no pad_token_id in config.json, the pad token named in tokenizer_config.json
        TransformerConfig base =
                new TransformerConfig(32, 2, 4, 2, 64, 10000.0, 1e-6, 512, true, true, 1024, -1, 0, "qwen2");
        Map<String, Tensor> weights =
                new LinkedHashMap<>(TinyCheckpoint.randomWeights(base.withClassifierHead(12, 0), 4));
        weights.remove("score.weight");
        Path hf = dir.resolve("base-lm");
        TinyCheckpoint.write(hf, base.toJson(), weights, DType.BF16, false);
        Files.writeString(hf.resolve("tokenizer_config.json"), "{\"pad_token\": \"[UNK]\"}");
        long unk = CheckpointPadIdTest.vocabId(hf, "[UNK]");
        assertThat(unk).as("a pad token that is not id 0").isNotZero();
        Path input = dir.resolve("mine.jsonl");
        Files.write(input, ToyData.lines("mine", 200, 5, true), StandardCharsets.UTF_8);
        TrainPreset preset = TrainPreset.scratch(
                "ft",
                "tiny",
                0,
                new TrainSettings(1, 16, 1e-3f, 0.1f, 0.01f, 1.0f, 48, 3, 5, 1000),
                Map.of(),
                0,
                false);
        ModelBundle bundle = ClassifierTraining.builder()
                .preset(preset)
                .inputs(List.of(input))
                .from(hf)
                .work(dir.resolve("w"))
                .out(dir.resolve("b"))
                .build()
                .run(new PrintStream(new ByteArrayOutputStream()));
        assertThat(bundle.manifest().provenance().path("from").asText()).isEqualTo(hf.toString());
        var metrics = bundle.manifest().metrics();
        assertThat(metrics == null || metrics.isNull())
                .as("no benchmarks given, so no metrics")
                .isTrue();
        assertThat(TransformerConfig.read(dir.resolve("w/hf/config.json")).numLabels())
                .isEqualTo(12);
        assertThat(TransformerConfig.read(dir.resolve("w/hf/config.json")).padTokenId())
                .as("the exported classifier pads with the checkpoint's pad token")
                .isEqualTo(unk);
        try (GuardrailModel served = GuardrailModel.load(dir.resolve("b"), ExecutionDevice.CPU, 1, 8)) {
            assertThat(served.score(List.of("help me poison my boss")).get(0).probabilities())
                    .hasSize(12);
        }
    }

    @Test
    void fineTunesABertEncoderWithItsLowerLayersFrozenAndServesItWithClsAndSep(@TempDir Path dir) throws IOException {
        // a BERT base model (no head), as Hugging Face writes it, with a WordPiece tokenizer
        EncoderConfig withHead =
                TinyEncoder.config("bert", 16, 2, 2, 32, TinyEncoder.VOCAB.size(), 64, EncoderConfig.Pooling.CLS);
        EncoderConfig base = withHead.withClassifierHead(0, withHead.pooling());
        Map<String, Tensor> weights = new LinkedHashMap<>(TinyEncoder.randomWeights(withHead, 5));
        weights.keySet().removeIf(k -> k.startsWith("classifier."));
        Path hf = dir.resolve("bert-base");
        Map<String, Tensor> written = TinyEncoder.writeCheckpoint(hf, base, weights, DType.F32);
        TinyEncoder.writeWordPieceTokenizer(hf.resolve("tokenizer.json"), true);
        Path input = dir.resolve("mine.jsonl");
        Files.write(input, ToyData.lines("mine", 200, 5, true), StandardCharsets.UTF_8);
        TrainPreset preset = new TrainPreset(
                "ft-enc",
                "scratch-tiny",
                0,
                new TrainSettings(1, 16, 1e-3f, 0.1f, 0.01f, 1.0f, 16, 3, 5, 1000),
                Map.of(),
                TrainPreset.Mix.AS_IS,
                1,
                0,
                false,
                0.05);
        ModelBundle bundle = ClassifierTraining.builder()
                .preset(preset)
                .inputs(List.of(input))
                .from(hf)
                .work(dir.resolve("w"))
                .out(dir.resolve("b"))
                .build()
                .run(new PrintStream(new ByteArrayOutputStream()));

        Map<String, Tensor> trained = Safetensors.readCheckpoint(dir.resolve("w/hf"));
        String layer0 = "bert.encoder.layer.0.attention.self.query.weight";
        String layer1 = "bert.encoder.layer.1.attention.self.query.weight";
        assertThat(trained.get(layer0).data())
                .as("the frozen lower layer")
                .containsExactly(written.get(layer0).data());
        assertThat(trained.get(layer1).data())
                .as("the trained top layer")
                .isNotEqualTo(written.get(layer1).data());
        assertThat(trained).containsKeys("bert.pooler.dense.weight", "classifier.weight");
        // the bundle puts [CLS] ... [SEP] around every window, as the trainer did
        assertThat(bundle.manifest().prefixTokenIds()).containsExactly(TinyEncoder.VOCAB.indexOf("[CLS]") + 0L);
        assertThat(bundle.manifest().suffixTokenIds()).containsExactly(TinyEncoder.VOCAB.indexOf("[SEP]") + 0L);
        assertThat(bundle.manifest().maxTokens()).isEqualTo(16);
        assertThat(bundle.manifest().provenance().path("calibration").isObject())
                .as("thresholds were fitted (or, with too few dev items, kept at 0.5) on dev")
                .isTrue();
        try (GuardrailModel served = GuardrailModel.load(dir.resolve("b"), ExecutionDevice.CPU, 1, 8)) {
            assertThat(served.windowRows("how do i build a bomb").get(0)[0])
                    .isEqualTo(TinyEncoder.VOCAB.indexOf("[CLS]"));
            assertThat(served.score(List.of("how do i build a bomb")).get(0).probabilities())
                    .hasSize(12);
        }
    }

    @Test
    void evaluationOnlyInputIsRefusedBeforeAnythingIsTrained(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("harmbench.jsonl");
        Files.write(f, ToyData.lines("harmbench", 10, 1, false), StandardCharsets.UTF_8);
        TrainPreset preset = TrainPreset.of("tiny");
        ClassifierTraining job = ClassifierTraining.builder()
                .preset(preset)
                .inputs(List.of(f))
                .work(dir.resolve("w"))
                .out(dir.resolve("b"))
                .evaluate(false)
                .build();
        assertThatThrownBy(() -> job.run(new PrintStream(new ByteArrayOutputStream())))
                .isInstanceOf(DataException.class)
                .hasMessageContaining("evaluation-only");
        assertThat(dir.resolve("b")).doesNotExist();
    }
}
