package dev.duoguard.trainer.export;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.duoguard.runtime.bundle.InvalidBundleException;
import dev.duoguard.runtime.onnx.ExecutionDevice;
import dev.duoguard.runtime.onnx.IncrementalDecoder;
import dev.duoguard.runtime.onnx.OnnxClassifier;
import dev.duoguard.trainer.TinyCheckpoint;
import dev.duoguard.trainer.hf.Qwen2Weights;
import dev.duoguard.trainer.hf.TransformerConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The incremental decoder graph against the bundle's graph: the position logits of one pass are the last-token
 * logits of every prefix, and appending in chunks with the key/value cache gives the same numbers.
 */
class IncrementalDecoderTest {

    private static final int LABELS = 12;

    @TempDir
    Path dir;

    private Path bundleGraph;
    private Path incrementalGraph;
    private TransformerConfig config;

    private void export(String kind) throws Exception {
        ObjectNode json = ExportParityTest.config(kind);
        config = TransformerConfig.parse(json);
        Qwen2Weights w = new Qwen2Weights(config, TinyCheckpoint.randomWeights(config, 5));
        bundleGraph = dir.resolve("model.onnx");
        incrementalGraph = dir.resolve(IncrementalDecoder.MODEL_FILE);
        OnnxClassifierExporter.export(w, bundleGraph, Map.of());
        OnnxClassifierExporter.exportIncremental(w, incrementalGraph, Map.of(), false);
    }

    private long[] tokens(int n, long seed) {
        Random r = new Random(seed);
        long[] ids = new long[n];
        for (int i = 0; i < n; i++) {
            ids[i] = 1 + r.nextInt(config.vocabSize() - 1);
        }
        return ids;
    }

    private static void assertClose(float[] got, float[] want, String what) {
        assertThat(got).hasSize(want.length);
        for (int l = 0; l < want.length; l++) {
            assertThat(Math.abs(got[l] - want[l])).as("%s label %d", what, l).isLessThan(1e-4f);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"plain", "gqa-bias-tied", "llama3"})
    void onePassGivesTheLastTokenLogitsOfEveryPrefix(String kind) throws Exception {
        export(kind);
        long[] ids = tokens(16, 3);
        try (OnnxClassifier bundle = new OnnxClassifier(bundleGraph, LABELS, ExecutionDevice.CPU, 1);
                IncrementalDecoder decoder =
                        new IncrementalDecoder(incrementalGraph, LABELS, ExecutionDevice.CPU, 1, 4096);
                IncrementalDecoder.Reply reply = decoder.open()) {
            float[][] positions = reply.append(ids);
            assertThat(positions).hasNumberOfRows(ids.length);
            for (int k = 1; k <= ids.length; k++) {
                long[] prefix = Arrays.copyOf(ids, k);
                long[] mask = new long[k];
                Arrays.fill(mask, 1);
                float[] want = bundle.logits(new long[][] {prefix}, new long[][] {mask})[0];
                assertClose(positions[k - 1], want, kind + " prefix " + k);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"plain", "gqa-bias-tied", "llama3"})
    void chunkedAppendsWithTheCacheEqualOnePass(String kind) throws Exception {
        export(kind);
        long[] ids = tokens(16, 9);
        try (IncrementalDecoder decoder =
                        new IncrementalDecoder(incrementalGraph, LABELS, ExecutionDevice.CPU, 1, 4096);
                IncrementalDecoder.Reply onePass = decoder.open();
                IncrementalDecoder.Reply chunked = decoder.open()) {
            float[][] want = onePass.append(ids);
            int at = 0;
            for (int chunk : new int[] {3, 5, 1, 7}) {
                float[][] got = chunked.append(Arrays.copyOfRange(ids, at, at + chunk));
                assertThat(got).hasNumberOfRows(chunk);
                for (int i = 0; i < chunk; i++) {
                    assertClose(got[i], want[at + i], kind + " position " + (at + i));
                }
                at += chunk;
                assertThat(chunked.length()).isEqualTo(at);
            }
        }
    }

    @Test
    void interleavedRepliesResetAndCloseKeepTheirOwnPositions() throws Exception {
        export("gqa-bias-tied");
        long[] a = tokens(9, 1);
        long[] b = tokens(6, 2);
        try (IncrementalDecoder decoder =
                        new IncrementalDecoder(incrementalGraph, LABELS, ExecutionDevice.CPU, 1, 4096);
                IncrementalDecoder.Reply fresh = decoder.open()) {
            float[][] wantA = fresh.append(a);
            fresh.reset();
            float[][] wantB = fresh.append(b);

            IncrementalDecoder.Reply ra = decoder.open();
            IncrementalDecoder.Reply rb = decoder.open();
            // interleaved: each reply's positions continue from its own length, not from the other's
            float[][] a1 = ra.append(Arrays.copyOfRange(a, 0, 4));
            float[][] b1 = rb.append(Arrays.copyOfRange(b, 0, 2));
            float[][] a2 = ra.append(Arrays.copyOfRange(a, 4, 9));
            float[][] b2 = rb.append(Arrays.copyOfRange(b, 2, 6));
            assertClose(a1[3], wantA[3], "a after 4");
            assertClose(a2[4], wantA[8], "a after 9");
            assertClose(b1[1], wantB[1], "b after 2");
            assertClose(b2[3], wantB[5], "b after 6");
            assertThat(ra.stateBytes()).isEqualTo(decoder.stateBytes(9)).isPositive();

            // reset frees the cache and restarts at position 0: the same tokens score as in a new reply
            ra.reset();
            assertThat(ra.length()).isZero();
            assertThat(ra.stateBytes()).isZero();
            float[][] again = ra.append(b);
            assertClose(again[5], wantB[5], "b after reset");

            ra.close();
            rb.close();
            assertThat(rb.length()).isZero();
            assertThatThrownBy(() -> ra.append(a))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("closed");
        }
    }

    @Test
    void aReplyPastTheBoundIsRefusedAndKeepsItsState() throws Exception {
        export("plain");
        long[] ids = tokens(10, 4);
        try (IncrementalDecoder decoder = new IncrementalDecoder(incrementalGraph, LABELS, ExecutionDevice.CPU, 1, 10);
                IncrementalDecoder.Reply onePass = decoder.open();
                IncrementalDecoder.Reply reply = decoder.open()) {
            float[][] want = onePass.append(ids);
            reply.append(Arrays.copyOf(ids, 8));
            assertThatThrownBy(() -> reply.append(tokens(3, 5)))
                    .isInstanceOf(IncrementalDecoder.ContextFullException.class)
                    .hasMessageContaining("at most 10 tokens");
            assertThat(reply.length()).isEqualTo(8);
            float[][] rest = reply.append(Arrays.copyOfRange(ids, 8, 10));
            assertClose(rest[1], want[9], "after the refused append");
        }
        // the bound is capped by the model's rotary tables (1024 positions in this config)
        try (IncrementalDecoder decoder =
                new IncrementalDecoder(incrementalGraph, LABELS, ExecutionDevice.CPU, 1, 1_000_000)) {
            assertThat(decoder.maxTokens()).isEqualTo(config.tabulatedPositions());
        }
    }

    @Test
    void aWrongOrCorruptModelFileIsRefusedAtLoad() throws Exception {
        export("plain");
        assertThatThrownBy(() -> new IncrementalDecoder(bundleGraph, LABELS, ExecutionDevice.CPU, 1, 100))
                .isInstanceOf(InvalidBundleException.class)
                .hasMessageContaining("not an incremental decoder");
        assertThatThrownBy(() -> new IncrementalDecoder(incrementalGraph, 5, ExecutionDevice.CPU, 1, 100))
                .isInstanceOf(InvalidBundleException.class)
                .hasMessageContaining("12 labels but 5 were expected");
        Path corrupt = dir.resolve("corrupt.onnx");
        byte[] bytes = Files.readAllBytes(incrementalGraph);
        Files.write(corrupt, Arrays.copyOf(bytes, bytes.length / 2));
        assertThatThrownBy(() -> new IncrementalDecoder(corrupt, LABELS, ExecutionDevice.CPU, 1, 100))
                .isInstanceOf(InvalidBundleException.class)
                .hasMessageContaining("cannot load");
    }
}
