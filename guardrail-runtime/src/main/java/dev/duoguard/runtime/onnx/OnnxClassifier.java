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
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One ONNX Runtime session of a sequence classifier: int64 {@code input_ids} and {@code attention_mask}
 * [batch, tokens] in, float {@code logits} [batch, labels] out. An optional int64 {@code position_ids} input
 * (some Hugging Face exports have it) is fed Hugging Face's convention for right padding: 0..len-1.
 *
 * <p>The constructor validates the graph's signature and runs a one-token probe, so a mismatched model is refused
 * at load time with a message that says what differs, not at the first message.
 */
public final class OnnxClassifier implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(OnnxClassifier.class);
    public static final String INPUT_IDS = "input_ids";
    public static final String ATTENTION_MASK = "attention_mask";
    public static final String POSITION_IDS = "position_ids";
    public static final String LOGITS = "logits";

    private final OrtEnvironment env = OrtEnvironment.getEnvironment();
    private final OrtSession session;
    private final int labels;
    private final boolean wantsPositionIds;
    private final String deviceDescription;

    public OnnxClassifier(Path modelFile, int expectedLabels, ExecutionDevice device, int intraOpThreads) {
        this.labels = expectedLabels;
        String described;
        OrtSession s;
        try (OrtSession.SessionOptions opts = new OrtSession.SessionOptions()) {
            opts.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            if (intraOpThreads > 0) {
                opts.setIntraOpNumThreads(intraOpThreads);
            }
            described = configureDevice(opts, device);
            s = env.createSession(modelFile.toString(), opts);
        } catch (OrtException e) {
            throw new InvalidBundleException("ONNX Runtime cannot load " + modelFile + ": " + e.getMessage(), e);
        }
        this.session = s;
        this.deviceDescription = described;
        try {
            this.wantsPositionIds = validateSignature(modelFile);
            float[][] probe = logits(new long[][] {{0L}}, new long[][] {{1L}});
            if (probe.length != 1 || probe[0].length != expectedLabels) {
                throw new InvalidBundleException(modelFile + ": a one-token probe returned logits of shape ["
                        + probe.length + ", " + (probe.length == 0 ? 0 : probe[0].length) + "] but expected [1, "
                        + expectedLabels + "]");
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
        log.info("ONNX model {} loaded on {}", modelFile.getFileName(), deviceDescription);
    }

    static String configureDevice(OrtSession.SessionOptions opts, ExecutionDevice device) throws OrtException {
        if (device == ExecutionDevice.CPU) {
            return "CPU (configured)";
        }
        try {
            opts.addCUDA(0);
            return "CUDA device 0";
        } catch (OrtException | UnsatisfiedLinkError | RuntimeException e) {
            if (device == ExecutionDevice.CUDA) {
                throw new OrtException(
                        "device=cuda was requested but the CUDA execution provider is unavailable: " + e.getMessage());
            }
            String why = String.valueOf(e.getMessage())
                    .lines()
                    .findFirst()
                    .orElse(e.getClass().getSimpleName());
            log.info("CUDA execution provider unavailable ({}); using CPU", why);
            return "CPU (CUDA unavailable: " + why + ")";
        }
    }

    private boolean validateSignature(Path modelFile) {
        try {
            Map<String, NodeInfo> inputs = session.getInputInfo();
            for (String required : new String[] {INPUT_IDS, ATTENTION_MASK}) {
                NodeInfo info = inputs.get(required);
                if (info == null) {
                    throw new InvalidBundleException(
                            modelFile + ": the model has no '" + required + "' input; its inputs are " + inputs.keySet()
                                    + " (expected input_ids and attention_mask, int64 [batch, tokens])");
                }
                requireType(modelFile, info, OnnxJavaType.INT64);
            }
            Set<String> known = Set.of(INPUT_IDS, ATTENTION_MASK, POSITION_IDS);
            for (String name : inputs.keySet()) {
                if (!known.contains(name)) {
                    throw new InvalidBundleException(
                            modelFile + ": unexpected model input '" + name + "'; supported inputs are " + known);
                }
            }
            NodeInfo out = session.getOutputInfo().get(LOGITS);
            if (out == null) {
                throw new InvalidBundleException(modelFile + ": the model has no 'logits' output; its outputs are "
                        + session.getOutputInfo().keySet());
            }
            requireType(modelFile, out, OnnxJavaType.FLOAT);
            long[] shape = ((TensorInfo) out.getInfo()).getShape();
            if (shape.length != 2) {
                throw new InvalidBundleException(modelFile + ": 'logits' has rank " + shape.length
                        + " but expected rank 2 [batch, " + labels + "]");
            }
            if (shape[1] > 0 && shape[1] != labels) {
                throw new InvalidBundleException(modelFile + ": 'logits' has " + shape[1]
                        + " labels but the manifest lists " + labels + " categories");
            }
            return inputs.containsKey(POSITION_IDS);
        } catch (OrtException e) {
            throw new InvalidBundleException(modelFile + ": cannot read the model signature: " + e.getMessage(), e);
        }
    }

    private static void requireType(Path modelFile, NodeInfo info, OnnxJavaType type) {
        if (!(info.getInfo() instanceof TensorInfo t) || t.type != type) {
            throw new InvalidBundleException(
                    modelFile + ": '" + info.getName() + "' must be a " + type + " tensor but is " + info.getInfo());
        }
    }

    /**
     * Runs one batch. All rows of {@code ids} have the same length (the caller pads); {@code mask} marks real tokens.
     * Returns raw logits [batch][labels].
     */
    public float[][] logits(long[][] ids, long[][] mask) {
        int batch = ids.length;
        int len = ids[0].length;
        long[] shape = {batch, len};
        Map<String, OnnxTensor> feed = new HashMap<>(4);
        try {
            feed.put(INPUT_IDS, OnnxTensor.createTensor(env, flatten(ids, batch, len), shape));
            feed.put(ATTENTION_MASK, OnnxTensor.createTensor(env, flatten(mask, batch, len), shape));
            if (wantsPositionIds) {
                long[][] pos = new long[batch][len];
                for (int b = 0; b < batch; b++) {
                    for (int t = 0; t < len; t++) {
                        pos[b][t] = t; // right padding: positions of real tokens are 0..n-1
                    }
                }
                feed.put(POSITION_IDS, OnnxTensor.createTensor(env, flatten(pos, batch, len), shape));
            }
            try (OrtSession.Result result = session.run(feed, Set.of(LOGITS))) {
                OnnxValue v = result.get(0);
                float[][] out = (float[][]) v.getValue();
                if (out.length != batch || (batch > 0 && out[0].length != labels)) {
                    throw new IllegalStateException("model returned logits [" + out.length + ", "
                            + (out.length == 0 ? 0 : out[0].length) + "] for a batch of " + batch + "; expected ["
                            + batch + ", " + labels + "]");
                }
                return out;
            }
        } catch (OrtException e) {
            throw new IllegalStateException(
                    "ONNX Runtime failed on a batch of " + batch + "x" + len + ": " + e.getMessage(), e);
        } finally {
            feed.values().forEach(OnnxTensor::close);
        }
    }

    private static LongBuffer flatten(long[][] rows, int batch, int len) {
        LongBuffer buf = LongBuffer.allocate(batch * len);
        for (long[] row : rows) {
            buf.put(row);
        }
        return buf.flip();
    }

    public String deviceDescription() {
        return deviceDescription;
    }

    @Override
    public void close() {
        try {
            session.close();
        } catch (OrtException e) {
            log.warn("closing ONNX session failed: {}", e.getMessage());
        }
    }
}
