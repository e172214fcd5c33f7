package dev.duoguard.runtime.scoring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.duoguard.runtime.baseline.LexiconBaseline;
import dev.duoguard.runtime.bundle.BundleManifest;
import dev.duoguard.runtime.bundle.InvalidBundleException;
import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.runtime.onnx.ExecutionDevice;
import dev.duoguard.runtime.tokenizer.GuardrailTokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Windows of a bundle with prefix/suffix special tokens (encoders): every row is prefix + slice + suffix, no row
 * exceeds max_tokens, the slices cover the text in order with the manifest's overlap, and a text without tokens
 * still gets prefix + suffix. Decoder bundles (no special tokens) keep their plain windows.
 */
class SpecialTokenWindowsTest {

    static final long CLS = 2;
    static final long SEP = 3;

    @TempDir
    Path dir;

    GuardrailModel load(int maxTokens, int overlap, List<Long> prefix, List<Long> suffix) throws IOException {
        LexiconBaseline.build(dir);
        BundleManifest m = ModelBundle.open(dir).manifest();
        ModelBundle.writeManifest(
                dir,
                new BundleManifest(
                                m.format(),
                                m.name(),
                                m.version(),
                                m.categories(),
                                m.defaultThreshold(),
                                m.thresholds(),
                                maxTokens,
                                overlap,
                                m.padTokenId(),
                                m.pairSeparator(),
                                null,
                                m.provenance(),
                                m.metrics())
                        .withSpecialTokens(prefix, suffix));
        return GuardrailModel.load(dir, ExecutionDevice.CPU, 1, 8);
    }

    @Test
    void everyWindowIsWrappedInTheSpecialTokensAndTheSlicesCoverTheText() throws IOException {
        try (GuardrailModel model = load(10, 2, List.of(CLS), List.of(SEP, SEP))) {
            String text = String.join(" ", Collections.nCopies(23, "weather bomb"));
            List<long[]> rows = model.windowRows(text);
            long[] all = new long[0];
            try (var tok = GuardrailTokenizer.load(model.bundle().tokenizerFile())) {
                all = tok.encode(text);
            }
            // 7 text tokens per window, stride 7 - 2 = 5
            int expected = 1 + (int) Math.ceil((all.length - 7) / 5.0);
            assertThat(rows).hasSize(expected);
            List<Long> covered = new ArrayList<>();
            for (int w = 0; w < rows.size(); w++) {
                long[] row = rows.get(w);
                assertThat(row.length).isLessThanOrEqualTo(10);
                assertThat(row[0]).isEqualTo(CLS);
                assertThat(Arrays.copyOfRange(row, row.length - 2, row.length)).containsExactly(SEP, SEP);
                long[] slice = Arrays.copyOfRange(row, 1, row.length - 2);
                assertThat(slice).isEqualTo(Arrays.copyOfRange(all, w * 5, Math.min(all.length, w * 5 + 7)));
                for (int i = w == 0 ? 0 : 2; i < slice.length; i++) {
                    covered.add(slice[i]);
                }
            }
            assertThat(covered)
                    .containsExactlyElementsOf(Arrays.stream(all).boxed().toList());
            assertThat(model.score(List.of(text)).get(0).windows()).isEqualTo(expected);

            assertThat(model.windowRows("")).containsExactly(new long[] {CLS, SEP, SEP});
            assertThat(model.windowRows("   ")).containsExactly(new long[] {CLS, SEP, SEP});
            assertThat(model.score(List.of("")).get(0).windows()).isEqualTo(1);
        }
    }

    @Test
    void anOverlapThatLeavesNoStrideIsRefusedAtLoad() {
        // max_tokens 5 holds 2 text tokens next to [CLS] … [SEP] [SEP]: an overlap of 2 or more would never advance
        // (one window per token at best), so the bundle is refused with the bound it broke
        assertThatThrownBy(() -> load(5, 4, List.of(CLS), List.of(SEP, SEP)))
                .isInstanceOf(InvalidBundleException.class)
                .hasMessageContaining("window_overlap must be in [0, 2)");
    }

    @Test
    void theSharedWindowFunctionAdvancesAtLeastOneToken() {
        // called directly (training does), an overlap as large as the text part still advances one token at a time
        List<long[]> rows = Windows.rows(new long[] {10, 11, 12, 13}, 5, 4, new long[] {CLS}, new long[] {SEP, SEP}, 0);
        assertThat(rows).hasSize(3);
        assertThat(rows.get(0)).containsExactly(CLS, 10, 11, SEP, SEP);
        assertThat(rows.get(2)).containsExactly(CLS, 12, 13, SEP, SEP);
    }

    @Test
    void withoutSpecialTokensWindowsAreThePlainSlices() throws IOException {
        try (GuardrailModel model = load(8, 2, null, null)) {
            String text = String.join(" ", Collections.nCopies(10, "weather"));
            List<long[]> rows = model.windowRows(text);
            int tokens = model.tokenCount(text);
            assertThat(rows).hasSize(1 + (int) Math.ceil((tokens - 8) / 6.0));
            for (long[] row : rows.subList(0, rows.size() - 1)) {
                assertThat(row).hasSize(8);
            }
            assertThat(model.windowRows(""))
                    .containsExactly(new long[] {model.bundle().manifest().padTokenIdOrDefault()});
        }
    }
}
