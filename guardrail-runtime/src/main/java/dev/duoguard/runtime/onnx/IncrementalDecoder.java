package dev.duoguard.runtime.onnx;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import dev.duoguard.runtime.bundle.InvalidBundleException;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A decoder classifier run incrementally over a streamed reply: each {@link Reply} keeps the key/value cache of the
 * tokens it has seen, so appending a chunk costs the chunk's tokens (attending to the cached ones), not the whole
 * reply again, and returns the classifier's logits for every new prefix (causal attention: the last-token score of
 * prefix k is the head applied at position k).
 *
 * <p>The graph ({@code OnnxClassifierExporter.exportIncremental}, {@value #MODEL_FILE}): int64 {@code input_ids}
 * [batch, N] (the new tokens), int64 {@code attention_mask} [batch, P+N], float {@code past_key_values.L.key/value}
 * [batch, Hkv, P, Dh] per layer L (rotated keys and values, before the grouped-query repeat); out float {@code logits}
 * [batch, labels] (the last new token), {@code position_logits} [batch, N, labels] and {@code present.L.key/value}
 * [batch, Hkv, P+N, Dh]. Positions continue from P. This class runs one reply per call (batch 1).
 *
 * <p>State lives in native ONNX Runtime memory, in the last call's result (its {@code present} tensors are the next
 * call's {@code past}): {@link Reply#close()} frees it. It is in-memory only; after a restart a reply's cache is
 * rebuilt by appending the reply text kept elsewhere (one pass over it).
 *
 * <p>Bounded: a reply holds at most {@code maxTokens} tokens (capped by the rotary tables' length, {@value
 * #MAX_POSITIONS} in the model's metadata). An append beyond it is refused with {@link ContextFullException} before
 * anything runs, the state unchanged; the caller scores the tail another way (the windowed rescoring). Refusing,
 * rather than silently dropping the reply's start, keeps "this score covers the whole reply" true.
 *
 * <p>The session is thread-safe; one {@link Reply} must be used by one thread at a time.
 */
public final class IncrementalDecoder implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(IncrementalDecoder.class);
    /** The incremental graph's conventional file name, next to a bundle's model.onnx. */
    public static final String MODEL_FILE = "model-incremental.onnx";
    /** Metadata key: the most positions the graph has rotary tables for. */
    public static final String MAX_POSITIONS = "duoguard.max_positions";

    public static final String POSITION_LOGITS = "position_logits";

    public static String pastKey(int layer) {
        return "past_key_values." + layer + ".key";
    }

    public static String pastValue(int layer) {
        return "past_key_values." + layer + ".value";
    }

    public static String presentKey(int layer) {
        return "present." + layer + ".key";
    }

    public static String presentValue(int layer) {
        return "present." + layer + ".value";
    }

    /** An append that would take a reply past the decoder's bound; nothing ran and the reply is unchanged. */
    public static final class ContextFullException extends IllegalStateException {
        ContextFullException(String message) {
            super(message);
        }
    }

    private final OrtEnvironment env = OrtEnvironment.getEnvironment();
    private final OrtSession session;
    private final Path modelFile;
    private final int labels;
    private final int layers;
    private final long kvHeads;
    private final long headDim;
    private final int maxTokens;
    private final Set<String> outputs = new HashSet<>();
    /** The zero-length past of a reply's first append, shared by all replies (inputs are only read). */
    private final List<OnnxTensor> emptyPast = new ArrayList<>();

    /**
     * @param maxTokens the most tokens one reply may hold (capped by the model's {@value #MAX_POSITIONS})
     * @throws InvalidBundleException when the file is not an incremental decoder with {@code expectedLabels} labels
     */
    public IncrementalDecoder(
            Path modelFile, int expectedLabels, ExecutionDevice device, int intraOpThreads, int maxTokens) {
        if (maxTokens < 1) {
            throw new IllegalArgumentException("maxTokens must be positive but is " + maxTokens);
        }
        this.modelFile = modelFile;
        this.labels = expectedLabels;
        String described;
        try (OrtSession.SessionOptions opts = new OrtSession.SessionOptions()) {
            opts.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            if (intraOpThreads > 0) {
                opts.setIntraOpNumThreads(intraOpThreads);
            }
            described = OnnxClassifier.configureDevice(opts, device);
            this.session = env.createSession(modelFile.toString(), opts);
        } catch (OrtException e) {
            throw new InvalidBundleException("ONNX Runtime cannot load " + modelFile + ": " + e.getMessage(), e);
        }
        try {
            this.layers = countLayers();
            long[] kvShape = validateSignature();
            this.kvHeads = kvShape[1];
            this.headDim = kvShape[3];
            this.maxTokens = Math.min(maxTokens, modelMaxPositions());
            for (int i = 0; i < layers; i++) {
                emptyPast.add(emptyTensor());
                emptyPast.add(emptyTensor());
            }
            try (Reply probe = open()) {
                probe.append(new long[] {0L});
            }
        } catch (OrtException e) {
            close();
            throw new InvalidBundleException(modelFile + ": cannot read the model: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            close();
            throw e instanceof InvalidBundleException
                    ? e
                    : new InvalidBundleException(modelFile + ": a one-token probe failed: " + e.getMessage(), e);
        }
        log.info(
                "incremental decoder {} loaded on {}: {} layers, {} key/value heads of {}, up to {} tokens per reply",
                modelFile.getFileName(),
                described,
                layers,
                kvHeads,
                headDim,
                this.maxTokens);
    }

    private int countLayers() throws OrtException {
        Map<String, NodeInfo> inputs = session.getInputInfo();
        int n = 0;
        while (inputs.containsKey(pastKey(n))) {
            n++;
        }
        if (n == 0) {
            throw new InvalidBundleException(modelFile + ": not an incremental decoder: no '" + pastKey(0)
                    + "' input; its inputs are " + inputs.keySet());
        }
        return n;
    }

    /** Checks every input and output; returns the past tensors' shape [batch, Hkv, past, Dh]. */
    private long[] validateSignature() throws OrtException {
        Map<String, NodeInfo> inputs = session.getInputInfo();
        Set<String> expected = new HashSet<>(Set.of(OnnxClassifier.INPUT_IDS, OnnxClassifier.ATTENTION_MASK));
        long[] kvShape = null;
        for (int i = 0; i < layers; i++) {
            for (String past : List.of(pastKey(i), pastValue(i))) {
                expected.add(past);
                long[] shape =
                        tensor(inputs, past, OnnxJavaType.FLOAT, 4, "input").getShape();
                if (shape[1] < 1 || shape[3] < 1) {
                    throw new InvalidBundleException(modelFile + ": '" + past + "' must have fixed key/value heads"
                            + " and head dim but has shape " + Arrays.toString(shape));
                }
                if (kvShape != null && (shape[1] != kvShape[1] || shape[3] != kvShape[3])) {
                    throw new InvalidBundleException(modelFile + ": '" + past + "' has shape " + Arrays.toString(shape)
                            + " but '" + pastKey(0) + "' has " + Arrays.toString(kvShape));
                }
                kvShape = shape;
            }
        }
        tensor(inputs, OnnxClassifier.INPUT_IDS, OnnxJavaType.INT64, 2, "input");
        tensor(inputs, OnnxClassifier.ATTENTION_MASK, OnnxJavaType.INT64, 2, "input");
        if (!inputs.keySet().equals(expected)) {
            Set<String> unexpected = new HashSet<>(inputs.keySet());
            unexpected.removeAll(expected);
            throw new InvalidBundleException(modelFile + ": unexpected inputs " + unexpected + " (expected "
                    + "input_ids, attention_mask and past_key_values.0.." + (layers - 1) + ".key/value)");
        }
        Map<String, NodeInfo> outs = session.getOutputInfo();
        long[] positionShape =
                tensor(outs, POSITION_LOGITS, OnnxJavaType.FLOAT, 3, "output").getShape();
        if (positionShape[2] != labels) {
            throw new InvalidBundleException(modelFile + ": '" + POSITION_LOGITS + "' has " + positionShape[2]
                    + " labels but " + labels + " were expected");
        }
        outputs.add(POSITION_LOGITS);
        for (int i = 0; i < layers; i++) {
            for (String present : List.of(presentKey(i), presentValue(i))) {
                tensor(outs, present, OnnxJavaType.FLOAT, 4, "output");
                outputs.add(present);
            }
        }
        return kvShape;
    }

    private TensorInfo tensor(Map<String, NodeInfo> infos, String name, OnnxJavaType type, int rank, String what) {
        NodeInfo info = infos.get(name);
        if (info == null) {
            throw new InvalidBundleException(modelFile + ": the model has no '" + name + "' " + what + "; its " + what
                    + "s are " + infos.keySet());
        }
        if (!(info.getInfo() instanceof TensorInfo t) || t.type != type || t.getShape().length != rank) {
            throw new InvalidBundleException(modelFile + ": '" + name + "' must be a rank-" + rank + " " + type
                    + " tensor but is " + info.getInfo());
        }
        return t;
    }

    private int modelMaxPositions() throws OrtException {
        String value = session.getMetadata().getCustomMetadata().get(MAX_POSITIONS);
        try {
            int max = Integer.parseInt(String.valueOf(value));
            if (max < 1) {
                throw new NumberFormatException();
            }
            return max;
        } catch (NumberFormatException e) {
            throw new InvalidBundleException(
                    modelFile + ": metadata '" + MAX_POSITIONS + "' must be a positive integer but is " + value);
        }
    }

    private OnnxTensor emptyTensor() throws OrtException {
        return OnnxTensor.createTensor(env, FloatBuffer.allocate(0), new long[] {1, kvHeads, 0, headDim});
    }

    /** A new, empty reply. */
    public Reply open() {
        return new Reply();
    }

    /** The most tokens one reply may hold. */
    public int maxTokens() {
        return maxTokens;
    }

    /** Bytes of key/value state a reply of {@code tokens} tokens holds (fp32, every layer). */
    public long stateBytes(int tokens) {
        return 2L * layers * kvHeads * headDim * tokens * Float.BYTES;
    }

    @Override
    public void close() {
        emptyPast.forEach(OnnxTensor::close);
        try {
            session.close();
        } catch (OrtException e) {
            log.warn("closing ONNX session failed: {}", e.getMessage());
        }
    }

    /** One open reply: the key/value cache of its tokens so far. Not thread-safe. */
    public final class Reply implements AutoCloseable {

        /** The last append's result, whose present tensors are this reply's cache; null while empty. */
        private OrtSession.Result cache;

        private int length;
        private boolean closed;

        private Reply() {}

        /**
         * Runs the new tokens against the cache and keeps theirs. Returns raw logits [new tokens][labels]: row i is
         * the classifier's output for the reply's first {@code length() + i + 1} tokens.
         *
         * @throws ContextFullException when the reply would exceed {@link #maxTokens()} (nothing runs)
         */
        public float[][] append(long[] newTokenIds) {
            return run(newTokenIds, true);
        }

        /**
         * As {@link #append} but keeps nothing: the cache stays as it was. For a reply's provisional tail (text
         * whose tokens may still change when more arrives), scored now and appended later.
         *
         * @throws ContextFullException when the reply and these tokens would exceed {@link #maxTokens()}
         */
        public float[][] peek(long[] newTokenIds) {
            return run(newTokenIds, false);
        }

        private float[][] run(long[] newTokenIds, boolean keep) {
            if (closed) {
                throw new IllegalStateException("this reply's state was closed");
            }
            int n = newTokenIds.length;
            if (n == 0) {
                return new float[0][];
            }
            if (length + n > maxTokens) {
                throw new ContextFullException("a reply holds at most " + maxTokens + " tokens; it has " + length
                        + " and " + n + " more were appended");
            }
            int total = length + n;
            long[] ones = new long[total];
            Arrays.fill(ones, 1L);
            Map<String, OnnxTensor> feed = new HashMap<>();
            OnnxTensor ids = null;
            OnnxTensor mask = null;
            OrtSession.Result result = null;
            try {
                ids = OnnxTensor.createTensor(env, LongBuffer.wrap(newTokenIds), new long[] {1, n});
                mask = OnnxTensor.createTensor(env, LongBuffer.wrap(ones), new long[] {1, total});
                feed.put(OnnxClassifier.INPUT_IDS, ids);
                feed.put(OnnxClassifier.ATTENTION_MASK, mask);
                for (int i = 0; i < layers; i++) {
                    feed.put(pastKey(i), past(presentKey(i), 2 * i));
                    feed.put(pastValue(i), past(presentValue(i), 2 * i + 1));
                }
                result = session.run(feed, outputs);
                float[][] scores = positionLogits(result, n);
                if (keep) {
                    if (cache != null) {
                        cache.close();
                    }
                    cache = result;
                    result = null;
                    length = total;
                }
                return scores;
            } catch (OrtException e) {
                throw new IllegalStateException(
                        "ONNX Runtime failed on " + n + " new tokens after " + length + ": " + e.getMessage(), e);
            } finally {
                if (result != null) {
                    result.close();
                }
                if (ids != null) {
                    ids.close();
                }
                if (mask != null) {
                    mask.close();
                }
            }
        }

        private OnnxTensor past(String present, int emptyIndex) {
            return cache == null
                    ? emptyPast.get(emptyIndex)
                    : (OnnxTensor) cache.get(present).orElseThrow();
        }

        private float[][] positionLogits(OrtSession.Result result, int n) throws OrtException {
            OnnxValue v = result.get(POSITION_LOGITS).orElseThrow();
            float[][][] out = (float[][][]) v.getValue();
            if (out.length != 1 || out[0].length != n || out[0][0].length != labels) {
                throw new IllegalStateException("model returned position logits [" + out.length + ", "
                        + out[0].length + ", " + out[0][0].length + "] for " + n + " new tokens; expected [1, " + n
                        + ", " + labels + "]");
            }
            return out[0];
        }

        /** Tokens in the cache. */
        public int length() {
            return length;
        }

        /** Bytes of key/value state this reply holds now. */
        public long stateBytes() {
            return IncrementalDecoder.this.stateBytes(length);
        }

        /** Frees the cache; the reply starts again from position 0. */
        public void reset() {
            if (cache != null) {
                cache.close();
                cache = null;
            }
            length = 0;
        }

        /** Frees the cache; any later append is refused. */
        @Override
        public void close() {
            reset();
            closed = true;
        }
    }
}
