package dev.duoguard.runtime.bundle;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.onnx.proto.OnnxMl.TensorProto;
import dev.duoguard.runtime.baseline.LexiconBaseline;
import dev.duoguard.runtime.onnx.ExecutionDevice;
import dev.duoguard.runtime.onnx.OnnxGraphBuilder;
import dev.duoguard.runtime.scoring.GuardrailModel;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelBundleTest {

    @TempDir
    Path tmp;

    Path bundle;

    @BeforeEach
    void build() throws IOException {
        bundle = tmp.resolve("b");
        LexiconBaseline.build(bundle);
    }

    GuardrailModel load(Path dir) {
        return GuardrailModel.load(dir, ExecutionDevice.CPU, 1, 8);
    }

    @Test
    void validBundleLoads() {
        try (GuardrailModel m = load(bundle)) {
            assertThat(m.model().name()).isEqualTo(LexiconBaseline.NAME);
            assertThat(m.model().thresholds()).hasSize(12);
        }
    }

    @Test
    void fileThatFailsItsChecksumIsRefused() throws IOException {
        byte[] bytes = Files.readAllBytes(bundle.resolve("model.onnx"));
        bytes[bytes.length - 5] ^= 0x5A;
        Files.write(bundle.resolve("model.onnx"), bytes);
        assertThatThrownBy(() -> load(bundle))
                .isInstanceOf(InvalidBundleException.class)
                .hasMessageContaining("checksum mismatch")
                .hasMessageContaining("model.onnx");
    }

    @Test
    void missingFileIsRefused() throws IOException {
        Files.delete(bundle.resolve("tokenizer.json"));
        assertThatThrownBy(() -> load(bundle))
                .isInstanceOf(InvalidBundleException.class)
                .hasMessageContaining("tokenizer.json")
                .hasMessageContaining("missing");
    }

    @Test
    void corruptModelWithAMatchingChecksumIsRefusedByTheRuntime() throws IOException {
        Files.write(bundle.resolve("model.onnx"), "this is not a protobuf".getBytes());
        rewriteManifest(bundle, null);
        assertThatThrownBy(() -> load(bundle))
                .isInstanceOf(InvalidBundleException.class)
                .hasMessageContaining("ONNX Runtime cannot load");
    }

    @Test
    void categoriesThatDifferAreRefused() throws IOException {
        List<String> cats = new ArrayList<>(SafetyCategory.displayNames());
        cats.set(11, "Elections");
        rewriteManifest(bundle, cats);
        assertThatThrownBy(() -> load(bundle))
                .isInstanceOf(InvalidBundleException.class)
                .hasMessageContaining("categories must be DuoGuard's 12")
                .hasMessageContaining("Elections");
    }

    @Test
    void modelWithTheWrongNumberOfLabelsIsRefused() throws IOException {
        writeIdentityModel(bundle.resolve("model.onnx"), 11, false, true);
        rewriteManifest(bundle, null);
        assertThatThrownBy(() -> load(bundle))
                .isInstanceOf(InvalidBundleException.class)
                .hasMessageContaining("'logits' has 11 labels");
    }

    @Test
    void modelWithoutAttentionMaskIsRefused() throws IOException {
        writeIdentityModel(bundle.resolve("model.onnx"), 12, false, false);
        rewriteManifest(bundle, null);
        assertThatThrownBy(() -> load(bundle))
                .isInstanceOf(InvalidBundleException.class)
                .hasMessageContaining("no 'attention_mask' input");
    }

    @Test
    void huggingFaceStyleExportWithPositionIdsLoadsAndScores() throws IOException {
        writeIdentityModel(bundle.resolve("model.onnx"), 12, true, true);
        rewriteManifest(bundle, null);
        try (GuardrailModel m = load(bundle)) {
            assertThat(m.score(List.of("hello there")).get(0).probabilities()).hasSize(12);
        }
    }

    @Test
    void handWrittenMinimalManifestUsesDuoGuardDefaults() throws IOException {
        String minimal = """
                {"name": "DuoGuard-0.5B", "version": "hf-export",
                 "categories": %s,
                 "files": {"model.onnx": "%s", "tokenizer.json": "%s"}}
                """.formatted(
                        ModelBundle.JSON.writeValueAsString(SafetyCategory.displayNames()),
                        ModelBundle.sha256(bundle.resolve("model.onnx")),
                        ModelBundle.sha256(bundle.resolve("tokenizer.json")));
        Files.writeString(bundle.resolve("manifest.json"), minimal);
        ModelBundle b = ModelBundle.open(bundle);
        assertThat(b.manifest().maxTokensOrDefault()).isEqualTo(512);
        assertThat(b.manifest().padTokenIdOrDefault()).isEqualTo(151643L);
        assertThat(b.thresholds()[0]).isEqualTo(0.5f);
    }

    @Test
    void windowThatHoldsOnlyTheSpecialTokensIsRefused() throws IOException {
        BundleManifest m =
                ModelBundle.JSON.readValue(bundle.resolve("manifest.json").toFile(), BundleManifest.class);
        ModelBundle.writeManifest(
                bundle,
                new BundleManifest(
                                m.format(),
                                m.name(),
                                m.version(),
                                m.categories(),
                                m.defaultThreshold(),
                                m.thresholds(),
                                3,
                                0,
                                0L,
                                m.pairSeparator(),
                                null,
                                m.provenance(),
                                m.metrics())
                        .withSpecialTokens(List.of(101L), List.of(102L, 102L)));
        assertThatThrownBy(() -> ModelBundle.open(bundle))
                .isInstanceOf(InvalidBundleException.class)
                .hasMessageContaining("max_tokens 3 leaves no room for text")
                .hasMessageContaining("3 prefix/suffix special tokens")
                .hasMessageContaining("raise max_tokens above 3");

        // one more token of window is enough
        ModelBundle.writeManifest(
                bundle,
                new BundleManifest(
                                m.format(),
                                m.name(),
                                m.version(),
                                m.categories(),
                                m.defaultThreshold(),
                                m.thresholds(),
                                4,
                                0,
                                0L,
                                m.pairSeparator(),
                                null,
                                m.provenance(),
                                m.metrics())
                        .withSpecialTokens(List.of(101L), List.of(102L, 102L)));
        assertThat(ModelBundle.open(bundle).manifest().prefixTokenIdsOrEmpty()).containsExactly(101L);
    }

    @Test
    void malformedManifestIsRefused() throws IOException {
        Files.writeString(bundle.resolve("manifest.json"), "{ not json");
        assertThatThrownBy(() -> ModelBundle.open(bundle))
                .isInstanceOf(InvalidBundleException.class)
                .hasMessageContaining("not a valid manifest");
    }

    @Test
    void languageThresholdsResolveLanguageThenGlobalThenDefault() throws IOException {
        writeThresholds(
                bundle,
                0.6,
                Map.of("hate", 0.7),
                Map.of("fr", Map.of("*", 0.2, "Hate", 0.3), "de", Map.of("privacy", 0.4)));
        ModelBundle b = ModelBundle.open(bundle);
        int hate = SafetyCategory.HATE.ordinal();
        int privacy = SafetyCategory.PRIVACY.ordinal();
        int violent = SafetyCategory.VIOLENT_CRIMES.ordinal();
        assertThat(b.thresholds("fr")[hate]).isEqualTo(0.3f);
        assertThat(b.thresholds("FR")[violent]).as("'*' of the language").isEqualTo(0.2f);
        assertThat(b.thresholds("de")[privacy]).isEqualTo(0.4f);
        assertThat(b.thresholds("de")[hate]).as("global per category").isEqualTo(0.7f);
        assertThat(b.thresholds("de")[violent]).as("default").isEqualTo(0.6f);
        assertThat(b.thresholds("en")).containsExactly(b.thresholds());
        assertThat(b.thresholds(null)).containsExactly(b.thresholds());
        try (GuardrailModel m = load(bundle)) {
            assertThat(m.model().thresholds("fr")[violent]).isEqualTo(0.2f);
            assertThat(m.model().thresholds("es")[hate]).isEqualTo(0.7f);
            assertThat(m.model().thresholdSource("fr")).isEqualTo("fr");
            assertThat(m.model().thresholdSource("es")).isEqualTo("global");
        }
    }

    @Test
    void invalidLanguageThresholdsAreRefusedWithWhatIsWrong() throws IOException {
        writeThresholds(bundle, null, null, Map.of("French", Map.of("*", 0.2)));
        assertThatThrownBy(() -> ModelBundle.open(bundle))
                .isInstanceOf(InvalidBundleException.class)
                .hasMessageContaining("'French'")
                .hasMessageContaining("language code");
        writeThresholds(bundle, null, null, Map.of("fr", Map.of("elections", 0.2)));
        assertThatThrownBy(() -> ModelBundle.open(bundle))
                .isInstanceOf(InvalidBundleException.class)
                .hasMessageContaining("language_thresholds of 'fr'")
                .hasMessageContaining("elections");
        writeThresholds(bundle, null, null, Map.of("fr", Map.of("hate", 1.0)));
        assertThatThrownBy(() -> ModelBundle.open(bundle))
                .isInstanceOf(InvalidBundleException.class)
                .hasMessageContaining("'fr' for 'hate' must be in (0, 1)");
        writeThresholds(bundle, null, null, Map.of("und", Map.of("*", 0.0)));
        assertThatThrownBy(() -> ModelBundle.open(bundle))
                .isInstanceOf(InvalidBundleException.class)
                .hasMessageContaining("must be in (0, 1)");
        writeThresholds(bundle, null, null, Map.of("und", Map.of("*", 0.3)));
        assertThat(ModelBundle.open(bundle).thresholds("und")[0]).isEqualTo(0.3f);
    }

    static void writeThresholds(
            Path dir,
            Double defaultThreshold,
            Map<String, Double> perCategory,
            Map<String, Map<String, Double>> perLanguage)
            throws IOException {
        BundleManifest m =
                ModelBundle.JSON.readValue(dir.resolve("manifest.json").toFile(), BundleManifest.class);
        ModelBundle.writeManifest(dir, m.withFiles(null).withThresholds(defaultThreshold, perCategory, perLanguage));
    }

    /** logits = sum over tokens of a [1, labels] row of ones (shape check only). */
    static void writeIdentityModel(Path file, int labels, boolean positionIds, boolean withMask) throws IOException {
        OnnxGraphBuilder g = new OnnxGraphBuilder("probe");
        g.input("input_ids", TensorProto.DataType.INT64, "batch", "tokens");
        if (withMask) {
            g.input("attention_mask", TensorProto.DataType.INT64, "batch", "tokens");
        }
        if (positionIds) {
            g.input("position_ids", TensorProto.DataType.INT64, "batch", "tokens");
        }
        g.output("logits", TensorProto.DataType.FLOAT, "batch", (long) labels);
        float[] w = new float[labels];
        Arrays.fill(w, 0.1f);
        g.floatInitializer("w", w, 1, labels);
        g.node("Cast", "ids_f", Map.of("to", (long) TensorProto.DataType.FLOAT.getNumber()), "input_ids");
        g.node("ReduceSum", "s", Map.of("keepdims", 1L), "ids_f"); // (1, 1) via axes default (all)
        g.node("Mul", "scaled", "s", "w"); // (1, labels)
        g.node("Shape", "ids_shape", "input_ids");
        g.longInitializer("zero", new long[] {0}, 1);
        g.longInitializer("one", new long[] {1}, 1);
        g.node("Slice", "batch_dim", "ids_shape", "zero", "one"); // (1,) = [batch]
        g.longInitializer("labels_dim", new long[] {labels}, 1);
        g.node("Concat", "out_shape", Map.of("axis", 0L), "batch_dim", "labels_dim");
        g.node("Expand", "logits", "scaled", "out_shape"); // (batch, labels)
        OnnxGraphBuilder.write(g.build("test", Map.of()), file);
    }

    static void rewriteManifest(Path dir, List<String> categories) throws IOException {
        BundleManifest m =
                ModelBundle.JSON.readValue(dir.resolve("manifest.json").toFile(), BundleManifest.class);
        ModelBundle.writeManifest(
                dir,
                new BundleManifest(
                        m.format(),
                        m.name(),
                        m.version(),
                        categories == null ? m.categories() : categories,
                        m.defaultThreshold(),
                        m.thresholds(),
                        m.maxTokens(),
                        m.windowOverlap(),
                        m.padTokenId(),
                        m.pairSeparator(),
                        null,
                        m.provenance(),
                        m.metrics()));
    }
}
