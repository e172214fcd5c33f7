package dev.duoguard.trainer.engine;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;
import dev.duoguard.trainer.hf.EncoderConfig;
import dev.duoguard.trainer.hf.Safetensors;
import dev.duoguard.trainer.hf.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Predicate;

/**
 * A BERT-family encoder (BERT, MiniLM, RoBERTa, XLM-RoBERTa) on DJL's PyTorch engine, its parameters held under
 * their Hugging Face names ({@link EncoderConfig#layout()}), so {@code BertForSequenceClassification} and
 * {@code XLMRobertaForSequenceClassification} checkpoints load and save one-to-one.
 *
 * <p>Forward pass as Hugging Face's (eval mode, no dropout): word + position + token-type-0 embeddings, LayerNorm;
 * per layer post-LN self-attention (additive padding mask) and an exact-GELU feed-forward. Rows are right padded,
 * so the real tokens of every row sit at positions {@code positionOffset() + index} — what both BERT's
 * {@code arange} and RoBERTa's mask cumsum give them. Heads per {@link EncoderConfig.Pooling}.
 * Legend: B batch, T tokens, D hidden, H heads, Dh head dim, L labels.
 */
public final class DjlEncoder implements SequenceClassifier {

    private static final float MASKED = -1e9f; // added to padded keys' scores: softmax gives them exactly 0

    private final EncoderConfig c;
    private final NDManager manager;
    private final Map<String, NDArray> params;

    private DjlEncoder(EncoderConfig c, NDManager manager, Map<String, NDArray> params) {
        this.c = c;
        this.manager = manager;
        this.params = params;
    }

    /**
     * Loads Hugging Face tensors, each checked against {@code c.layout()} (head included when {@code c} has
     * labels). Names are first normalised by {@link #hfNames}; tensors the layout does not use (an MLM head, a
     * RoBERTa pooler, {@code position_ids} buffers) are ignored, as Hugging Face does. The model owns a child of
     * {@code parent}.
     */
    public static DjlEncoder fromTensors(EncoderConfig c, Map<String, Tensor> tensors, NDManager parent) {
        Map<String, Tensor> named = hfNames(c, tensors);
        NDManager m = parent.newSubManager();
        Map<String, NDArray> p = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, long[]> e : c.layout().entrySet()) {
                Tensor t = named.get(e.getKey());
                if (t == null) {
                    throw new IllegalArgumentException("checkpoint is missing tensor " + e.getKey()
                            + " (expected shape " + Arrays.toString(e.getValue()) + ")" + hint(c, e.getKey(), named));
                }
                t.requireShape(e.getValue());
                p.put(e.getKey(), m.create(t.data(), new Shape(e.getValue())));
            }
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
        return new DjlEncoder(c, m, p);
    }

    private static String hint(EncoderConfig c, String missing, Map<String, Tensor> named) {
        if (c.headLayout().containsKey(missing)) {
            return "; the checkpoint has no classification head of this kind: add one with DjlEncoder.withNewHead";
        }
        List<String> some = named.keySet().stream().limit(3).toList();
        return "; the checkpoint's names start like " + some + " (model_type " + c.modelType() + " expects prefix '"
                + c.prefix() + ".')";
    }

    /**
     * Hugging Face names as {@link EncoderConfig#layout()} spells them. Accepts what Hugging Face's loader accepts:
     * a base-model checkpoint ({@code BertModel}, {@code XLMRobertaModel}) saved without the {@code bert.} /
     * {@code roberta.} prefix gets it, and old TensorFlow-converted LayerNorm names {@code gamma} / {@code beta}
     * become {@code weight} / {@code bias}. A name reachable both ways is refused.
     */
    public static Map<String, Tensor> hfNames(EncoderConfig c, Map<String, Tensor> tensors) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            String n = e.getKey();
            if (n.startsWith("embeddings.") || n.startsWith("encoder.") || n.startsWith("pooler.")) {
                n = c.prefix() + "." + n;
            }
            if (n.contains("LayerNorm.") && n.endsWith(".gamma")) {
                n = n.substring(0, n.length() - "gamma".length()) + "weight";
            } else if (n.contains("LayerNorm.") && n.endsWith(".beta")) {
                n = n.substring(0, n.length() - "beta".length()) + "bias";
            }
            Tensor t = e.getValue();
            if (out.put(n, new Tensor(n, t.shape(), t.data())) != null) {
                throw new IllegalArgumentException("checkpoint holds tensor " + n + " twice (as " + e.getKey()
                        + " and under another spelling); keep one");
            }
        }
        return out;
    }

    /**
     * {@code tensors} plus a classification head for {@code c} where the checkpoint lacks one: weights
     * normal(0, 0.02) as Hugging Face initialises them, biases zero, from {@code seed}. Head tensors already there
     * with the right shape are kept (a pretrained BERT pooler); an output layer with another label count is
     * replaced (fine-tuning a 2-way classifier into 12 categories); any other mis-shaped head tensor is refused.
     */
    public static Map<String, Tensor> withNewHead(EncoderConfig c, Map<String, Tensor> tensors, long seed) {
        if (c.numLabels() == 0) {
            throw new IllegalArgumentException(
                    "config has num_labels 0: give it a head first (EncoderConfig.withClassifierHead)");
        }
        Map<String, Tensor> out = new LinkedHashMap<>(hfNames(c, tensors));
        Random r = new Random(seed);
        for (Map.Entry<String, long[]> e : c.headLayout().entrySet()) {
            Tensor have = out.get(e.getKey());
            if (have != null && Arrays.equals(have.shape(), e.getValue())) {
                continue;
            }
            if (have != null && !e.getKey().startsWith(c.outputLayer() + ".")) {
                throw new IllegalArgumentException("checkpoint tensor " + e.getKey() + " has shape "
                        + Arrays.toString(have.shape()) + " but the head needs " + Arrays.toString(e.getValue()));
            }
            out.put(e.getKey(), init(e.getKey(), e.getValue(), r));
        }
        return out;
    }

    private static Tensor init(String name, long[] shape, Random r) {
        float[] v = new float[(int) Tensor.numel(shape)];
        boolean norm = name.contains("LayerNorm.") && name.endsWith(".weight");
        boolean bias = name.endsWith(".bias");
        for (int i = 0; i < v.length; i++) {
            v[i] = norm ? 1f : bias ? 0f : (float) (r.nextGaussian() * 0.02);
        }
        return new Tensor(name, shape, v);
    }

    /** Fresh weights for every tensor of {@code c.layout()} (normal(0, 0.02), LayerNorms at 1 and 0); seeded. */
    public static DjlEncoder random(EncoderConfig c, NDManager parent, long seed) {
        Random r = new Random(seed);
        Map<String, Tensor> t = new LinkedHashMap<>();
        c.layout().forEach((name, shape) -> t.put(name, init(name, shape, r)));
        return fromTensors(c, t, parent);
    }

    /** A checkpoint directory as its {@code config.json} describes it (head included when it has labels). */
    public static DjlEncoder load(Path dir, NDManager parent) throws IOException {
        EncoderConfig c = EncoderConfig.read(dir.resolve("config.json"));
        return fromTensors(c, Safetensors.readCheckpoint(dir), parent);
    }

    /**
     * A checkpoint directory ready to fine-tune with a {@code labels}-way head pooled by {@code pooling} (null: the
     * config's own, e.g. {@code duoguard_pooling}); missing or re-sized head tensors are initialised from {@code seed}.
     */
    public static DjlEncoder forFineTuning(
            Path dir, int labels, EncoderConfig.Pooling pooling, NDManager parent, long seed) throws IOException {
        EncoderConfig base = EncoderConfig.read(dir.resolve("config.json"));
        EncoderConfig c = base.withClassifierHead(labels, pooling != null ? pooling : base.pooling());
        return fromTensors(c, withNewHead(c, Safetensors.readCheckpoint(dir), seed), parent);
    }

    /**
     * Trains the classification head and the top {@code k} layers; the embeddings and the bottom
     * {@code layers - k} layers stay frozen. {@code k = 0}: head only; {@code k = layers}: all but the embeddings.
     */
    public static Predicate<String> topLayers(EncoderConfig c, int k) {
        if (k < 0 || k > c.layers()) {
            throw new IllegalArgumentException("can train the top 0.." + c.layers() + " layers, not " + k);
        }
        String layerPrefix = c.prefix() + ".encoder.layer.";
        int first = c.layers() - k;
        return name -> {
            if (c.headLayout().containsKey(name)) {
                return true;
            }
            if (!name.startsWith(layerPrefix)) {
                return false;
            }
            String rest = name.substring(layerPrefix.length());
            return Integer.parseInt(rest.substring(0, rest.indexOf('.'))) >= first;
        };
    }

    public EncoderConfig config() {
        return c;
    }

    @Override
    public Map<String, NDArray> parameters() {
        return Collections.unmodifiableMap(params);
    }

    /** Marks the parameters whose names pass {@code trainable} for gradients and takes them away from the rest. */
    @Override
    public List<NDArray> trainable(Predicate<String> trainable) {
        List<NDArray> out = new ArrayList<>();
        params.forEach((name, a) -> {
            boolean on = trainable.test(name);
            a.setRequiresGradient(on);
            if (on) {
                out.add(a);
            }
        });
        Gradients.zero(out); // gradients left by an earlier backward pass would be added to the next one
        return out;
    }

    @Override
    public Map<String, Tensor> toTensors() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        params.forEach((name, a) -> out.put(name, new Tensor(name, a.getShape().getShape(), a.toFloatArray())));
        return out;
    }

    @Override
    public long padTokenId() {
        return c.padTokenId();
    }

    /** Last hidden states (B, T, D) for int64 ids and mask (B, T), right padded; padded rows' values are arbitrary. */
    public NDArray hidden(NDArray ids, NDArray mask) {
        long b = ids.getShape().get(0);
        int t = (int) ids.getShape().get(1);
        int d = c.hiddenSize();
        if (t > c.maxUsableTokens()) {
            throw new IllegalArgumentException("rows of " + t + " tokens exceed the encoder's " + c.maxUsableTokens()
                    + " positions; truncate or window the input");
        }
        String e = c.prefix() + ".embeddings.";
        int off = c.positionOffset();
        NDArray x = p(e + "word_embeddings.weight")
                .get(ids.flatten())
                .reshape(b, t, d) // (B, T, D)
                .add(p(e + "position_embeddings.weight").get(off + ":" + (off + t))) // (T, D)
                .add(p(e + "token_type_embeddings.weight").get(0)); // (D)
        x = layerNorm(x, e + "LayerNorm");
        NDArray bias = mask.toType(DataType.FLOAT32, false).sub(1).mul(-MASKED).reshape(b, 1, 1, t); // 0 or -1e9
        for (int i = 0; i < c.layers(); i++) {
            x = layer(i, x, bias, b, t);
        }
        return x;
    }

    /** Masked mean over real tokens (B, D), as sentence-transformers pools. */
    public static NDArray meanPool(NDArray hidden, NDArray mask) {
        NDArray m = mask.toType(DataType.FLOAT32, false).expandDims(2); // (B, T, 1)
        return hidden.mul(m).sum(new int[] {1}).div(m.sum(new int[] {1}).maximum(1e-9f));
    }

    /** (B, L) logits from the head the config names (see {@link EncoderConfig.Pooling}). */
    @Override
    public NDArray classify(NDArray ids, NDArray mask) {
        if (c.numLabels() == 0) {
            throw new IllegalStateException("this encoder has no classification head (num_labels 0); load it with "
                    + "DjlEncoder.forFineTuning or add one with DjlEncoder.withNewHead");
        }
        NDArray h = hidden(ids, mask);
        if (c.pooling() == EncoderConfig.Pooling.MEAN) {
            return linear(meanPool(h, mask), c.outputLayer());
        }
        String[] head = c.clsHeadNames(); // dense, output
        NDArray first = h.get(":, 0, :"); // (B, D)
        return linear(linear(first, head[0]).tanh(), head[1]);
    }

    private NDArray layer(int i, NDArray x, NDArray bias, long b, int t) {
        String l = c.prefix() + ".encoder.layer." + i + ".";
        int heads = c.heads();
        int dh = c.headDim();
        NDArray q =
                linear(x, l + "attention.self.query").reshape(b, t, heads, dh).transpose(0, 2, 1, 3); // (B, H, T, Dh)
        NDArray k = linear(x, l + "attention.self.key").reshape(b, t, heads, dh).transpose(0, 2, 3, 1); // (B, H, Dh, T)
        NDArray v =
                linear(x, l + "attention.self.value").reshape(b, t, heads, dh).transpose(0, 2, 1, 3); // (B, H, T, Dh)
        // the scale through Scalars: DJL's mul(Number) frees the constant the backward pass reads (see Scalars)
        NDArray scores = Scalars.mul(q.matMul(k), 1 / Math.sqrt(dh)).add(bias); // (B, H, T, T)
        NDArray ctx = scores.softmax(-1).matMul(v).transpose(0, 2, 1, 3).reshape(b, t, c.hiddenSize()); // (B, T, D)
        NDArray a = layerNorm(x.add(linear(ctx, l + "attention.output.dense")), l + "attention.output.LayerNorm");
        NDArray ff = linear(gelu(linear(a, l + "intermediate.dense")), l + "output.dense");
        return layerNorm(a.add(ff), l + "output.LayerNorm");
    }

    /**
     * Exact GELU, x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)). DJL's PyTorch engine calls {@code torch::gelu} with its
     * default {@code approximate='none'}, which is this; {@code DjlEncoderTest} pins it on hand-computed values
     * that the tanh approximation misses.
     */
    public static NDArray gelu(NDArray x) {
        return Activation.gelu(x);
    }

    private NDArray layerNorm(NDArray x, String name) {
        return LayerNorm.layerNorm(
                        x, new Shape(c.hiddenSize()), p(name + ".weight"), p(name + ".bias"), (float) c.layerNormEps())
                .singletonOrThrow();
    }

    private NDArray linear(NDArray x, String name) {
        return Linear.linear(x, p(name + ".weight"), p(name + ".bias")).singletonOrThrow();
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
