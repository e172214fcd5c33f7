package dev.duoguard.trainer.train;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.types.DataType;
import ai.djl.util.cuda.CudaUtils;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.management.OperatingSystemMXBean;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import dev.duoguard.trainer.engine.DjlEncoder;
import dev.duoguard.trainer.engine.LoraConfig;
import dev.duoguard.trainer.hf.EncoderConfig;
import dev.duoguard.trainer.hf.ParameterLayout;
import dev.duoguard.trainer.hf.PretrainedEncoders;
import dev.duoguard.trainer.hf.Tensor;
import dev.duoguard.trainer.hf.TransformerConfig;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryUsage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Predicate;

/**
 * What a run will hold in device memory, estimated before it starts from the models' shapes and the run's settings,
 * and the refusal when that cannot fit. One line per component: weights, adapters, gradients, AdamW's two moments,
 * frozen copies, and the activations of the phase that needs most (phases run one after another, so only the largest
 * counts). Everything is fp32 but the loop's frozen weights held in fp16 ({@code --dtype float16}: the LoRA
 * generator's base, the judge) and what the engine computes in their type (see {@link Decoder#activationBytes}).
 *
 * <p>Activations are counted from this engine's forward pass, not from a textbook formula: DJL frees an intermediate
 * array only when the scope of the step closes, so every intermediate of every layer is alive at the end of a
 * training forward, whether autograd saved it or not. Per decoder layer that is 10 BTD (norms, o_proj, MLP output
 * and the residuals) + 10.5 BT·Hq·Dh (q with its bias and RoPE, the GQA repeat of k and v, the attention context and
 * its copy) + 8.5 BT·Hkv·Dh (k and v with bias, RoPE on k) + 5 BTI (SwiGLU) + 4 B·H·T² (scores, scaled, masked,
 * softmax: explicit attention) values; per encoder layer 10 BTD + 2 BTI + 4 B·H·T². An LM head adds the
 * full-vocabulary logits and their log-softmax, 2 B·T·V. The backward pass in flight adds about one layer's worth.
 * Two phases free earlier: generation runs each layer in a scope of its own (one layer's temporaries at a time,
 * {@link Decoder#prefillValues}), and DPO's reference runs in a scope of its own, closed before the policy's forward
 * (only the policy's two forwards are alive at once).
 */
public final class MemoryPlan {

    /** Bytes of one fp32 value: trained weights, gradients, moments, adapters and the classifier's activations. */
    static final int FP32 = 4;

    /**
     * System property naming the memory available to the run in bytes instead of measuring it: for tests, and to
     * plan for another machine ({@code -Dduoguard.memory.available=80000000000}).
     */
    public static final String AVAILABLE_PROPERTY = "duoguard.memory.available";

    /** A component: what it is, how it was counted, its bytes; {@code phase}: held only while its phase runs. */
    public record Line(String component, String detail, long bytes, boolean phase) {}

    /** Memory the run may use, and where the figure comes from. */
    public record Available(long bytes, String source) {}

    /** A run that cannot fit: the message names the estimate and what is available. */
    public static final class DoesNotFit extends RuntimeException {
        private static final long serialVersionUID = 1L;

        DoesNotFit(String message) {
            super(message);
        }
    }

    /**
     * A model as the plan sees it: parameters, those that train, and the activation values of one forward pass of
     * {@code rows} x {@code tokens}.
     */
    public sealed interface Net {
        long parameters();

        long trainable();

        long activationValues(long rows, long tokens);

        /** Longest sequence the model takes. */
        int maxTokens();

        String describe();
    }

    /** A Qwen2/Llama decoder; {@code lmHead}: its activations include the full-vocabulary log-softmax. */
    public record Decoder(TransformerConfig config, boolean classifier, boolean lmHead) implements Net {
        @Override
        public long parameters() {
            return count(ParameterLayout.of(config, classifier, lmHead).values());
        }

        @Override
        public long trainable() {
            return parameters();
        }

        @Override
        public long activationValues(long b, long t) {
            long head = lmHead ? 2 * b * t * config.vocabSize() : 0;
            // one layer more: the backward pass in flight
            return (config.layers() + 1) * perLayer(b, t) + outside(b, t) + head;
        }

        /**
         * Bytes of one forward of {@code b} x {@code t} (as {@link #activationValues}) with the weights held in
         * {@code type}: the engine computes in the weights' type, so in fp16 every layer's values, the embedding and
         * the final norm take 2 bytes. Two things stay fp32 beside an fp16 copy: the attention bias (B, 1, T, T) is
         * made in fp32 and cast, and the LM head's (B, T, V) product is widened to fp32 logits before the
         * log-softmax, so an fp16 forward holds 4 + 2 bytes per bias value and 2 + 4 + 4 per logit.
         */
        public long activationBytes(long b, long t, DataType type) {
            long head = lmHead ? (2 * FP32 + narrowCopy(type)) * b * t * config.vocabSize() : 0;
            return typed(b, t, config.layers() + 1, type) + head;
        }

        /**
         * Bytes of a training pass with activation checkpointing ({@code DjlTransformer.checkpoint}) over
         * {@code sides} batches of {@code b} x {@code t} alive at once (DPO's chosen and rejected): per side, the
         * input of every layer and the top's output (L + 1 arrays of B T D in {@code type}) and the attention bias;
         * then one layer recomputed with autograd and its backward pass in flight (two layers' values of one side,
         * as {@link #activationBytes} counts one); and the LM head a chunk at a time, at most {@code headValues}
         * logits but at least a row: in its backward pass the fp32 logits, their log-softmax, the gather's and the
         * slice's zero-filled gradients and the log-softmax's gradient (5 x 4 B), + the fp16 product and its
         * gradient. DPO's reference runs before, one layer and one head chunk at a time without autograd: never
         * the larger.
         */
        public long checkpointedBytes(int sides, long b, long t, DataType type, long headValues) {
            long inputs = type.getNumOfBytes() * (config.layers() + 1L) * b * t * config.hiddenSize()
                    + (FP32 + narrowCopy(type)) * b * t * t;
            long row = t * config.vocabSize();
            long chunk = Math.max(1, Math.min(b, headValues / row)) * row;
            long head = lmHead ? (5 * FP32 + 2 * narrowCopy(type)) * chunk : 0;
            return sides * inputs + typed(b, t, 2, type) + head;
        }

        /**
         * What a generation prefill of {@code b} x {@code t} holds at its peak, in bytes with the weights in
         * {@code type}: the arrays made outside the layers, one layer's temporaries (each layer's are freed once its
         * output exists) and the last position's logits with the sampler's copy, 2 B V fp32 (+ the fp16 product
         * they are widened from); the KV cache is counted apart.
         */
        public long prefillBytes(long b, long t, DataType type) {
            return typed(b, t, 1, type) + (2 * FP32 + narrowCopy(type)) * b * config.vocabSize();
        }

        /**
         * {@code layers} layers' values and those outside the layers, in {@code type}; the bias as above. In fp16 the
         * norms and the attention's softmax compute in fp32 (as Hugging Face's do): each RMSNorm holds an fp32 copy
         * of its input, its square and its product (3 x 4 B) and two fp16 results where 3 x 2 B are counted, 10 B
         * more per value, for the layer's two norms and the final one; the softmax's fp32 result and its fp16 copy
         * take 4 B more per attention score.
         */
        private long typed(long b, long t, int layers, DataType type) {
            long inType = layers * perLayer(b, t) + b * t * 4 * config.hiddenSize();
            long fp32Extras = narrowCopy(type) == 0
                    ? 0
                    : (2L * layers + 1) * 10 * b * t * config.hiddenSize() + layers * 4L * b * config.heads() * t * t;
            return type.getNumOfBytes() * inType + (FP32 + narrowCopy(type)) * b * t * t + fp32Extras;
        }

        /** Bytes of the fp16 copy of an array the engine makes in fp32 (0 in fp32: the same array). */
        private static int narrowCopy(DataType type) {
            return type == DataType.FLOAT32 ? 0 : type.getNumOfBytes();
        }

        private long perLayer(long b, long t) {
            long d = config.hiddenSize();
            long q = (long) config.heads() * config.headDim();
            long kv = (long) config.kvHeads() * config.headDim();
            boolean bias = config.attentionBias(); // the bias add is one more (B, T, out) array per projection
            // twice the values, so the halves of RoPE's rotate-half stay integers
            long qTwice = (config.kvGroups() > 1 ? 21 : 17) - (bias ? 0 : 2);
            long kvTwice = 17 - (bias ? 0 : 4);
            long twice = 20 * d + qTwice * q + kvTwice * kv + 10L * config.intermediateSize() + 8L * config.heads() * t;
            return b * t * twice / 2;
        }

        /** The embedding, the final norm, and the (B, 1, T, T) attention bias. */
        private long outside(long b, long t) {
            return b * t * 4 * config.hiddenSize() + b * t * t;
        }

        @Override
        public int maxTokens() {
            return config.maxPositions();
        }

        @Override
        public String describe() {
            return netDescription(config.modelType(), config.layers(), config.hiddenSize(), parameters());
        }
    }

    /** A BERT-family encoder with a classification head whose top {@code trainableLayers} layers train (-1: all). */
    public record Encoder(EncoderConfig config, int trainableLayers) implements Net {
        @Override
        public long parameters() {
            return count(config.layout().values());
        }

        @Override
        public long trainable() {
            int top = trainableLayers < 0 ? config.layers() : Math.min(trainableLayers, config.layers());
            Predicate<String> trains = DjlEncoder.topLayers(config, top);
            return config.layout().entrySet().stream()
                    .filter(e -> trains.test(e.getKey()))
                    .mapToLong(e -> Tensor.numel(e.getValue()))
                    .sum();
        }

        @Override
        public long activationValues(long b, long t) {
            long d = config.hiddenSize();
            long perLayer = b * t * (10 * d + 2L * config.intermediateSize() + 4L * config.heads() * t);
            return (config.layers() + 1) * perLayer + b * t * 4 * d + b * t * t; // + the backward's layer, as above
        }

        @Override
        public int maxTokens() {
            return config.maxUsableTokens();
        }

        @Override
        public String describe() {
            return netDescription(config.modelType(), config.layers(), config.hiddenSize(), parameters());
        }
    }

    private final String title;
    private final List<Line> lines;

    private MemoryPlan(String title, List<Line> lines) {
        this.title = title;
        this.lines = List.copyOf(lines);
    }

    public List<Line> lines() {
        return lines;
    }

    /** What is held throughout plus the largest phase. */
    public long total() {
        long resident =
                lines.stream().filter(l -> !l.phase()).mapToLong(Line::bytes).sum();
        long phase =
                lines.stream().filter(Line::phase).mapToLong(Line::bytes).max().orElse(0);
        return resident + phase;
    }

    /** The classifier of {@code train --from DIR} (or the loop's {@code --classifier-from}): its config.json. */
    public static Net classifier(Path dir, TrainPreset preset) throws IOException {
        JsonNode json = new ObjectMapper().readTree(dir.resolve("config.json").toFile());
        if (EncoderConfig.isEncoder(json)) {
            EncoderConfig c = EncoderConfig.parse(json);
            return new Encoder(c.withClassifierHead(SafetyCategory.COUNT, c.pooling()), preset.trainableLayers());
        }
        TransformerConfig c = TransformerConfig.parse(json);
        return new Decoder(c.withClassifierHead(SafetyCategory.COUNT, 0), true, false);
    }

    /** The classifier a preset trains when no checkpoint is given (a from-scratch shape or its built-in encoder). */
    public static Net classifier(TrainPreset preset) throws IOException {
        if (preset.fromScratch()) {
            return new Decoder(
                    TransformerConfig.preset(preset.shape(), preset.vocabSize(), SafetyCategory.COUNT, 0), true, false);
        }
        return classifier(PretrainedEncoders.materialize(preset.backbone()), preset);
    }

    /** Fine-tuning a classifier with AdamW on batches of {@code batch} rows of at most {@code maxTokens} tokens. */
    public static MemoryPlan classifierTraining(Net net, int batch, int maxTokens) {
        return classifierTraining(net, batch, maxTokens, false);
    }

    /** As above; {@code checkpointing}: a decoder's activations with activation checkpointing (an encoder's as is). */
    public static MemoryPlan classifierTraining(Net net, int batch, int maxTokens, boolean checkpointing) {
        List<Line> lines = new ArrayList<>();
        addTraining(lines, "classifier", net, batch, maxTokens, false, checkpointing);
        return new MemoryPlan("train " + net.describe(), lines);
    }

    /** The classifier's lines: weights, gradients, moments, activations (a phase of the loop, resident in train). */
    private static void addTraining(
            List<Line> lines, String name, Net net, int batch, int maxTokens, boolean phase, boolean checkpointing) {
        int t = Math.min(maxTokens, net.maxTokens());
        long trainable = net.trainable();
        boolean checkpointed = checkpointing && net instanceof Decoder;
        long activations = checkpointed
                ? ((Decoder) net).checkpointedBytes(1, batch, t, DataType.FLOAT32, 0)
                : FP32 * net.activationValues(batch, t);
        String rows = batch + " rows x " + t + " tokens" + (checkpointed ? ", activation checkpointing" : "");
        if (!phase) {
            lines.add(
                    new Line(name + " weights", millions(net.parameters()) + " x 4 B", FP32 * net.parameters(), false));
            lines.add(new Line(name + " gradients", millions(trainable) + " trainable x 4 B", FP32 * trainable, false));
            lines.add(new Line("AdamW moments", "2 x " + millions(trainable) + " x 4 B", 2 * FP32 * trainable, false));
            lines.add(new Line(name + " activations", rows, activations, false));
            return;
        }
        long whole = FP32 * (net.parameters() + 3 * trainable) + activations;
        lines.add(new Line(
                name + " training", millions(net.parameters()) + " params + grads + AdamW, " + rows, whole, true));
    }

    /**
     * The two-player loop: the generator resident with its adapters (or, with full DPO, its gradients, moments and
     * the frozen reference copy), the judge's own copy, and the largest of three phases: sampling (prefill of
     * {@code generationRows} prompts, one layer at a time, and the KV cache), DPO (chosen and rejected rows through
     * the policy: two forwards alive at once; the reference's forward before them is freed when its log-probabilities
     * exist) and the classifier's training.
     *
     * @param loraTrainable adapter parameters (0: full DPO)
     * @param frozen        the type the frozen weights are held and computed in: the generator's base under LoRA and
     *                      the judge (FLOAT16 only with adapters: AdamW updates fp32 weights)
     * @param judge         the judge's own copy, or null when there is none (no judge, or the generator's base)
     * @param dpoPairs      preference pairs per DPO step; 0: no DPO (the control without the update)
     * @param checkpointHead with activation checkpointing, the LM head's logits per chunk; 0: no checkpointing
     */
    public static MemoryPlan loop(
            TransformerConfig generator,
            long loraTrainable,
            DataType frozen,
            TransformerConfig judge,
            int generationRows,
            int promptTokens,
            int newTokens,
            int dpoPairs,
            long checkpointHead,
            Net classifier,
            int classifierBatch,
            int classifierTokens) {
        if (frozen != DataType.FLOAT32 && (frozen != DataType.FLOAT16 || loraTrainable == 0)) {
            throw new IllegalArgumentException("frozen weights are float32, or float16 under LoRA adapters; not "
                    + frozen + (loraTrainable == 0 ? " with full DPO" : ""));
        }
        Decoder g = new Decoder(generator, false, true);
        long p = g.parameters();
        int w = frozen.getNumOfBytes();
        List<Line> lines = new ArrayList<>();
        lines.add(new Line("generator weights", millions(p) + " x " + w + " B, " + frozen, w * p, false));
        if (loraTrainable > 0) {
            lines.add(new Line(
                    "LoRA adapters + grads + AdamW",
                    "4 x " + millions(loraTrainable) + " x 4 B; reference = adapters off",
                    4 * FP32 * loraTrainable,
                    false));
        } else {
            lines.add(new Line("generator gradients", "full DPO: " + millions(p) + " x 4 B", FP32 * p, false));
            lines.add(new Line("AdamW moments", "2 x " + millions(p) + " x 4 B", 2 * FP32 * p, false));
            lines.add(new Line("DPO reference copy", "frozen copy, " + millions(p) + " x 4 B", FP32 * p, false));
        }
        if (judge != null) {
            long j = new Decoder(judge, false, true).parameters();
            lines.add(new Line(
                    "judge weights", "its own copy, " + millions(j) + " x " + w + " B, " + frozen, w * j, false));
        }
        int t = promptTokens + newTokens;
        String computedIn = frozen == DataType.FLOAT32 ? frozen.toString() : frozen + ", logits float32";
        long kvCache = 2L * generator.layers() * generationRows * generator.kvHeads() * t * generator.headDim();
        lines.add(new Line(
                "sampling",
                generationRows + " rows: prefill of " + promptTokens + " tokens (one layer at a time) + KV cache of "
                        + t + " (x2 at concat); " + computedIn,
                g.prefillBytes(generationRows, promptTokens, frozen) + w * 2 * kvCache,
                true));
        // the reference's forward (one layer and one head chunk at a time, no autograd) is never the larger
        if (dpoPairs > 0 && checkpointHead > 0) {
            lines.add(new Line(
                    "DPO activations",
                    "activation checkpointing: " + dpoPairs + " rows x " + t + " tokens x 2 (chosen + rejected), "
                            + "layer inputs kept, one layer recomputed at a time, LM head in chunks; " + computedIn,
                    g.checkpointedBytes(2, dpoPairs, t, frozen, checkpointHead),
                    true));
        } else if (dpoPairs > 0) {
            lines.add(new Line(
                    "DPO activations",
                    "2 forwards of " + dpoPairs + " rows x " + t + " tokens (policy, chosen + rejected; reference freed"
                            + " before); " + computedIn,
                    2 * g.activationBytes(dpoPairs, t, frozen),
                    true));
        }
        addTraining(lines, "classifier", classifier, classifierBatch, classifierTokens, true, checkpointHead > 0);
        return new MemoryPlan("loop: generator " + g.describe() + "; classifier " + classifier.describe(), lines);
    }

    /** The table: one line per component, the total, and what is available. */
    public void print(PrintStream out, Available available) {
        out.printf("== memory estimate: %s ==%n", title);
        for (Line l : lines) {
            out.printf(
                    Locale.ROOT,
                    "  %-32s %10s  %s%s%n",
                    l.component(),
                    human(l.bytes()),
                    l.detail(),
                    l.phase() ? " (phase)" : "");
        }
        out.printf(
                Locale.ROOT,
                "  %-32s %10s  of %s available (%s)%n",
                lines.stream().anyMatch(Line::phase) ? "total (held + largest phase)" : "total",
                human(total()),
                human(available.bytes()),
                available.source());
    }

    /** @throws DoesNotFit when the total exceeds {@code available} */
    public void check(Available available) {
        if (total() > available.bytes()) {
            throw new DoesNotFit(String.format(
                    Locale.ROOT,
                    "the run needs about %s but %s has %s",
                    human(total()),
                    available.source(),
                    human(available.bytes())));
        }
    }

    /**
     * The memory the run may use: {@value #AVAILABLE_PROPERTY} when set; else the default device's free memory on a
     * GPU; else, on the CPU, the machine's (or container's) physical memory less the Java heap's maximum, since the
     * heap and the native tensors share it.
     */
    public static Available available() {
        String override = System.getProperty(AVAILABLE_PROPERTY);
        if (override != null) {
            try {
                return new Available(Long.parseLong(override.strip()), "-D" + AVAILABLE_PROPERTY);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(
                        "-D" + AVAILABLE_PROPERTY + " must be a number of bytes but is '" + override + "'", e);
            }
        }
        Device device = Engine.getInstance().defaultDevice();
        if (device.isGpu()) {
            MemoryUsage u = CudaUtils.getGpuMemory(device);
            return new Available(u.getMax() - u.getCommitted(), device + " (free of " + human(u.getMax()) + ")");
        }
        OperatingSystemMXBean os = (OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        long heap = Runtime.getRuntime().maxMemory();
        return new Available(
                os.getTotalMemorySize() - heap,
                "host memory (" + human(os.getTotalMemorySize()) + " less the Java heap's " + human(heap) + ")");
    }

    /** Weights of {@code lora}'s adapters on {@code c}: r (in + out) per adapted projection of every layer. */
    public static long loraParameters(TransformerConfig c, LoraConfig lora) {
        long n = 0;
        for (Map.Entry<String, long[]> e : ParameterLayout.of(c, false, false).entrySet()) {
            String name = e.getKey();
            if (name.startsWith("model.layers.") && name.endsWith(".weight")) {
                String prefix = name.substring(0, name.length() - ".weight".length());
                if (lora.targets().contains(prefix.substring(prefix.lastIndexOf('.') + 1))) {
                    n += (long) lora.rank() * (e.getValue()[0] + e.getValue()[1]);
                }
            }
        }
        return n;
    }

    static long count(Collection<long[]> shapes) {
        return shapes.stream().mapToLong(Tensor::numel).sum();
    }

    /** "type layers x width, N params": how {@link Net#describe} names a model. */
    private static String netDescription(String modelType, int layers, int hiddenSize, long parameters) {
        return String.format(Locale.ROOT, "%s %d x %d, %s params", modelType, layers, hiddenSize, millions(parameters));
    }

    static String millions(long n) {
        return String.format(Locale.ROOT, "%.1fM", n / 1e6);
    }

    public static String human(long bytes) {
        if (bytes >= 1L << 30) {
            return String.format(Locale.ROOT, "%.2f GiB", bytes / (double) (1L << 30));
        }
        return String.format(Locale.ROOT, "%.1f MiB", bytes / (double) (1L << 20));
    }
}
