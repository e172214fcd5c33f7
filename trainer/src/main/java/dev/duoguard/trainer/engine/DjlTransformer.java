package dev.duoguard.trainer.engine;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
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
import java.util.function.Predicate;

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

    /** A low-rank adapter on one projection: W x + (alpha / r) B A x, with A (r, in) and B (out, r). */
    private record Lora(NDArray a, NDArray b, float scale) {}

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
     * projections they adapt (W + (alpha / r) B A), so the result is a plain checkpoint.
     */
    @Override
    public Map<String, Tensor> toTensors() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        params.forEach((name, a) -> {
            NDArray w = a;
            if (name.endsWith(".weight")
                    && adapters.containsKey(name.substring(0, name.length() - ".weight".length()))) {
                Lora l = adapters.get(name.substring(0, name.length() - ".weight".length()));
                w = a.add(l.b().matMul(l.a()).mul(l.scale()));
            }
            out.put(name, new Tensor(name, w.getShape().getShape(), w.toFloatArray()));
        });
        return out;
    }

    /** The adapters' own tensors ({@code <projection>.lora_A.weight}, {@code .lora_B.weight}), for saving them alone. */
    public Map<String, Tensor> loraTensors() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        adapters.forEach((prefix, l) -> {
            out.put(
                    prefix + ".lora_A.weight",
                    new Tensor(prefix + ".lora_A.weight", l.a().getShape().getShape(), l.a().toFloatArray()));
            out.put(
                    prefix + ".lora_B.weight",
                    new Tensor(prefix + ".lora_B.weight", l.b().getShape().getShape(), l.b().toFloatArray()));
        });
        return out;
    }

    /**
     * Adds LoRA adapters of rank {@code r} to the named projections of every layer (e.g. {@code q_proj},
     * {@code v_proj}, {@code gate_proj}), freezes everything else and returns the trainable arrays. A starts
     * normal(0, 1/r), B at zero, so the model is unchanged until B is trained (as in PEFT).
     */
    public List<NDArray> addLora(Set<String> projections, int r, float alpha, long seed) {
        if (r < 1) {
            throw new IllegalArgumentException("LoRA rank must be at least 1 but is " + r);
        }
        Random rnd = new Random(seed);
        List<NDArray> trainable = new ArrayList<>();
        for (String name : params.keySet()) {
            String prefix = name.endsWith(".weight") ? name.substring(0, name.length() - ".weight".length()) : null;
            if (prefix == null
                    || !prefix.startsWith("model.layers.")
                    || !projections.contains(prefix.substring(prefix.lastIndexOf('.') + 1))) {
                continue;
            }
            long[] shape = params.get(name).getShape().getShape(); // (out, in)
            float[] a = new float[(int) (r * shape[1])];
            for (int i = 0; i < a.length; i++) {
                a[i] = (float) (rnd.nextGaussian() / r);
            }
            NDArray aArr = manager.create(a, new Shape(r, shape[1]));
            NDArray bArr = manager.zeros(new Shape(shape[0], r));
            adapters.put(prefix, new Lora(aArr, bArr, alpha / r));
            trainable.add(aArr);
            trainable.add(bArr);
        }
        if (trainable.isEmpty()) {
            throw new IllegalArgumentException("no projection named " + projections + " in this model");
        }
        trainable.forEach(t -> t.setRequiresGradient(true));
        Gradients.zero(trainable); // gradients left by an earlier backward pass would be added to the next one
        return trainable;
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
        long b = ids.getShape().get(0);
        int t = (int) ids.getShape().get(1);
        int d = c.hiddenSize();
        int dh = c.headDim();
        NDManager m = ids.getManager();
        int past = cache == null ? 0 : cache.length();
        NDArray mask = past == 0 ? newMask : cache.mask.concat(newMask, 1); // (B, Tall)
        int all = past + t;
        NDArray x = p("model.embed_tokens.weight").get(ids.flatten()).reshape(b, t, d); // (B, T, D)
        NDArray positions = mask.cumSum(1).sub(1).maximum(0).get(":, " + past + ":"); // (B, T) real tokens only
        NDArray cos = ropeCos.get(positions.flatten()).reshape(b, t, 1, dh); // (B, T, 1, Dh)
        NDArray sin = ropeSin.get(positions.flatten()).reshape(b, t, 1, dh);
        NDArray queryPos = m.arange(past, all, 1, DataType.INT64);
        NDArray keyPos = m.arange(0, all, 1, DataType.INT64);
        NDArray causal = keyPos.expandDims(0).lte(queryPos.expandDims(1)); // (T, Tall): key <= query
        NDArray keyOk = mask.eq(1).reshape(b, 1, 1, all); // (B, 1, 1, Tall)
        NDArray bias =
                causal.logicalAnd(keyOk).toType(DataType.FLOAT32, false).sub(1).mul(1e9f); // (B, 1, T, Tall): 0 or -1e9
        for (int i = 0; i < c.layers(); i++) {
            x = layer(i, x, cos, sin, bias, b, t, cache);
        }
        if (cache != null) {
            cache.mask = mask;
        }
        return rmsNorm(x, p("model.norm.weight"));
    }

    /** Classification logits (B, L) from the hidden state of each row's last real token. */
    public NDArray classify(NDArray ids, NDArray mask) {
        NDArray h = hidden(ids, mask); // (B, T, D)
        long b = ids.getShape().get(0);
        int t = (int) ids.getShape().get(1);
        NDArray last =
                ids.getManager().arange(0, t, 1, DataType.INT64).mul(mask).argMax(1); // (B)
        NDArray index = last.reshape(b, 1, 1).repeat(2, c.hiddenSize()); // (B, 1, D)
        NDArray hLast = h.gather(index, 1).reshape(b, c.hiddenSize()); // (B, D)
        return hLast.matMul(p("score.weight").transpose()); // (B, L)
    }

    /** Next-token logits (B, T, V); the LM head is the embedding when the config ties them. */
    public NDArray lmLogits(NDArray ids, NDArray mask) {
        return lmHead(hidden(ids, mask));
    }

    /** The LM head on final-norm hidden states (..., D) → (..., V). */
    public NDArray lmHead(NDArray hidden) {
        NDArray head = c.tieWordEmbeddings() ? p("model.embed_tokens.weight") : p("lm_head.weight");
        return hidden.matMul(head.transpose());
    }

    private NDArray layer(int i, NDArray x, NDArray cos, NDArray sin, NDArray bias, long b, int t, KvCache cache) {
        String l = "model.layers." + i + ".";
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
                .add(bias); // (B, H, T, Tall)
        NDArray ctx = scores.softmax(-1)
                .matMul(v) // (B, H, T, Dh)
                .transpose(0, 2, 1, 3)
                .reshape(b, t, (long) c.heads() * dh); // (B, T, H*Dh)
        x = x.add(linear(ctx, l + "self_attn.o_proj")); // residual
        NDArray h2 = rmsNorm(x, p(l + "post_attention_layernorm.weight")); // norm
        NDArray gate = linear(h2, l + "mlp.gate_proj");
        NDArray act = gate.mul(Activation.sigmoid(gate)).mul(linear(h2, l + "mlp.up_proj")); // SwiGLU (stable sigmoid)
        return x.add(linear(act, l + "mlp.down_proj")); // residual
    }

    /** Constants go in through {@link Scalars}: DJL's {@code pow(2)} frees the exponent the backward pass reads. */
    private NDArray rmsNorm(NDArray x, NDArray weight) {
        NDArray inv = Scalars.pow(
                Scalars.pow(x, 2)
                        .mean(new int[] {-1}, true)
                        .add((float) c.rmsNormEps())
                        .sqrt(),
                -1);
        return x.mul(inv).mul(weight);
    }

    private NDArray linear(NDArray x, String name) {
        NDArray y = x.matMul(p(name + ".weight").transpose());
        NDArray bias = params.get(name + ".bias");
        if (bias != null) {
            y = y.add(bias);
        }
        Lora l = adapters.get(name);
        if (l != null) {
            y = y.add(
                    Scalars.mul(x.matMul(l.a().transpose()).matMul(l.b().transpose()), l.scale())); // + (alpha/r) B A x
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
