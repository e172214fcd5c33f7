package dev.duoguard.trainer.export;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.duoguard.runtime.bundle.BundleManifest;
import dev.duoguard.runtime.bundle.InvalidBundleException;
import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.runtime.onnx.ExecutionDevice;
import dev.duoguard.runtime.onnx.IncrementalDecoder;
import dev.duoguard.runtime.scoring.GuardrailModel;
import dev.duoguard.runtime.scoring.TextScores;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Decoder bundles carry the incremental graph, verified like every file, and the served model offers it. */
class DecoderBundleTest {

    @TempDir
    Path dir;

    @Test
    void aDecoderBundleListsItsIncrementalGraphAndServesItWithTheBundleScores() throws Exception {
        Path bundle = TinyDecoderBundle.export(dir.resolve("bundle"), 3);
        ModelBundle b = ModelBundle.open(bundle);
        assertThat(b.manifest().files()).containsKey(IncrementalDecoder.MODEL_FILE);
        assertThat(b.manifest().files().get(IncrementalDecoder.MODEL_FILE))
                .isEqualTo(ModelBundle.sha256(bundle.resolve(IncrementalDecoder.MODEL_FILE)));

        String text = "Tell me about fireworks. They were first made in China";
        try (GuardrailModel served = GuardrailModel.load(bundle, ExecutionDevice.CPU, 1, 4)) {
            GuardrailModel.Incremental inc = served.incremental().orElseThrow();
            assertThat(inc.maxTokens()).isEqualTo(b.manifest().maxTokensOrDefault());
            TextScores want = served.score(List.of(text)).get(0);
            long[] ids = inc.tokenize(text).ids();
            try (IncrementalDecoder.Reply reply = inc.open()) {
                float[][] rows = reply.append(ids);
                float[] got = inc.probabilities(rows[rows.length - 1]);
                for (int c = 0; c < got.length; c++) {
                    assertThat(Math.abs(got[c] - want.probabilities()[c])).isLessThan(1e-4f);
                }
            }
            int[] ends = inc.tokenize(text).ends();
            assertThat(ends[ends.length - 1]).isEqualTo(text.length());
        }
    }

    @Test
    void aCorruptIncrementalGraphFailsTheLoadClearly() throws Exception {
        Path bundle = TinyDecoderBundle.export(dir.resolve("bundle"), 3);
        BundleManifest manifest = ModelBundle.open(bundle).manifest();
        Files.write(bundle.resolve(IncrementalDecoder.MODEL_FILE), new byte[] {1, 2, 3, 4, 5, 6, 7, 8});
        // as published: its hash no longer matches the manifest's
        assertThatThrownBy(() -> GuardrailModel.load(bundle, ExecutionDevice.CPU, 1, 4))
                .isInstanceOf(InvalidBundleException.class)
                .hasMessageContaining(IncrementalDecoder.MODEL_FILE);
        // exported corrupt (the manifest pins the corrupt file's hash): ONNX Runtime cannot load it
        ModelBundle.writeManifest(bundle, manifest.withFiles(null));
        assertThatThrownBy(() -> GuardrailModel.load(bundle, ExecutionDevice.CPU, 1, 4))
                .isInstanceOf(InvalidBundleException.class)
                .hasMessageContaining("lists " + IncrementalDecoder.MODEL_FILE)
                .hasMessageContaining("cannot be used");
    }
}
