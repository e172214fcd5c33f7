package dev.duoguard.dev.bench;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.duoguard.dev.demo.StreamsDemo;
import dev.duoguard.runtime.onnx.ExecutionDevice;
import dev.duoguard.runtime.onnx.IncrementalDecoder;
import dev.duoguard.runtime.onnx.OnnxClassifier;
import dev.duoguard.trainer.export.OnnxClassifierExporter;
import dev.duoguard.trainer.hf.ParameterLayout;
import dev.duoguard.trainer.hf.Qwen2Weights;
import dev.duoguard.trainer.hf.Tensor;
import dev.duoguard.trainer.hf.TransformerConfig;
import java.awt.Color;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * {@code ./duoguard reply-bench --decoder}: the decoder alternatives to rescoring a growing reply, on one decoder
 * classifier built in-process: the trainer's {@code small} preset (Qwen2 shape: hidden 256, 6 layers, 8 heads, 4
 * key/value heads, intermediate 768, 1,024 positions), a 32,000-token vocabulary, 12 labels, random weights (cost
 * does not depend on what the weights say), fp32, ONNX Runtime on the CPU. Lengths are in tokens of the reply alone.
 *
 * <p>At each reply length L, the cost of the chunk that brings the reply to L (best of {@value #REPEATS}):
 *
 * <ol>
 *   <li>(a) rescoring: the bundle graph over all L tokens (what the streams app does at a chunk boundary);
 *   <li>(b) one pass of the incremental graph over all L tokens with an empty cache: the same work, but it returns
 *       the score of every prefix, so scoring every k chunks still finds the exact token where the policy trips;
 *   <li>(c) the key/value cache: the incremental graph over the chunk's tokens only, after the first L - chunk
 *       tokens are in the cache; and the cache's size at L (the memory an open reply holds).
 * </ol>
 *
 * And over a whole reply of L tokens streamed in chunks, the model time per chunk (best of {@value #WHOLE_REPEATS}):
 * (b) run every {@code scoreEveryTokens} (and at the end), which still scores every prefix but sees a harmful token
 * up to that many tokens late, against (c) the cache appended at every chunk.
 */
public final class DecoderReplyBench {

    static final int REPEATS = 5;
    static final int WHOLE_REPEATS = 3;
    static final int VOCAB = 32_000;
    static final int LABELS = 12;

    /** {@code reply-bench-decoder.json}. */
    record Result(
            Bench.Machine machine,
            String model,
            @JsonProperty("chunk_tokens") int chunkTokens,
            @JsonProperty("one_pass_every_tokens") int scoreEveryTokens,
            List<Row> rows) {}

    record Row(
            @JsonProperty("reply_tokens") int replyTokens,
            @JsonProperty("rescore_ms") double rescoreMs,
            @JsonProperty("one_pass_positions_ms") double onePassMs,
            @JsonProperty("kv_append_ms") double kvAppendMs,
            @JsonProperty("kv_state_bytes") long kvStateBytes,

            @JsonProperty("reply_one_pass_every_ms_per_chunk")
            double replyOnePassMsPerChunk,

            @JsonProperty("reply_cache_ms_per_chunk") double replyCacheMsPerChunk) {}

    private final PrintStream out;
    private final List<Integer> lengths;
    private final int chunkTokens;
    private final int scoreEveryTokens;
    private final Path jsonOut;

    public DecoderReplyBench(
            PrintStream out, List<Integer> lengths, int chunkTokens, int scoreEveryTokens, Path jsonOut) {
        this.out = out;
        this.lengths = List.copyOf(lengths);
        this.chunkTokens = chunkTokens;
        this.scoreEveryTokens = scoreEveryTokens;
        this.jsonOut = jsonOut;
    }

    static TransformerConfig config() {
        return TransformerConfig.preset("small", VOCAB, LABELS, 0);
    }

    /** Normal(0, 0.02) weights, norms at 1, biases 0, like a fresh Hugging Face model; seeded. */
    static Qwen2Weights randomWeights(TransformerConfig c, long seed) {
        Random r = new Random(seed);
        Map<String, Tensor> t = new LinkedHashMap<>();
        ParameterLayout.of(c, true, false).forEach((name, shape) -> {
            float[] v = new float[(int) Tensor.numel(shape)];
            boolean norm = name.endsWith("norm.weight");
            boolean bias = name.endsWith(".bias");
            for (int i = 0; i < v.length; i++) {
                v[i] = norm ? 1f : bias ? 0f : (float) (r.nextGaussian() * 0.02);
            }
            t.put(name, new Tensor(name, shape, v));
        });
        return new Qwen2Weights(c, t);
    }

    public int run() throws Exception {
        TransformerConfig c = config();
        int longest = lengths.stream().mapToInt(Integer::intValue).max().orElse(0);
        if (longest > c.tabulatedPositions() || lengths.stream().anyMatch(l -> l <= chunkTokens)) {
            throw new IllegalArgumentException("decoder reply lengths must be above the chunk (" + chunkTokens
                    + " tokens) and at most " + c.tabulatedPositions() + " tokens, but are " + lengths);
        }
        String model = "random Qwen2 decoder (hidden " + c.hiddenSize() + ", " + c.layers() + " layers, " + c.heads()
                + " heads, " + c.kvHeads() + " kv heads, vocab " + c.vocabSize() + "), fp32, CPU";
        Path dir = Files.createTempDirectory("duoguard-decoder-bench-");
        List<Row> rows = new ArrayList<>();
        try {
            Qwen2Weights w = randomWeights(c, 42);
            Path bundleGraph = dir.resolve("model.onnx");
            Path incrementalGraph = dir.resolve(IncrementalDecoder.MODEL_FILE);
            OnnxClassifierExporter.export(w, bundleGraph, Map.of());
            OnnxClassifierExporter.exportIncremental(w, incrementalGraph, Map.of(), false);
            out.println("▶ " + model);
            out.printf(
                    "▶ cost of the chunk (%d tokens) that brings the reply to L tokens, best of %d%n",
                    chunkTokens, REPEATS);
            try (OnnxClassifier rescoring = new OnnxClassifier(bundleGraph, LABELS, ExecutionDevice.CPU, 0);
                    IncrementalDecoder decoder = new IncrementalDecoder(
                            incrementalGraph, LABELS, ExecutionDevice.CPU, 0, c.tabulatedPositions());
                    IncrementalDecoder.Reply reply = decoder.open()) {
                measure(rescoring, reply, decoder, 128); // warm-up
                for (int length : lengths) {
                    Row row = measure(rescoring, reply, decoder, length);
                    out.printf(
                            "  %5d tokens: rescore %.2f ms, one pass %.2f ms, cache %.2f ms (%.1fx), state %,d bytes;"
                                    + " whole reply per chunk: one pass every %d tokens %.2f ms, cache %.2f ms%n",
                            row.replyTokens(),
                            row.rescoreMs(),
                            row.onePassMs(),
                            row.kvAppendMs(),
                            row.rescoreMs() / row.kvAppendMs(),
                            row.kvStateBytes(),
                            scoreEveryTokens,
                            row.replyOnePassMsPerChunk(),
                            row.replyCacheMsPerChunk());
                    rows.add(row);
                }
            }
        } finally {
            StreamsDemo.deleteQuietly(dir);
        }
        Result result = new Result(Bench.machine(), model, chunkTokens, scoreEveryTokens, rows);
        print(result);
        Files.createDirectories(jsonOut.toAbsolutePath().getParent());
        new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(jsonOut.toFile(), result);
        out.println("wrote " + jsonOut);
        Path png = jsonOut.resolveSibling(jsonOut.getFileName().toString().replaceFirst("\\.json$", "") + ".png");
        chart(rows, png);
        out.println("wrote " + png);
        return 0;
    }

    private Row measure(
            OnnxClassifier rescoring, IncrementalDecoder.Reply reply, IncrementalDecoder decoder, int length) {
        long[] ids = new Random(length).longs(length, 1, VOCAB).toArray();
        long[][] mask = new long[1][length];
        Arrays.fill(mask[0], 1L);
        long[] past = Arrays.copyOf(ids, length - chunkTokens);
        long[] chunk = Arrays.copyOfRange(ids, length - chunkTokens, length);
        long rescore = Long.MAX_VALUE;
        long onePass = Long.MAX_VALUE;
        long append = Long.MAX_VALUE;
        for (int i = 0; i < REPEATS; i++) {
            long t = System.nanoTime();
            rescoring.logits(new long[][] {ids}, mask);
            rescore = Math.min(rescore, System.nanoTime() - t);

            reply.reset();
            t = System.nanoTime();
            reply.append(ids);
            onePass = Math.min(onePass, System.nanoTime() - t);

            reply.reset();
            reply.append(past);
            t = System.nanoTime();
            reply.append(chunk);
            append = Math.min(append, System.nanoTime() - t);
        }
        long bytes = reply.stateBytes();
        reply.reset();
        int chunks = (length + chunkTokens - 1) / chunkTokens;
        long everyTokens = Long.MAX_VALUE;
        long cached = Long.MAX_VALUE;
        for (int i = 0; i < WHOLE_REPEATS; i++) {
            long total = 0;
            int scored = 0;
            for (int end = chunkTokens; ; end += chunkTokens) {
                int at = Math.min(end, length);
                if (at - scored >= scoreEveryTokens || at == length) {
                    long t = System.nanoTime();
                    reply.append(Arrays.copyOf(ids, at));
                    total += System.nanoTime() - t;
                    reply.reset();
                    scored = at;
                }
                if (at == length) {
                    break;
                }
            }
            everyTokens = Math.min(everyTokens, total);
            total = 0;
            for (int from = 0; from < length; from += chunkTokens) {
                long[] next = Arrays.copyOfRange(ids, from, Math.min(from + chunkTokens, length));
                long t = System.nanoTime();
                reply.append(next);
                total += System.nanoTime() - t;
            }
            reply.reset();
            cached = Math.min(cached, total);
        }
        return new Row(
                length,
                rescore / 1e6,
                onePass / 1e6,
                append / 1e6,
                bytes,
                everyTokens / 1e6 / chunks,
                cached / 1e6 / chunks);
    }

    static void chart(List<Row> rows, Path png) throws Exception {
        double[] x = rows.stream().mapToDouble(Row::replyTokens).toArray();
        ReplyCostChart.write(
                List.of(
                        new ReplyCostChart.Series(
                                "(a) rescore the reply",
                                new Color(0x1f77b4),
                                x,
                                rows.stream().mapToDouble(Row::rescoreMs).toArray()),
                        new ReplyCostChart.Series(
                                "(b) one pass, every prefix scored",
                                new Color(0xff7f0e),
                                x,
                                rows.stream().mapToDouble(Row::onePassMs).toArray()),
                        new ReplyCostChart.Series(
                                "(c) key/value cache, new tokens only",
                                new Color(0x2ca02c),
                                x,
                                rows.stream().mapToDouble(Row::kvAppendMs).toArray())),
                "decoder classifier: cost of one chunk vs reply length",
                "reply length (tokens); y: model time for the chunk that reaches that length",
                png);
    }

    private void print(Result r) {
        out.printf(
                "%nDecoder classifier, cost of one %d-token chunk vs reply length (%s; %s, %d cores)%n",
                r.chunkTokens(), r.model(), r.machine().cpu(), r.machine().cores());
        out.println("| reply tokens | (a) rescore ms | (b) one pass, all prefixes ms | (c) cache, chunk only ms "
                + "| (a)/(c) | cache per open reply | whole reply, ms per chunk: (b) every " + r.scoreEveryTokens()
                + " tokens | (c) every chunk |");
        out.println("|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (Row row : r.rows()) {
            out.printf(
                    "| %d | %.2f | %.2f | %.2f | %.1fx | %.2f MiB | %.2f | %.2f |%n",
                    row.replyTokens(),
                    row.rescoreMs(),
                    row.onePassMs(),
                    row.kvAppendMs(),
                    row.rescoreMs() / row.kvAppendMs(),
                    row.kvStateBytes() / (1024.0 * 1024.0),
                    row.replyOnePassMsPerChunk(),
                    row.replyCacheMsPerChunk());
        }
    }
}
