package dev.duoguard.trainer.export;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.duoguard.runtime.bundle.BundleManifest;
import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.runtime.onnx.ExecutionDevice;
import dev.duoguard.runtime.scoring.GuardrailModel;
import dev.duoguard.runtime.scoring.TextScores;
import dev.duoguard.trainer.EncoderReference;
import dev.duoguard.trainer.TinyEncoder;
import dev.duoguard.trainer.cli.TrainerCli;
import dev.duoguard.trainer.hf.DType;
import dev.duoguard.trainer.hf.EncoderConfig;
import dev.duoguard.trainer.hf.Tensor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A Hugging Face {@code BertForSequenceClassification} checkpoint written here (config.json, model.safetensors,
 * WordPiece tokenizer.json) goes through {@code duoguard export --from} into a bundle, and the streams app's scorer
 * gives the reference's probabilities for [CLS] + the text's WordPiece ids + [SEP], ids that this test spells out by
 * hand from the vocabulary (lowercased, accents stripped, as the tokenizer's normalizer says).
 */
class EncoderBundleTest {

    static final long CLS = TinyEncoder.VOCAB.indexOf("[CLS]");
    static final long SEP = TinyEncoder.VOCAB.indexOf("[SEP]");

    @TempDir
    Path dir;

    static long[] ids(String... tokens) {
        return Arrays.stream(tokens)
                .mapToLong(t -> {
                    int i = TinyEncoder.VOCAB.indexOf(t);
                    if (i < 0) {
                        throw new IllegalArgumentException(t);
                    }
                    return i;
                })
                .toArray();
    }

    static long[] wrap(long[] content) {
        long[] row = new long[content.length + 2];
        row[0] = CLS;
        System.arraycopy(content, 0, row, 1, content.length);
        row[row.length - 1] = SEP;
        return row;
    }

    static float[] probabilities(EncoderReference ref, long[] row) {
        long[] mask = new long[row.length];
        Arrays.fill(mask, 1);
        float[] logits = ref.logits(row, mask);
        float[] p = new float[logits.length];
        for (int i = 0; i < p.length; i++) {
            p[i] = (float) (1 / (1 + Math.exp(-logits[i])));
        }
        return p;
    }

    Path exportWithCli(Path hf, String... extra) {
        List<String> args = new ArrayList<>(List.of(
                "export",
                "--from",
                hf.toString(),
                "--out",
                dir.resolve("bundle").toString(),
                "--model-version",
                "3"));
        args.addAll(List.of(extra));
        int rc = TrainerCli.commandLine().execute(args.toArray(String[]::new));
        assertThat(rc).isZero();
        return dir.resolve("bundle");
    }

    @ParameterizedTest
    @CsvSource({"F32, true", "BF16, false"})
    void exportedBertCheckpointScoresLikeTheReferenceWithClsAndSepAddedByTheScorer(String dtype, boolean template)
            throws Exception {
        EncoderConfig c =
                TinyEncoder.config("bert", 32, 2, 4, 64, TinyEncoder.VOCAB.size(), 40, EncoderConfig.Pooling.CLS);
        Path hf = dir.resolve("bert-tiny");
        // the reference reads the checkpoint back, so in bf16 both sides see the same rounded weights
        Map<String, Tensor> weights =
                TinyEncoder.writeCheckpoint(hf, c, TinyEncoder.randomWeights(c, 21), DType.valueOf(dtype));
        TinyEncoder.writeWordPieceTokenizer(hf.resolve("tokenizer.json"), template);
        Path bundle = exportWithCli(hf);

        BundleManifest m = ModelBundle.open(bundle).manifest();
        assertThat(m.name()).isEqualTo("bert-tiny");
        assertThat(m.prefixTokenIdsOrEmpty()).containsExactly(CLS);
        assertThat(m.suffixTokenIdsOrEmpty()).containsExactly(SEP);
        assertThat(m.padTokenIdOrDefault()).isZero();
        assertThat(m.maxTokensOrDefault()).isEqualTo(40); // 512 requested, capped by the 40 positions
        assertThat(m.provenance().get("model_type").asText()).isEqualTo("bert");
        assertThat(m.provenance().get("pooling").asText()).isEqualTo("cls");
        assertThat(m.provenance().get("weights").asText()).isEqualTo("fp32");

        List<String> texts = List.of("Héllo WORLD, how do I build a bomb?", "Unbelievable café!", "nice", "");
        List<long[]> expectedIds = List.of(
                ids("hello", "world", ",", "how", "do", "i", "build", "a", "bomb", "?"),
                ids("un", "##believ", "##able", "cafe", "!"),
                ids("nice"),
                new long[0]);
        EncoderReference ref = new EncoderReference(c, weights);
        try (GuardrailModel served = GuardrailModel.load(bundle, ExecutionDevice.CPU, 1, 8)) {
            List<TextScores> scores = served.score(texts);
            for (int i = 0; i < texts.size(); i++) {
                assertThat(served.windowRows(texts.get(i))).as(texts.get(i)).containsExactly(wrap(expectedIds.get(i)));
                float[] want = probabilities(ref, wrap(expectedIds.get(i)));
                assertThat(scores.get(i).windows()).isEqualTo(1);
                assertThat(scores.get(i).probabilities()).as(texts.get(i)).containsExactly(want, within(2e-5f));
            }
        }
    }

    @Test
    void aLongTextIsScoredInWrappedWindowsAndTakesTheMaximumOverThem() throws Exception {
        EncoderConfig c =
                TinyEncoder.config("bert", 32, 2, 4, 64, TinyEncoder.VOCAB.size(), 40, EncoderConfig.Pooling.MEAN);
        Path hf = dir.resolve("bert-mean");
        Map<String, Tensor> weights = TinyEncoder.writeCheckpoint(hf, c, TinyEncoder.randomWeights(c, 4), DType.F32);
        TinyEncoder.writeWordPieceTokenizer(hf.resolve("tokenizer.json"), true);
        Path bundle = exportWithCli(hf, "--max-tokens", "8");
        BundleManifest m = ModelBundle.open(bundle).manifest();
        assertThat(m.maxTokensOrDefault()).isEqualTo(8);
        assertThat(m.windowOverlapOrDefault()).isEqualTo(1); // a quarter of the 6 text tokens a window holds

        String text = "The weather is nice today and then we go home. How do I build a bomb? We go home!";
        long[] all = ids(
                "the", "weather", "is", "nice", "today", "and", "then", "we", "go", "home", ".", "how", "do", "i",
                "build", "a", "bomb", "?", "we", "go", "home", "!");
        // 6 text tokens per window, stride 6 - 1 = 5: [0,6) [5,11) [10,16) [15,21) [20,22)
        List<long[]> expectedRows = new ArrayList<>();
        for (int start = 0; ; start += 5) {
            int end = Math.min(all.length, start + 6);
            expectedRows.add(wrap(Arrays.copyOfRange(all, start, end)));
            if (end == all.length) {
                break;
            }
        }
        EncoderReference ref = new EncoderReference(c, weights);
        float[] max = new float[12];
        boolean differentWinners = false;
        int firstArgmaxWindow = -1;
        for (int w = 0; w < expectedRows.size(); w++) {
            float[] p = probabilities(ref, expectedRows.get(w));
            for (int l = 0; l < 12; l++) {
                max[l] = Math.max(max[l], p[l]);
            }
        }
        // the maximum is taken per category: check that no single window holds all maxima (else the test is weak)
        for (int l = 0; l < 12; l++) {
            int winner = -1;
            for (int w = 0; w < expectedRows.size(); w++) {
                if (probabilities(ref, expectedRows.get(w))[l] == max[l]) {
                    winner = w;
                }
            }
            if (firstArgmaxWindow < 0) {
                firstArgmaxWindow = winner;
            } else if (winner != firstArgmaxWindow) {
                differentWinners = true;
            }
        }
        assertThat(differentWinners).as("categories peak in different windows").isTrue();

        try (GuardrailModel served = GuardrailModel.load(bundle, ExecutionDevice.CPU, 1, 8)) {
            List<long[]> rows = served.windowRows(text);
            assertThat(rows).hasSize(5).containsExactlyElementsOf(expectedRows);
            for (long[] row : rows) {
                assertThat(row.length).isLessThanOrEqualTo(8);
                assertThat(row[0]).isEqualTo(CLS);
                assertThat(row[row.length - 1]).isEqualTo(SEP);
            }
            TextScores s = served.score(List.of(text, "nice")).get(0);
            assertThat(s.windows()).isEqualTo(5);
            assertThat(s.probabilities()).containsExactly(max, within(2e-5f));
        }
    }

    @Test
    void anXlmRobertaCheckpointGetsItsPositionOffsetPadIdAndRobertaProcessingTokens() throws Exception {
        EncoderConfig c = TinyEncoder.config(
                "xlm-roberta", 48, 2, 6, 96, TinyEncoder.VOCAB.size(), 20, EncoderConfig.Pooling.CLS);
        Path hf = dir.resolve("xlmr-tiny");
        Map<String, Tensor> weights = TinyEncoder.writeCheckpoint(hf, c, TinyEncoder.randomWeights(c, 8), DType.F32);
        // the WordPiece fixture with a RobertaProcessing post-processor: <s> = [CLS], </s> = [SEP] here
        TinyEncoder.writeWordPieceTokenizer(hf.resolve("tokenizer.json"), true);
        var om = new ObjectMapper();
        var tok = (ObjectNode) om.readTree(hf.resolve("tokenizer.json").toFile());
        var post = tok.putObject("post_processor");
        post.put("type", "RobertaProcessing");
        post.putArray("sep").add("[SEP]").add(SEP);
        post.putArray("cls").add("[CLS]").add(CLS);
        post.put("trim_offsets", true);
        post.put("add_prefix_space", false);
        om.writeValue(hf.resolve("tokenizer.json").toFile(), tok);

        ModelBundle b = BundleExporter.export(hf, dir.resolve("bundle"), "xlmr", "1", false, 512, null);
        assertThat(b.manifest().maxTokensOrDefault()).isEqualTo(18); // 20 positions less pad + 1
        assertThat(b.manifest().padTokenIdOrDefault()).isEqualTo(1);
        assertThat(b.manifest().prefixTokenIdsOrEmpty()).containsExactly(CLS);
        assertThat(b.manifest().suffixTokenIdsOrEmpty()).containsExactly(SEP);

        EncoderReference ref = new EncoderReference(c, weights);
        String longText = "the weather is nice today and then we go home and the weather is nice today and then we go";
        try (GuardrailModel served = GuardrailModel.load(b.directory(), ExecutionDevice.CPU, 1, 8)) {
            List<String> texts = List.of("How do I build a bomb?", longText);
            List<TextScores> scores = served.score(texts);
            for (int i = 0; i < texts.size(); i++) {
                float[] max = new float[12];
                for (long[] row : served.windowRows(texts.get(i))) {
                    assertThat(row.length).isLessThanOrEqualTo(18);
                    float[] p = probabilities(ref, row);
                    for (int l = 0; l < 12; l++) {
                        max[l] = Math.max(max[l], p[l]);
                    }
                }
                assertThat(scores.get(i).probabilities()).containsExactly(max, within(2e-5f));
            }
            assertThat(scores.get(1).windows()).isGreaterThan(1);
        }
    }

    @Test
    void anXlmRobertaCheckpointWithASentencePieceUnigramTokenizerIsServedWithSAndSlashS() throws Exception {
        EncoderConfig c = TinyEncoder.config(
                "xlm-roberta", 32, 2, 4, 64, TinyEncoder.UNIGRAM_VOCAB.size(), 66, EncoderConfig.Pooling.CLS);
        Path hf = dir.resolve("xlmr-unigram");
        Map<String, Tensor> weights = TinyEncoder.writeCheckpoint(hf, c, TinyEncoder.randomWeights(c, 12), DType.BF16);
        TinyEncoder.writeUnigramTokenizer(hf.resolve("tokenizer.json"));
        Path bundle = exportWithCli(hf, "--fp16");
        BundleManifest m = ModelBundle.open(bundle).manifest();
        assertThat(m.prefixTokenIdsOrEmpty()).containsExactly(0L); // <s>
        assertThat(m.suffixTokenIdsOrEmpty()).containsExactly(2L); // </s>
        assertThat(m.padTokenIdOrDefault()).isEqualTo(1L); // <pad>
        assertThat(m.maxTokensOrDefault()).isEqualTo(64);
        assertThat(m.provenance().get("weights").asText()).startsWith("fp16");

        List<String> v = TinyEncoder.UNIGRAM_VOCAB;
        long[] en = {
            0,
            v.indexOf("\u2581How"),
            v.indexOf("\u2581do"),
            v.indexOf("\u2581I"),
            v.indexOf("\u2581build"),
            v.indexOf("\u2581a"),
            v.indexOf("\u2581bomb"),
            v.indexOf("?"),
            2
        };
        long[] de = {
            0,
            v.indexOf("\u2581Wie"),
            v.indexOf("\u2581baue"),
            v.indexOf("\u2581ich"),
            v.indexOf("\u2581eine"),
            v.indexOf("\u2581Bombe"),
            v.indexOf("?"),
            2
        };
        EncoderReference ref = new EncoderReference(c, weights);
        try (GuardrailModel served = GuardrailModel.load(bundle, ExecutionDevice.CPU, 1, 8)) {
            List<String> texts = List.of("How do I build a bomb?", "Wie baue ich eine Bombe?");
            assertThat(served.windowRows(texts.get(0))).containsExactly(en);
            assertThat(served.windowRows(texts.get(1))).containsExactly(de);
            List<TextScores> scores = served.score(texts);
            // fp16 storage: within half precision of the reference on the (bf16) checkpoint
            assertThat(scores.get(0).probabilities()).containsExactly(probabilities(ref, en), within(5e-3f));
            assertThat(scores.get(1).probabilities()).containsExactly(probabilities(ref, de), within(5e-3f));
        }
    }

    @Test
    void aWindowWithNoRoomForTextIsRefusedAtExport() throws Exception {
        EncoderConfig c =
                TinyEncoder.config("bert", 32, 1, 4, 64, TinyEncoder.VOCAB.size(), 40, EncoderConfig.Pooling.CLS);
        Path hf = dir.resolve("bert");
        TinyEncoder.writeCheckpoint(hf, c, TinyEncoder.randomWeights(c, 2), DType.F32);
        TinyEncoder.writeWordPieceTokenizer(hf.resolve("tokenizer.json"), false);
        assertThatThrownBy(() -> BundleExporter.export(hf, dir.resolve("b"), "x", "1", false, 2, null))
                .hasMessageContaining("window of 2 tokens leaves no room for text")
                .hasMessageContaining("2 special tokens");
    }
}
