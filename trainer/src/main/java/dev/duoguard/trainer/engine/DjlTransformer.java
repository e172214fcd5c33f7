package dev.duoguard.trainer.engine;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.norm.Dropout;
import ai.djl.pytorch.jni.JniUtils;
import dev.duoguard.trainer.hf.ParameterLayout;
import dev.duoguard.trainer.hf.Tensor;
import dev.duoguard.trainer.hf.TransformerConfig;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.BiFunction;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * A Qwen2/Llama-family decoder on DJL's PyTorch engine, with its parameters held by their Hugging Face names, so
 * checkpoints load and save one-to-one. Heads: sequence classification (bias-free {@code score} on the last real
 * token, as Hugging Face's Qwen2ForSequenceClassification) and the causal LM head (tied or separate).
 *
 * <p>The forward pass follows {@code ReferenceClassifier} step by step (the tests hold them together): positions
 * over real tokens, rotate-half RoPE, grouped-query causal attention with a padding mask, SwiGLU, RMSNorm.
 * Legend: B batch, T tokens, D hidden, H heads, Hkv KV heads, G = H/Hkv, Dh head dim, V vocab, L labels.
 */
public final class DjlTransformer implements SequenceClassifier {

    private final TransformerConfig c;
    private final NDManager manager;
    private final Map<String, NDArray> params;
    private final Map<String, Lora> adapters =
            new LinkedHashMap<>(); // by projection prefix, e.g. model.layers.0.self_attn.q_proj

    private LoraConfig lora; // null: no adapters
    private boolean adaptersOn = true;
    private boolean training;
    /** Seeds of the dropout masks of a {@link Checkpoint}'s layers (its two passes draw the same ones). */
    private final Random dropoutSeeds = new Random(0x5eedL);
    /** While set, layer i seeds PyTorch's generator with {@code layerSeeds[i]} before it draws dropout masks. */
    private long[] layerSeeds;

    /** A low-rank adapter on one projection: A (r, in), B (out, r); the scale and dropout are {@link #lora}'s. */
    private record Lora(NDArray a, NDArray b) {}

    private final NDArray ropeCos; // (P, Dh)
    private final NDArray ropeSin; // (P, Dh)

    private DjlTransformer(TransformerConfig c, NDManager manager, Map<String, NDArray> params) {
        this.c = c;
        this.manager = manager;
        this.params = params;
        int positions = c.tabulatedPositions();
        float[][] tables = c.ropeTables(positions);
        this.ropeCos = manager.create(tables[0], new Shape(positions, c.headDim()));
        this.ropeSin = manager.create(tables[1], new Shape(positions, c.headDim()));
    }

    /** Loads Hugging Face tensors (names and shapes checked against the config). The model owns a child of {@code parent}. */
    public static DjlTransformer fromTensors(
            TransformerConfig c, Map<String, Tensor> tensors, NDManager parent, boolean classifier, boolean lmHead) {
        NDManager m = parent.newSubManager();
        Map<String, NDArray> p = new LinkedHashMap<>();
        for (Map.Entry<String, long[]> e :
                ParameterLayout.of(c, classifier, lmHead).entrySet()) {
            Tensor t = tensors.get(e.getKey());
            if (t == null) {
                m.close();
                throw new IllegalArgumentException("checkpoint is missing tensor " + e.getKey() + " (expected shape "
                        + Arrays.toString(e.getValue()) + ")");
            }
            t.requireShape(e.getValue());
            p.put(e.getKey(), m.create(t.data(), new Shape(e.getValue())));
        }
        return new DjlTransformer(c, m, p);
    }

    /** Fresh weights: normal(0, 0.02) like Hugging Face's initializer, norms at 1; seeded. */
    public static DjlTransformer random(
            TransformerConfig c, NDManager parent, boolean classifier, boolean lmHead, long seed) {
        Random r = new Random(seed);
        Map<String, Tensor> t = new LinkedHashMap<>();
        for (Map.Entry<String, long[]> e :
                ParameterLayout.of(c, classifier, lmHead).entrySet()) {
            float[] v = new float[(int) Tensor.numel(e.getValue())];
            boolean norm = e.getKey().endsWith("layernorm.weight") || e.getKey().equals("model.norm.weight");
            boolean bias = e.getKey().endsWith(".bias");
            for (int i = 0; i < v.length; i++) {
                v[i] = norm ? 1f : bias ? 0f : (float) (r.nextGaussian() * 0.02);
            }
            t.put(e.getKey(), new Tensor(e.getKey(), e.getValue(), v));
        }
        return fromTensors(c, t, parent, classifier, lmHead);
    }

    /**
     * The weights as Hugging Face tensors, for safetensors and ONNX export; LoRA adapters are merged into the
     * projections they adapt (W + (alpha / r) B A), so the result is a plain checkpoint. The model's own weights
     * stay as they are.
     */
    @Override
    public Map<String, Tensor> toTensors() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        params.forEach((name, a) -> {
            Lora l = name.endsWith(".weight")
                    ? adapters.get(name.substring(0, name.length() - ".weight".length()))
                    : null;
            if (l == null) {
                out.put(name, new Tensor(name, a.getShape().getShape(), floats(a)));
                return;
            }
            // three weight-sized temporaries per adapted projection: closed here, not left on the model's manager
            try (NDArray ba = l.b().matMul(l.a());
                    NDArray scaled = ba.mul(lora.scale());
                    NDArray wide = a.toType(DataType.FLOAT32, true);
                    NDArray merged = wide.add(scaled)) {
                out.put(name, new Tensor(name, merged.getShape().getShape(), merged.toFloatArray()));
            }
        });
        return out;
    }

    /** The adapters' own tensors ({@code <projection>.lora_A.weight}, {@code .lora_B.weight}), for saving them alone. */
    public Map<String, Tensor> loraTensors() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        loraParameters()
                .forEach(
                        (name, a) -> out.put(name, new Tensor(name, a.getShape().getShape(), a.toFloatArray())));
        return out;
    }

    /** The adapters' arrays by the same names as {@link #loraTensors()}; empty without adapters. */
    public Map<String, NDArray> loraParameters() {
        Map<String, NDArray> out = new LinkedHashMap<>();
        adapters.forEach((prefix, l) -> {
            out.put(prefix + ".lora_A.weight", l.a());
            out.put(prefix + ".lora_B.weight", l.b());
        });
        return out;
    }

    /** The adapters' configuration, or null when the model has none. */
    public LoraConfig loraConfig() {
        return lora;
    }

    /**
     * Adds fresh LoRA adapters to {@code config}'s projections of every layer, freezes every base weight (no
     * gradient, so no optimizer can move it) and returns the adapters' arrays, the only trainable ones. A starts
     * normal(0, 1/r) (PEFT's "gaussian" init), B at zero, so the model is unchanged until B is trained.
     */
    public List<NDArray> addLora(LoraConfig config, long seed) {
        Random rnd = new Random(seed);
        return attach(config, (prefix, shape) -> {
            float[] a = new float[(int) (config.rank() * shape[1])];
            for (int i = 0; i < a.length; i++) {
                a[i] = (float) (rnd.nextGaussian() / config.rank());
            }
            return new Lora(
                    manager.create(a, new Shape(config.rank(), shape[1])),
                    manager.zeros(new Shape(shape[0], config.rank())));
        });
    }

    /**
     * Adds adapters with the given weights (names as {@link #loraTensors()}), freezing the base as {@link #addLora}.
     * Checked first, so a bad set of tensors leaves the model as it was.
     *
     * @throws IllegalArgumentException when a tensor is missing, has the wrong shape, or adapts nothing here
     */
    public List<NDArray> loadLora(LoraConfig config, Map<String, Tensor> weights) {
        Set<String> extra = new TreeSet<>(weights.keySet());
        params.forEach((name, w) -> {
            String prefix = adaptedPrefix(name, config);
            if (prefix != null) {
                long[] shape = w.getShape().getShape(); // (out, in)
                loraTensor(weights, prefix + ".lora_A.weight", config.rank(), shape[1]);
                loraTensor(weights, prefix + ".lora_B.weight", shape[0], config.rank());
                extra.remove(prefix + ".lora_A.weight");
                extra.remove(prefix + ".lora_B.weight");
            }
        });
        if (!extra.isEmpty()) {
            throw new IllegalArgumentException(
                    "adapter tensors " + extra + " adapt nothing in this model (targets " + config.targets() + ")");
        }
        return attach(config, (prefix, shape) -> {
            Tensor a = weights.get(prefix + ".lora_A.weight");
            Tensor b = weights.get(prefix + ".lora_B.weight");
            return new Lora(
                    manager.create(a.data(), new Shape(a.shape())), manager.create(b.data(), new Shape(b.shape())));
        });
    }

    private static void loraTensor(Map<String, Tensor> weights, String name, long rows, long cols) {
        Tensor t = weights.get(name);
        if (t == null) {
            throw new IllegalArgumentException("the adapters have no tensor " + name);
        }
        t.requireShape(rows, cols);
    }

    /** The projection prefix of {@code name} when {@code config} adapts it, else null. */
    private static String adaptedPrefix(String name, LoraConfig config) {
        if (!name.startsWith("model.layers.") || !name.endsWith(".weight")) {
            return null;
        }
        String prefix = name.substring(0, name.length() - ".weight".length());
        return config.targets().contains(prefix.substring(prefix.lastIndexOf('.') + 1)) ? prefix : null;
    }

    private List<NDArray> attach(LoraConfig config, BiFunction<String, long[], Lora> create) {
        if (lora != null) {
            throw new IllegalStateException("the model already has LoRA adapters " + lora);
        }
        for (Map.Entry<String, NDArray> e : params.entrySet()) {
            String prefix = adaptedPrefix(e.getKey(), config);
            if (prefix != null) {
                adapters.put(
                        prefix, create.apply(prefix, e.getValue().getShape().getShape())); // (out, in)
            }
        }
        if (adapters.isEmpty()) {
            throw new IllegalArgumentException("no projection named " + config.targets() + " in this model");
        }
        lora = config;
        params.values().forEach(p -> p.setRequiresGradient(false));
        List<NDArray> trainable = new ArrayList<>(loraParameters().values());
        trainable.forEach(t -> t.setRequiresGradient(true));
        Gradients.zero(trainable); // gradients left by an earlier backward pass would be added to the next one
        return trainable;
    }

    /**
     * Runs {@code forward} with the adapters switched off: the base model, the same weights without a copy (DPO's
     * reference). Without adapters it is just {@code forward}.
     */
    public <T> T withAdaptersOff(Supplier<T> forward) {
        boolean was = adaptersOn;
        adaptersOn = false;
        try {
            return forward.get();
        } finally {
            adaptersOn = was;
        }
    }

    /** The lowest layer with a weight or an active adapter that takes gradients; the layer count when none has. */
    private int lowestTrainingLayer() {
        for (int i = 0; i < c.layers(); i++) {
            String prefix = "model.layers." + i + ".";
            boolean weights = params.entrySet().stream()
                    .anyMatch(e -> e.getKey().startsWith(prefix) && e.getValue().hasGradient());
            boolean adapted = adaptersOn
                    && adapters.entrySet().stream()
                            .anyMatch(e -> e.getKey().startsWith(prefix)
                                    && e.getValue().a().hasGradient());
            if (weights || adapted) {
                return i;
            }
        }
        return c.layers();
    }

    /** Seeds the generator of the per-layer dropout seeds of {@link #checkpoint} passes (a run's own seed). */
    public void seedCheckpointDropout(long seed) {
        dropoutSeeds.setSeed(seed);
    }

    /**
     * Runs {@code forward} with layer i's dropout masks drawn right after seeding PyTorch's generator with
     * {@code seeds[i]}, as a {@link Checkpoint}'s passes do (null: the generator as it is). A plain forward run this
     * way with a checkpoint's {@link Checkpoint#seeds} draws the checkpoint's masks.
     */
    public <T> T withLayerSeeds(long[] seeds, Supplier<T> forward) {
        long[] was = layerSeeds;
        layerSeeds = seeds;
        try {
            return forward.get();
        } finally {
            layerSeeds = was;
        }
    }

    /** Runs {@code forward} in training mode: the adapters' dropout is active (elsewhere it is the identity). */
    public <T> T training(Supplier<T> forward) {
        boolean was = training;
        training = true;
        try {
            return forward.get();
        } finally {
            training = was;
        }
    }

    /** Marks the parameters whose Hugging Face name passes {@code trainable} for gradients; the rest stay frozen. */
    public List<NDArray> trainable(Predicate<String> trainable) {
        List<NDArray> out = new ArrayList<>();
        params.forEach((name, a) -> {
            if (trainable.test(name)) {
                a.setRequiresGradient(true);
                out.add(a);
            }
        });
        Gradients.zero(out); // gradients left by an earlier backward pass would be added to the next one
        return out;
    }

    /**
     * Holds every weight in {@code type} ({@code FLOAT32} or {@code FLOAT16}: half the memory) and computes the
     * forward pass in it; logits still come back fp32, and LoRA adapters stay in their own type. Not
     * {@code BFLOAT16}: DJL 0.36's PyTorch binding aborts the whole JVM ("terminate called without an active
     * exception") on the first conversion to it, on the CPU at least, so it is refused here instead. For frozen weights: generation, the judge, the base under LoRA adapters. AdamW updates fp32
     * weights only (an in-place update cannot narrow its fp32 result), so a model trained in full stays fp32. Call it
     * before {@link #addLora} or {@link #trainable}: the arrays they returned are replaced.
     */
    public void cast(DataType type) {
        if (type != DataType.FLOAT32 && type != DataType.FLOAT16) {
            throw new IllegalArgumentException("weights can be float32 or float16, not " + type
                    + (type == DataType.BFLOAT16 ? " (DJL 0.36 aborts the JVM on bfloat16 conversions)" : ""));
        }
        params.replaceAll((name, a) -> {
            if (a.getDataType() == type) {
                return a;
            }
            NDArray c = a.toType(type, true);
            a.close();
            return c;
        });
    }

    /** The type the weights are held and computed in (see {@link #cast}). */
    public DataType dataType() {
        return p("model.embed_tokens.weight").getDataType();
    }

    public Map<String, NDArray> parameters() {
        return Collections.unmodifiableMap(params);
    }

    public Collection<NDArray> parameterArrays() {
        return params.values();
    }

    public TransformerConfig config() {
        return c;
    }

    @Override
    public long padTokenId() {
        return Math.max(0, c.padTokenId());
    }

    /** Final-norm hidden states (B, T, D) for int64 ids and mask (B, T). */
    public NDArray hidden(NDArray ids, NDArray mask) {
        return forward(ids, mask, null);
    }

    /**
     * Final-norm hidden states (B, T, D) with autograd off and a forward's memory: each layer's temporaries and its
     * input are freed once its output exists, so one layer's are alive at a time ({@link #hidden} keeps them all,
     * as a backward pass needs). For log-probabilities nothing trains on: DPO's reference.
     *
     * @throws IllegalStateException when autograd is recording (the freed arrays would be in its graph)
     */
    public NDArray hiddenWithoutGrad(NDArray ids, NDArray mask) {
        if (JniUtils.isGradMode()) {
            throw new IllegalStateException("hiddenWithoutGrad frees what autograd would need: turn it off first");
        }
        Inputs in = inputs(ids, mask, 0);
        NDArray x = embed(ids);
        for (int i = 0; i < c.layers(); i++) {
            NDArray input = x;
            int index = i;
            x = Scopes.keepOnly(() -> layer(index, input, in, null));
            input.close();
        }
        return rmsNorm(x, p("model.norm.weight"));
    }

    /**
     * Key/value cache for generation: per layer, keys (after RoPE) and values (B, Hkv, Tpast, Dh), plus the mask of
     * every position seen so far (B, Tpast). Owned by the caller's manager.
     */
    public static final class KvCache {
        final NDArray[] keys;
        final NDArray[] values;
        NDArray mask;

        KvCache(int layers) {
            keys = new NDArray[layers];
            values = new NDArray[layers];
        }

        public int length() {
            return mask == null ? 0 : (int) mask.getShape().get(1);
        }

        /** Every array the cache holds now. */
        public List<NDArray> arrays() {
            List<NDArray> out = new ArrayList<>();
            for (int i = 0; i < keys.length; i++) {
                if (keys[i] != null) {
                    out.add(keys[i]);
                    out.add(values[i]);
                }
            }
            if (mask != null) {
                out.add(mask);
            }
            return out;
        }
    }

    public KvCache newCache() {
        return new KvCache(c.layers());
    }

    /**
     * Runs {@code ids} (B, Tnew) after what {@code cache} holds (null: no cache), appending their keys and values;
     * {@code newMask} (B, Tnew) marks real tokens. Returns final-norm hidden states (B, Tnew, D). With a cache, a
     * step costs attention over the cached length, not a new pass over the whole sequence.
     */
    public NDArray forward(NDArray ids, NDArray newMask, KvCache cache) {
        int past = cache == null ? 0 : cache.length();
        NDArray mask = past == 0 ? newMask : cache.mask.concat(newMask, 1); // (B, Tall)
        Inputs in = inputs(ids, mask, past);
        NDArray x = embed(ids);
        for (int i = 0; i < c.layers(); i++) {
            x = cache == null ? layer(i, x, in, null) : generationLayer(i, x, in, cache);
        }
        if (cache != null) {
            cache.mask = mask;
        }
        return rmsNorm(x, p("model.norm.weight"));
    }

    /**
     * What every layer of a forward reads besides its input, none of it a function of a weight: RoPE's cos and sin
     * at each new token's position (B, T, 1, Dh) and the attention bias (B, 1, T, Tall) of the causal and padding
     * masks.
     */
    private record Inputs(NDArray cos, NDArray sin, NDArray bias, long b, int t) {}

    /** {@link Inputs} for {@code ids} (B, T) after {@code past} cached positions; {@code mask} (B, past + T). */
    private Inputs inputs(NDArray ids, NDArray mask, int past) {
        long b = ids.getShape().get(0);
        int t = (int) ids.getShape().get(1);
        int dh = c.headDim();
        NDManager m = ids.getManager();
        int all = past + t;
        NDArray positions = mask.cumSum(1).sub(1).maximum(0).get(":, " + past + ":"); // (B, T) real tokens only
        DataType type = dataType();
        NDArray cos = ropeCos.get(positions.flatten()).reshape(b, t, 1, dh).toType(type, false); // (B, T, 1, Dh)
        NDArray sin = ropeSin.get(positions.flatten()).reshape(b, t, 1, dh).toType(type, false);
        NDArray queryPos = m.arange(past, all, 1, DataType.INT64);
        NDArray keyPos = m.arange(0, all, 1, DataType.INT64);
        NDArray causal = keyPos.expandDims(0).lte(queryPos.expandDims(1)); // (T, Tall): key <= query
        NDArray keyOk = mask.eq(1).reshape(b, 1, 1, all); // (B, 1, 1, Tall)
        // (B, 1, T, Tall): 0 or -1e9, made in fp32; fp16 cannot hold 1e9, so there -60000, still exp() = 0 beside a
        // score
        float masked = type == DataType.FLOAT16 ? 6e4f : 1e9f;
        NDArray bias = Scopes.keepOnly(() -> causal.logicalAnd(keyOk) // (B, 1, T, Tall) temporaries freed
                .toType(DataType.FLOAT32, false)
                .sub(1)
                .mul(masked)
                .toType(type, false));
        return new Inputs(cos, sin, bias, b, t);
    }

    /** Token embeddings (B, T, D) of {@code ids} (B, T). */
    private NDArray embed(NDArray ids) {
        return p("model.embed_tokens.weight")
                .get(ids.flatten())
                .reshape(ids.getShape().get(0), ids.getShape().get(1), c.hiddenSize());
    }

    /** Classification logits (B, L) from the hidden state of each row's last real token. */
    public NDArray classify(NDArray ids, NDArray mask) {
        return classify(hidden(ids, mask), ids, mask);
    }

    /** Classification logits (B, L) from final-norm hidden states (B, T, D) of the rows {@code ids} (B, T). */
    public NDArray classify(NDArray h, NDArray ids, NDArray mask) {
        long b = ids.getShape().get(0);
        int t = (int) ids.getShape().get(1);
        NDArray last =
                ids.getManager().arange(0, t, 1, DataType.INT64).mul(mask).argMax(1); // (B)
        NDArray index = last.reshape(b, 1, 1).repeat(2, c.hiddenSize()); // (B, 1, D)
        NDArray hLast = h.gather(index, 1).reshape(b, c.hiddenSize()); // (B, D)
        return Gradients.cast(hLast.matMul(p("score.weight").transpose()), DataType.FLOAT32); // (B, L)
    }

    /** Next-token logits (B, T, V); the LM head is the embedding when the config ties them. */
    public NDArray lmLogits(NDArray ids, NDArray mask) {
        return lmHead(hidden(ids, mask));
    }

    /** The LM head on final-norm hidden states (..., D) → (..., V). */
    public NDArray lmHead(NDArray hidden) {
        NDArray head = c.tieWordEmbeddings() ? p("model.embed_tokens.weight") : p("lm_head.weight");
        return Gradients.cast(hidden.matMul(head.transpose()), DataType.FLOAT32); // the log-softmax over V in fp32
    }

    private NDArray layer(int i, NDArray x, Inputs in, KvCache cache) {
        if (layerSeeds != null) {
            JniUtils.setSeed(layerSeeds[i]);
        }
        String l = "model.layers." + i + ".";
        long b = in.b();
        int t = in.t();
        NDArray cos = in.cos();
        NDArray sin = in.sin();
        int dh = c.headDim();
        NDArray h = rmsNorm(x, p(l + "input_layernorm.weight")); // norm
        NDArray q = linear(h, l + "self_attn.q_proj").reshape(b, t, c.heads(), dh); // (B, T, H, Dh)
        NDArray k = linear(h, l + "self_attn.k_proj").reshape(b, t, c.kvHeads(), dh); // (B, T, Hkv, Dh)
        NDArray v = linear(h, l + "self_attn.v_proj").reshape(b, t, c.kvHeads(), dh);
        q = rope(q, cos, sin).transpose(0, 2, 1, 3); // (B, H, T, Dh)
        k = rope(k, cos, sin).transpose(0, 2, 1, 3); // (B, Hkv, T, Dh)
        v = v.transpose(0, 2, 1, 3);
        if (cache != null) { // append to the cache
            if (cache.keys[i] != null) {
                k = cache.keys[i].concat(k, 2); // (B, Hkv, Tall, Dh)
                v = cache.values[i].concat(v, 2);
            }
            cache.keys[i] = k;
            cache.values[i] = v;
        }
        long all = k.getShape().get(2);
        if (c.kvGroups() > 1) { // GQA: repeat_kv
            k = k.expandDims(2).repeat(2, c.kvGroups()).reshape(b, c.heads(), all, dh);
            v = v.expandDims(2).repeat(2, c.kvGroups()).reshape(b, c.heads(), all, dh);
        }
        NDArray scores = Scalars.mul(q.matMul(k.transpose(0, 1, 3, 2)), 1 / Math.sqrt(dh))
                .add(in.bias()); // (B, H, T, Tall)
        NDArray ctx = Gradients.softmaxInFp32(scores) // as Hugging Face's eager attention does in fp16
                .matMul(v) // (B, H, T, Dh)
                .transpose(0, 2, 1, 3)
                .reshape(b, t, (long) c.heads() * dh); // (B, T, H*Dh)
        x = x.add(linear(ctx, l + "self_attn.o_proj")); // residual
        NDArray h2 = rmsNorm(x, p(l + "post_attention_layernorm.weight")); // norm
        NDArray gate = linear(h2, l + "mlp.gate_proj");
        NDArray act = gate.mul(Activation.sigmoid(gate)).mul(linear(h2, l + "mlp.up_proj")); // SwiGLU (stable sigmoid)
        return x.add(linear(act, l + "mlp.down_proj")); // residual
    }

    /**
     * A layer of generation (a forward with a cache): no gradient is taken and nothing reads the layer's temporaries
     * once its output exists, so they are freed here, in a scope of the layer's own, instead of when the caller's
     * scope closes; a prefill of B x T would otherwise hold every layer's four (B, H, T, T) attention arrays at once.
     * The layer's input (the embedding or the previous layer's output, made by this forward) is closed too. The
     * output and the layer's new cache entries are handed to the caller's scope.
     */
    @SuppressWarnings("try") // NDScope: arrays made inside are registered with it implicitly, never named
    private NDArray generationLayer(int i, NDArray x, Inputs in, KvCache cache) {
        NDArray out;
        try (NDScope scope = new NDScope()) {
            out = layer(i, x, in, cache);
            List<NDArray> kept = List.of(out, cache.keys[i], cache.values[i]);
            kept.forEach(NDScope::unregister);
        }
        NDScope.register(out);
        NDScope.register(cache.keys[i]);
        NDScope.register(cache.values[i]);
        x.close();
        return out;
    }

    /**
     * A forward pass with activation checkpointing, for training (see docs/training.md, "Activation
     * checkpointing"). The layers run without autograd and only each layer's input is kept: L arrays of (B, T, D)
     * instead of every layer's attention scores, MLP activations and autograd buffers. {@link Checkpoint#backward}
     * then recomputes one layer at a time, last to first, with autograd, and carries the gradient through it (a
     * vector-Jacobian product: PyTorch's backward with a gradient argument). Activation memory is the L inputs plus
     * one layer's full set, for a second forward through the layers (about a third more compute per step). DJL 0.36
     * has no recompute hook in its autograd ({@code torch.utils.checkpoint} is Python), so the recompute is driven
     * from here.
     *
     * <p>Use, inside a gradient collector: the loss from {@link Checkpoint#hidden} (with autograd), its backward (which
     * leaves a gradient on the top layer's output), then {@link Checkpoint#backward}. With LoRA dropout active each
     * layer seeds PyTorch's generator with a seed of its own before it draws its masks, in both passes, so the
     * recomputed layer is the one that ran (as {@code torch.utils.checkpoint} restores the RNG state); the generator's
     * state after a step is therefore a function of these seeds ({@link #seedCheckpointDropout}). PyTorch's generator
     * is the process's: nothing else may draw from it while a checkpointed step runs (one training thread per JVM,
     * as the trainer runs).
     */
    public Checkpoint checkpoint(NDArray ids, NDArray mask) {
        return new Checkpoint(ids, mask);
    }

    /** See {@link #checkpoint}. Its arrays belong to the caller's scope; {@link #backward} frees the layer inputs. */
    public final class Checkpoint {
        private final NDArray ids;
        private final Inputs in;
        private final NDArray[] inputs; // layer i's input, without a graph
        private final NDArray top; // the last layer's output: a leaf that collects the loss's gradient
        private final long[] seeds; // null: no dropout in this pass

        private Checkpoint(NDArray ids, NDArray mask) {
            this.ids = ids;
            this.inputs = new NDArray[c.layers()];
            this.seeds = training && lora != null && adaptersOn && lora.dropout() > 0
                    ? dropoutSeeds.longs(c.layers()).toArray()
                    : null;
            in = Gradients.noGrad(() -> inputs(ids, mask, 0));
            top = Gradients.noGrad(() -> {
                NDArray x = embed(ids);
                for (int i = 0; i < c.layers(); i++) {
                    inputs[i] = x;
                    NDArray input = x;
                    int index = i;
                    x = Scopes.keepOnly(() -> layer(index, input));
                }
                return x;
            });
            top.setRequiresGradient(true);
        }

        /** Layer {@code i} of this pass, with the dropout masks it drew the first time. */
        private NDArray layer(int i, NDArray x) {
            return withLayerSeeds(seeds, () -> DjlTransformer.this.layer(i, x, in, null));
        }

        /** The seeds of this pass's dropout masks, layer by layer; null when no dropout is active. */
        public long[] seeds() {
            return seeds == null ? null : seeds.clone();
        }

        /** Rows in this pass. */
        public int rows() {
            return (int) in.b();
        }

        /**
         * Final-norm hidden states (to - from, T, D) of rows [from, to), with autograd when it is on: the gradient of
         * what is computed from them reaches the top layer's output.
         */
        public NDArray hidden(int from, int to) {
            return rmsNorm(top.get(from + ":" + to), p("model.norm.weight"));
        }

        /**
         * After the backward pass of a loss computed from {@link #hidden}: recomputes each layer with autograd, last
         * to first, and carries the top's gradient through it to the weights (and to the embedding when it trains);
         * frees each layer's input as it goes.
         */
        @SuppressWarnings("try") // NDScope: arrays made inside are registered with it implicitly, never named
        public void backward() {
            boolean embeddingTrains = p("model.embed_tokens.weight").hasGradient();
            // layers below the lowest one that trains need no recompute (and a layer without a graph could not
            // take a backward pass)
            int stop = embeddingTrains ? 0 : lowestTrainingLayer();
            for (int i = 0; i < Math.min(stop, c.layers()); i++) {
                inputs[i].close();
                inputs[i] = null;
            }
            NDArray g = top.getGradient();
            if (stop >= c.layers()) {
                g.close();
                return;
            }
            for (int i = c.layers() - 1; i >= stop; i--) {
                NDArray x = inputs[i];
                // the lowest recomputed layer's input needs a gradient only when the embedding it came from trains
                boolean inputGradient = i > stop || embeddingTrains;
                x.setRequiresGradient(inputGradient);
                NDArray upstream = g;
                int index = i;
                NDArray gx = Scopes.keepOnly(() -> {
                    Gradients.backward(layer(index, x), upstream);
                    return inputGradient ? x.getGradient() : null;
                });
                g.close();
                x.close();
                inputs[i] = null;
                if (gx == null) {
                    return;
                }
                g = gx;
            }
            try (NDScope scope = new NDScope()) { // trained in full: the lookup's gradient too
                Gradients.backward(embed(ids), g);
            }
            g.close();
        }
    }

    /** Constants go in through {@link Scalars}: DJL's {@code pow(2)} frees the exponent the backward pass reads. */
    private NDArray rmsNorm(NDArray x, NDArray weight) {
        // in fp32 whatever the weights' type, as Hugging Face's Qwen2/Llama RMSNorm: real checkpoints carry residual
        // values in the hundreds and more, and an fp16 square overflows from 256 on (inf, then a zero state)
        NDArray wide = Gradients.cast(x, DataType.FLOAT32);
        NDArray inv = Scalars.pow(
                Scalars.pow(wide, 2)
                        .mean(new int[] {-1}, true)
                        .add((float) c.rmsNormEps())
                        .sqrt(),
                -1);
        return Gradients.cast(wide.mul(inv), x.getDataType()).mul(weight);
    }

    private NDArray linear(NDArray x, String name) {
        NDArray y = x.matMul(p(name + ".weight").transpose());
        NDArray bias = params.get(name + ".bias");
        if (bias != null) {
            y = y.add(bias);
        }
        Lora l = adaptersOn ? adapters.get(name) : null;
        if (l != null) {
            NDArray in = training && lora.dropout() > 0
                    ? Dropout.dropout(x, lora.dropout(), true).singletonOrThrow()
                    : x;
            NDArray delta = Scalars.mul(
                    Gradients.cast(in, l.a().getDataType())
                            .matMul(l.a().transpose())
                            .matMul(l.b().transpose()),
                    lora.scale()); // (alpha/r) B A x, in the adapters' type
            y = y.add(Gradients.cast(delta, y.getDataType()));
        }
        return y;
    }

    /** x cos + rotate_half(x) sin on (B, T, heads, Dh), rotate_half(x) = [-x2, x1]. */
    private NDArray rope(NDArray x, NDArray cos, NDArray sin) {
        int half = c.headDim() / 2;
        NDArray x1 = x.get(":, :, :, :" + half);
        NDArray x2 = x.get(":, :, :, " + half + ":");
        NDArray rotated = x2.neg().concat(x1, 3);
        return x.mul(cos).add(rotated.mul(sin));
    }

    private static float[] floats(NDArray a) {
        if (a.getDataType() == DataType.FLOAT32) {
            return a.toFloatArray();
        }
        try (NDArray wide = a.toType(DataType.FLOAT32, true)) {
            return wide.toFloatArray();
        }
    }

    private NDArray p(String name) {
        NDArray a = params.get(name);
        if (a == null) {
            throw new IllegalStateException("model has no parameter " + name);
        }
        return a;
    }

    @Override
    public void close() {
        manager.close();
    }
}
