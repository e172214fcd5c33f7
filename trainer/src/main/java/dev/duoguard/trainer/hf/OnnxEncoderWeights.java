package dev.duoguard.trainer.hf;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import com.google.protobuf.CodedInputStream;
import dev.duoguard.runtime.onnx.Half;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads the weights of a BERT-family encoder out of an ONNX export (as {@code torch.onnx.export} of a Hugging Face
 * {@code BertModel} writes it) and returns them under Hugging Face names with the {@code bert.} prefix, plus the
 * {@link EncoderConfig} the graph implies.
 *
 * <p>Every tensor is identified by the role its node plays in the graph, never by its initializer name (exporters
 * rename linear weights to {@code onnx::MatMul_787} and may deduplicate equal tensors): the embedding tables by the
 * graph input that indexes them, q/k/v by where their path enters the attention product (Q left and K right of the
 * scores MatMul, V right of the MatMul after the Softmax), the other linears by their position between residual
 * Adds and LayerNorms. MatMul weights are stored (in, out) and are transposed to Hugging Face's (out, in). The
 * config comes from the same walk: table shapes, layers counted along the residual chain, heads from the
 * attention Reshape's constants (cross-checked against the 1/sqrt(head_dim) scale), LayerNorm epsilon from the
 * LayerNormalization attribute or the decomposed pattern's constant. Anything else (fused attention, pre-LN blocks,
 * tanh-approximated GELU, RoBERTa-style computed positions, external data) is refused naming the node.
 */
public final class OnnxEncoderWeights {

    /** The config read off the graph (encoder only, no head) and its tensors by Hugging Face name. */
    public record Result(EncoderConfig config, Map<String, Tensor> tensors) {}

    private final GraphProto g;
    private final Map<String, TensorProto> initializers = new HashMap<>();
    private final Map<String, NodeProto> producer = new HashMap<>();
    private final Map<String, List<NodeProto>> consumers = new HashMap<>();
    private final Set<String> graphInputs = new HashSet<>();
    private final Map<String, Tensor> out = new LinkedHashMap<>();
    private double eps = Double.NaN;

    private OnnxEncoderWeights(GraphProto g) {
        this.g = g;
        g.getInitializerList().forEach(t -> initializers.put(t.getName(), t));
        for (NodeProto n : g.getNodeList()) {
            n.getOutputList().forEach(o -> producer.put(o, n));
            n.getInputList()
                    .forEach(i ->
                            consumers.computeIfAbsent(i, k -> new ArrayList<>()).add(n));
        }
        for (ValueInfoProto v : g.getInputList()) {
            if (!initializers.containsKey(v.getName())) {
                graphInputs.add(v.getName());
            }
        }
    }

    public static Result read(Path onnx) throws IOException {
        try (InputStream in = Files.newInputStream(onnx)) {
            return read(in);
        }
    }

    public static Result read(InputStream onnx) throws IOException {
        CodedInputStream cis = CodedInputStream.newInstance(onnx);
        cis.setSizeLimit(Integer.MAX_VALUE); // a 90 MB model exceeds protobuf's default 64 MB message limit
        return read(ModelProto.parseFrom(cis));
    }

    public static Result read(ModelProto model) {
        return new OnnxEncoderWeights(model.getGraph()).walk();
    }

    private Result walk() {
        for (String need : new String[] {"input_ids", "token_type_ids"}) {
            if (!graphInputs.contains(need)) {
                throw refuse("the graph has no input '" + need + "' (inputs: " + graphInputs
                        + "); export the model with input_ids, attention_mask and token_type_ids");
            }
        }
        // Embeddings: word table indexed by input_ids, then the sum's other terms.
        NodeProto word = single(gathersOf("input_ids"), "Gather of an embedding table by input_ids");
        TensorProto wordTable = constant(word.getInput(0));
        long vocab = wordTable.getDims(0);
        long d = wordTable.getDims(1);
        NodeProto typeGather = single(gathersOf("token_type_ids"), "Gather of an embedding table by token_type_ids");
        TensorProto typeTable = constant(typeGather.getInput(0));
        TensorProto posTable = null;
        String sum = word.getOutput(0);
        // Follow the chain of Adds that sums the three lookups, in whatever order the exporter wrote them.
        while (true) {
            NodeProto add = consumerOf(sum, "Add");
            if (add == null) {
                break;
            }
            String other = otherInput(add, sum);
            NodeProto src = producer.get(other);
            if (src != null && src.getOpType().equals("Add")) {
                // (a + b) + c with our chain in a nested position: both halves must be lookups.
                for (String in : src.getInputList()) {
                    posTable = classifyEmbedding(in, typeGather, posTable);
                }
            } else {
                posTable = classifyEmbedding(other, typeGather, posTable);
            }
            sum = add.getOutput(0);
        }
        if (posTable == null) {
            throw refuse("no position-embedding Gather is added to the word embeddings (value " + sum + ")");
        }
        if (posTable.getDims(1) != d || typeTable.getDims(1) != d) {
            throw refuse("embedding widths differ: word " + d + ", position " + posTable.getDims(1) + ", type "
                    + typeTable.getDims(1));
        }
        put("bert.embeddings.word_embeddings.weight", wordTable, false);
        put("bert.embeddings.position_embeddings.weight", posTable, false);
        put("bert.embeddings.token_type_embeddings.weight", typeTable, false);
        String h = layerNorm(sum, "bert.embeddings.LayerNorm");

        int layers = 0;
        int heads = -1;
        long intermediate = -1;
        while (projectionsOf(h).size() > 0) {
            LayerShape s = layer(layers, h, d);
            h = s.output;
            if (heads >= 0 && (s.heads != heads || s.intermediate != intermediate)) {
                throw refuse("layer " + layers + " has " + s.heads + " heads and intermediate size " + s.intermediate
                        + " but layer 0 has " + heads + " and " + intermediate);
            }
            heads = s.heads;
            intermediate = s.intermediate;
            layers++;
        }
        if (layers == 0) {
            throw refuse("no attention block reads the embedding LayerNorm's output " + h);
        }
        String last = h;
        if (g.getOutputList().stream().noneMatch(o -> o.getName().equals(last))) {
            throw refuse("the encoder chain ends at value " + h + " after " + (layers)
                    + " layers, which is not a graph " + "output; expected last_hidden_state there");
        }
        // Stored as float32, 1e-12 reads back as 9.99999996e-13: keep the decimal the config was written with.
        double epsilon = Double.parseDouble(Float.toString((float) eps));
        EncoderConfig c = new EncoderConfig(
                "bert",
                (int) vocab,
                (int) d,
                layers,
                heads,
                (int) intermediate,
                (int) posTable.getDims(0),
                (int) typeTable.getDims(0),
                epsilon,
                0,
                EncoderConfig.Pooling.CLS,
                0);
        for (Map.Entry<String, long[]> e : c.layout().entrySet()) {
            Tensor t = out.get(e.getKey());
            if (t == null) {
                throw refuse("the walk found no tensor for " + e.getKey());
            }
            t.requireShape(e.getValue());
        }
        return new Result(c, out);
    }

    /** Sorts one term of the embedding sum: the token-type lookup (already known) or the position lookup. */
    private TensorProto classifyEmbedding(String value, NodeProto typeGather, TensorProto posTable) {
        NodeProto src = producer.get(value);
        if (src == typeGather) {
            return posTable;
        }
        if (src == null || !src.getOpType().equals("Gather") || constantOrNull(src.getInput(0)) == null) {
            throw refuse("the embedding sum adds value " + value + " produced by "
                    + (src == null ? "no node" : describe(src)) + "; expected a Gather of an embedding table");
        }
        if (posTable != null) {
            throw refuse("the embedding sum has a fourth lookup " + describe(src));
        }
        checkPositionIds(src.getInput(1), src);
        return constant(src.getInput(0));
    }

    /**
     * BERT's position ids are 0, 1, 2, ... (a slice of the {@code position_ids} buffer or a Range). RoBERTa computes
     * them from the ids (a CumSum over the non-pad mask), with an offset this reader would have to infer: refused.
     */
    private void checkPositionIds(String value, NodeProto gather) {
        Deque<String> todo = new ArrayDeque<>(List.of(value));
        Set<String> seen = new HashSet<>();
        while (!todo.isEmpty()) {
            String v = todo.pop();
            if (!seen.add(v) || seen.size() > 64) {
                continue;
            }
            TensorProto t = initializers.get(v);
            if (t != null && t.getDataType() == TensorProto.DataType.INT64_VALUE && t.getDimsCount() == 2) {
                long[] ids = longs(t);
                for (int i = 0; i < ids.length; i++) {
                    if (ids[i] != i) {
                        throw refuse("position id buffer " + v + " holds " + ids[i] + " at index " + i
                                + "; expected 0, 1, 2, ... (BERT positions)");
                    }
                }
            }
            NodeProto p = producer.get(v);
            if (p == null) {
                continue;
            }
            if (p.getOpType().equals("CumSum")) {
                throw refuse(describe(gather) + " takes positions computed by " + describe(p)
                        + " (RoBERTa style); load this model from its Hugging Face safetensors checkpoint instead");
            }
            todo.addAll(p.getInputList());
        }
    }

    private record LayerShape(String output, int heads, long intermediate) {}

    /** One post-LN block starting at {@code h}; writes its tensors and returns the block's output value. */
    private LayerShape layer(int i, String h, long d) {
        String l = "bert.encoder.layer." + i + ".";
        List<NodeProto> proj = projectionsOf(h);
        if (proj.size() != 3) {
            throw refuse("layer " + i + ": expected 3 attention projections (q, k, v) reading " + h + " but found "
                    + proj.size() + (proj.size() == 1 ? " (a fused QKV projection is not supported)" : ""));
        }
        Map<String, Linear> roles = new HashMap<>();
        NodeProto scores = null;
        NodeProto context = null;
        int heads = -1;
        double scale = 1;
        for (NodeProto mm : proj) {
            Linear lin = linear(mm);
            PathEnd end = toAttentionProduct(lin.output);
            NodeProto target = end.matmul;
            String role;
            if (fromSoftmax(target.getInput(0))) {
                role = "value";
                context = target;
                if (end.input != 1) {
                    throw refuse("layer " + i + ": " + describe(mm)
                            + " reaches the post-softmax product as its left operand");
                }
            } else {
                role = end.input == 0 ? "query" : "key";
                if (scores != null && scores != target) {
                    throw refuse("layer " + i + ": query and key reach different products (" + describe(scores) + ", "
                            + describe(target) + ")");
                }
                scores = target;
            }
            if (roles.put(role, lin) != null) {
                throw refuse("layer " + i + ": two projections play the " + role + " role (" + describe(mm) + ")");
            }
            scale *= end.scale;
            if (role.equals("query") || heads < 0) {
                int hd = end.reshapeHeads;
                if (hd > 0) {
                    heads = hd;
                }
            }
        }
        if (scores == null || context == null || roles.size() != 3) {
            throw refuse("layer " + i + ": could not find query, key and value among " + proj.size() + " projections");
        }
        // The scale applied between the scores product and the Softmax (Div by sqrt(dh) or Mul by its inverse).
        String v = scores.getOutput(0);
        while (true) {
            NodeProto n = dataConsumer(v);
            if (n == null) {
                throw refuse("layer " + i + ": the attention scores " + v + " never reach a Softmax");
            }
            if (n.getOpType().equals("Softmax")) {
                break;
            }
            if (n.getOpType().equals("Div") && constantOrNull(n.getInput(1)) != null) {
                scale /= scalar(n.getInput(1));
            } else if (n.getOpType().equals("Mul") && constantOrNull(otherInput(n, v)) != null) {
                scale *= scalar(otherInput(n, v));
            } else if (!n.getOpType().equals("Add") && !n.getOpType().equals("Where")) { // Add/Where: the padding mask
                throw refuse(
                        "layer " + i + ": unexpected " + describe(n) + " between the attention scores and the Softmax");
            }
            v = n.getOutput(0);
        }
        if (heads <= 0) {
            // No readable Reshape constants: the scale 1/sqrt(dh) gives the head dim.
            long dh = Math.round(1 / (scale * scale));
            if (dh <= 0 || d % dh != 0) {
                throw refuse("layer " + i + ": attention scale " + scale + " implies head dim " + dh
                        + ", which does not divide hidden size " + d);
            }
            heads = (int) (d / dh);
        }
        if (d % heads != 0 || Math.abs(scale * Math.sqrt((double) d / heads) - 1) > 1e-4) {
            throw refuse("layer " + i + ": attention scale " + scale + " does not match 1/sqrt(head_dim) for " + heads
                    + " heads of hidden size " + d);
        }
        for (String role : new String[] {"query", "key", "value"}) {
            roles.get(role).store(l + "attention.self." + role, d, d);
        }
        // Context → (Transpose, Reshape) → attention.output.dense → residual with h → LayerNorm.
        NodeProto outMm = nextWeightMatMul(context.getOutput(0), "layer " + i + " attention output");
        Linear attnOut = linear(outMm);
        attnOut.store(l + "attention.output.dense", d, d);
        String h1 =
                layerNorm(residual(attnOut.output, h, "layer " + i + " attention"), l + "attention.output.LayerNorm");

        List<NodeProto> up = projectionsOf(h1);
        if (up.size() != 1) {
            throw refuse(
                    "layer " + i + ": expected one intermediate projection reading " + h1 + " but found " + up.size());
        }
        Linear inter = linear(up.get(0));
        long intermediate = inter.outFeatures;
        inter.store(l + "intermediate.dense", intermediate, d);
        NodeProto downMm = activationThenMatMul(inter.output, "layer " + i);
        Linear down = linear(downMm);
        down.store(l + "output.dense", d, intermediate);
        String h2 = layerNorm(residual(down.output, h1, "layer " + i + " feed-forward"), l + "output.LayerNorm");
        return new LayerShape(h2, heads, intermediate);
    }

    /** Where a projection's output enters an attention product, with the scale and head count seen on the way. */
    private record PathEnd(NodeProto matmul, int input, double scale, int reshapeHeads) {}

    private PathEnd toAttentionProduct(String value) {
        String v = value;
        double scale = 1;
        int heads = -1;
        for (int steps = 0; steps < 16; steps++) {
            NodeProto n = dataConsumer(v);
            if (n == null) {
                throw refuse("value " + value + " (an attention projection) reaches no attention product");
            }
            switch (n.getOpType()) {
                case "MatMul" -> {
                    return new PathEnd(n, n.getInput(0).equals(v) ? 0 : 1, scale, heads);
                }
                case "Reshape" -> heads = reshapeHeads(n);
                case "Transpose", "Identity", "Squeeze", "Unsqueeze" -> {}
                case "Mul" -> scale *= scalar(otherInput(n, v)); // query pre-scaled by some exporters
                case "Div" -> scale /= scalar(n.getInput(1));
                default -> throw refuse("unexpected " + describe(n) + " on an attention projection's path");
            }
            v = n.getOutput(0);
        }
        throw refuse("value " + value + " passes more than 16 nodes before an attention product");
    }

    /** Heads from a Reshape to (B, T, H, Dh): its shape is a constant or a Concat whose last two parts are constants. */
    private int reshapeHeads(NodeProto reshape) {
        String shape = reshape.getInput(1);
        TensorProto t = constantOrNull(shape);
        if (t != null) {
            long[] s = longs(t);
            return s.length == 4 ? (int) s[2] : -1;
        }
        NodeProto p = producer.get(shape);
        if (p != null && p.getOpType().equals("Concat") && p.getInputCount() == 4) {
            TensorProto hT = constantOrNull(p.getInput(2));
            if (hT != null) {
                return (int) longs(hT)[0];
            }
        }
        return -1;
    }

    private boolean fromSoftmax(String value) {
        NodeProto p = producer.get(value);
        for (int i = 0; i < 4 && p != null; i++) {
            if (p.getOpType().equals("Softmax")) {
                return true;
            }
            if (!Set.of("Cast", "Dropout", "Identity").contains(p.getOpType())) {
                return false;
            }
            p = producer.get(p.getInput(0));
        }
        return false;
    }

    /** The next MatMul with a constant weight downstream of {@code value} through shape-only nodes. */
    private NodeProto nextWeightMatMul(String value, String what) {
        String v = value;
        for (int steps = 0; steps < 8; steps++) {
            NodeProto n = dataConsumer(v);
            if (n == null) {
                throw refuse(what + ": value " + value + " reaches no projection");
            }
            if (n.getOpType().equals("MatMul")) {
                if (weightOf(n) == null) {
                    throw refuse(what + ": " + describe(n) + " has no constant weight");
                }
                return n;
            }
            if (!Set.of("Transpose", "Reshape", "Identity").contains(n.getOpType())) {
                throw refuse(what + ": unexpected " + describe(n) + " before the output projection");
            }
            v = n.getOutput(0);
        }
        throw refuse(what + ": value " + value + " passes more than 8 nodes before a projection");
    }

    /**
     * The activation between the intermediate and output projections, which must be exact GELU: a Gelu op without
     * the tanh approximation, or x * 0.5 * (1 + erf(x / sqrt 2)) in any arrangement (an Erf fed by x / sqrt 2).
     */
    private NodeProto activationThenMatMul(String value, String what) {
        Deque<String> todo = new ArrayDeque<>(List.of(value));
        Set<NodeProto> seen = new HashSet<>();
        NodeProto down = null;
        boolean exact = false;
        while (!todo.isEmpty()) {
            String v = todo.pop();
            for (NodeProto n : consumers.getOrDefault(v, List.of())) {
                if (!seen.add(n)) {
                    continue;
                }
                if (seen.size() > 16) {
                    throw refuse(what + ": the activation after the intermediate projection has more than 16 nodes");
                }
                String op = n.getOpType();
                if (op.equals("MatMul") && weightOf(n) != null) {
                    if (down != null && down != n) {
                        throw refuse(what + ": the activation feeds two projections (" + describe(down) + ", "
                                + describe(n) + ")");
                    }
                    down = n;
                    continue;
                }
                switch (op) {
                    case "Erf" -> {
                        if (Math.abs(erfDivisor(n) - Math.sqrt(2)) > 1e-5) {
                            throw refuse(what + ": " + describe(n) + " is not fed by x / sqrt(2); not exact GELU");
                        }
                        exact = true;
                    }
                    case "Gelu" -> {
                        for (AttributeProto a : n.getAttributeList()) {
                            if (a.getName().equals("approximate")
                                    && !a.getS().toStringUtf8().equals("none")) {
                                throw refuse(what + ": " + describe(n)
                                        + " uses the tanh approximation; only exact GELU is supported");
                            }
                        }
                        exact = true;
                    }
                    case "Tanh", "Sigmoid", "FastGelu", "BiasGelu", "Relu" ->
                        throw refuse(
                                what + ": " + describe(n) + " in the activation; only exact (erf) GELU is supported");
                    default -> {}
                }
                todo.addAll(n.getOutputList());
            }
        }
        if (down == null) {
            throw refuse(what + ": the intermediate projection's output " + value + " reaches no output projection");
        }
        if (!exact) {
            throw refuse(what
                    + ": no Erf or Gelu between the intermediate and output projections; only exact GELU is supported");
        }
        return down;
    }

    /** k where the Erf's input is x / k (a Div by k or a Mul by 1/k); NaN for anything else. */
    private double erfDivisor(NodeProto erf) {
        NodeProto p = producer.get(erf.getInput(0));
        if (p == null || p.getInputCount() != 2) {
            return Double.NaN;
        }
        if (p.getOpType().equals("Div") && constantOrNull(p.getInput(1)) != null) {
            return scalar(p.getInput(1));
        }
        if (p.getOpType().equals("Mul")) {
            for (String in : p.getInputList()) {
                if (constantOrNull(in) != null) {
                    return 1 / scalar(in);
                }
            }
        }
        return Double.NaN;
    }

    /** The Add of {@code value} and the block input {@code residual} (post-LN: the sum is normalized next). */
    private String residual(String value, String residual, String what) {
        NodeProto add = consumerOf(value, "Add");
        if (add == null || !otherInput(add, value).equals(residual)) {
            throw refuse(what + ": projection output " + value + " is not added to the block input " + residual
                    + " (not a post-LN BERT block)");
        }
        return add.getOutput(0);
    }

    /**
     * LayerNorm over the last axis starting at {@code x}: a LayerNormalization node, or PyTorch's opset-11
     * decomposition ReduceMean → Sub → Pow 2 → ReduceMean → Add eps → Sqrt → Div → Mul weight → Add bias.
     * Stores weight and bias under {@code name} and returns the output value.
     */
    private String layerNorm(String x, String name) {
        NodeProto ln = consumerOf(x, "LayerNormalization");
        double e;
        String weight;
        String bias;
        String output;
        if (ln != null) {
            e = 1e-5;
            for (AttributeProto a : ln.getAttributeList()) {
                if (a.getName().equals("epsilon")) {
                    e = a.getF();
                }
                if (a.getName().equals("axis") && a.getI() != -1) {
                    throw refuse(describe(ln) + " normalizes axis " + a.getI() + "; expected -1");
                }
            }
            if (ln.getInputCount() < 3) {
                throw refuse(describe(ln) + " has no bias input");
            }
            weight = ln.getInput(1);
            bias = ln.getInput(2);
            output = ln.getOutput(0);
        } else {
            NodeProto mean = expect(x, "ReduceMean", name);
            NodeProto sub = expect(mean.getOutput(0), "Sub", name);
            if (!sub.getInput(0).equals(x)) {
                throw refuse(name + ": " + describe(sub) + " does not subtract the mean from " + x);
            }
            String centered = sub.getOutput(0);
            NodeProto sq = consumerOf(centered, "Pow");
            if (sq == null || scalar(sq.getInput(1)) != 2) {
                throw refuse(name + ": no Pow(x - mean, 2) after " + describe(sub));
            }
            NodeProto var = expect(sq.getOutput(0), "ReduceMean", name);
            NodeProto addEps = expect(var.getOutput(0), "Add", name);
            e = scalar(otherInput(addEps, var.getOutput(0)));
            NodeProto sqrt = expect(addEps.getOutput(0), "Sqrt", name);
            NodeProto div = expect(sqrt.getOutput(0), "Div", name);
            if (!div.getInput(0).equals(centered)) {
                throw refuse(name + ": " + describe(div) + " does not divide x - mean by the deviation");
            }
            NodeProto mul = expect(div.getOutput(0), "Mul", name);
            NodeProto add = expect(mul.getOutput(0), "Add", name);
            weight = otherInput(mul, div.getOutput(0));
            bias = otherInput(add, mul.getOutput(0));
            output = add.getOutput(0);
        }
        if (!Double.isNaN(eps) && Math.abs(e - eps) > 1e-6 * Math.max(eps, 1e-30) + 1e-20) {
            throw refuse(name + " has epsilon " + e + " but an earlier LayerNorm has " + eps);
        }
        eps = e;
        put(name + ".weight", constant(weight), false);
        put(name + ".bias", constant(bias), false);
        return output;
    }

    /** A linear layer: MatMul by a constant (in, out) weight, then an Add of a constant (out) bias. */
    private final class Linear {
        final TensorProto weight; // (in, out) as MatMul uses it, or (out, in) behind a Transpose
        final boolean transposed; // true when the stored weight is already (out, in)
        final TensorProto bias;
        final String output;
        final long outFeatures;

        Linear(NodeProto mm) {
            String w = mm.getInput(1);
            NodeProto tr = producer.get(w);
            if (tr != null && tr.getOpType().equals("Transpose")) {
                weight = constant(tr.getInput(0));
                transposed = true;
            } else {
                weight = constant(w);
                transposed = false;
            }
            if (weight.getDimsCount() != 2) {
                throw refuse(describe(mm) + " has a weight of rank " + weight.getDimsCount() + "; expected 2");
            }
            outFeatures = weight.getDims(transposed ? 0 : 1);
            NodeProto add = consumerOf(mm.getOutput(0), "Add");
            TensorProto b = add == null ? null : constantOrNull(otherInput(add, mm.getOutput(0)));
            if (b == null || b.getDimsCount() != 1 || b.getDims(0) != outFeatures) {
                throw refuse(describe(mm) + " is not followed by an Add of a constant bias of size " + outFeatures
                        + " (BERT linear layers have biases)");
            }
            bias = b;
            output = add.getOutput(0);
        }

        void store(String name, long out, long in) {
            long[] hf = transposed
                    ? new long[] {weight.getDims(0), weight.getDims(1)}
                    : new long[] {weight.getDims(1), weight.getDims(0)};
            if (hf[0] != out || hf[1] != in) {
                throw refuse(
                        name + " has shape " + Arrays.toString(hf) + " but the block needs (" + out + ", " + in + ")");
            }
            put(name + ".weight", weight, !transposed);
            put(name + ".bias", bias, false);
        }
    }

    private Linear linear(NodeProto mm) {
        return new Linear(mm);
    }

    /** MatMul consumers of {@code value} whose second input is a (possibly transposed) constant: projections. */
    private List<NodeProto> projectionsOf(String value) {
        List<NodeProto> r = new ArrayList<>();
        for (NodeProto n : consumers.getOrDefault(value, List.of())) {
            if (n.getOpType().equals("MatMul") && n.getInput(0).equals(value) && weightOf(n) != null) {
                r.add(n);
            }
        }
        return r;
    }

    private TensorProto weightOf(NodeProto mm) {
        String w = mm.getInput(1);
        NodeProto tr = producer.get(w);
        if (tr != null && tr.getOpType().equals("Transpose")) {
            w = tr.getInput(0);
        }
        return constantOrNull(w);
    }

    private List<NodeProto> gathersOf(String input) {
        List<NodeProto> r = new ArrayList<>();
        for (NodeProto n : consumers.getOrDefault(input, List.of())) {
            if (n.getOpType().equals("Gather") && n.getInput(1).equals(input)) {
                TensorProto t = constantOrNull(n.getInput(0));
                if (t != null && t.getDimsCount() == 2) {
                    r.add(n);
                }
            }
        }
        return r;
    }

    private NodeProto single(List<NodeProto> nodes, String what) {
        if (nodes.size() != 1) {
            throw refuse("expected one " + what + " but found " + nodes.size());
        }
        return nodes.get(0);
    }

    /** The one consumer of {@code value} that carries data on (not a Shape read for a reshape); null if none. */
    private NodeProto dataConsumer(String value) {
        NodeProto found = null;
        for (NodeProto n : consumers.getOrDefault(value, List.of())) {
            if (n.getOpType().equals("Shape")) {
                continue;
            }
            if (found != null) {
                throw refuse("value " + value + " feeds both " + describe(found) + " and " + describe(n)
                        + " where one consumer was expected");
            }
            found = n;
        }
        return found;
    }

    private NodeProto consumerOf(String value, String op) {
        for (NodeProto n : consumers.getOrDefault(value, List.of())) {
            if (n.getOpType().equals(op)) {
                return n;
            }
        }
        return null;
    }

    private NodeProto expect(String value, String op, String what) {
        NodeProto n = consumerOf(value, op);
        if (n == null) {
            List<String> found = consumers.getOrDefault(value, List.of()).stream()
                    .map(this::describe)
                    .toList();
            throw refuse(what + ": expected a " + op + " reading " + value + " (a LayerNorm) but found " + found);
        }
        return n;
    }

    private static String otherInput(NodeProto n, String value) {
        if (n.getInputCount() != 2) {
            throw refuse("node " + n.getName() + " (" + n.getOpType() + ") has " + n.getInputCount()
                    + " inputs; expected 2");
        }
        return n.getInput(0).equals(value) ? n.getInput(1) : n.getInput(0);
    }

    /** An initializer or a Constant node's value (through Identity nodes), or null when {@code value} is computed. */
    private TensorProto constantOrNull(String value) {
        for (int i = 0; i < 4; i++) {
            TensorProto t = initializers.get(value);
            if (t != null) {
                return t;
            }
            NodeProto p = producer.get(value);
            if (p == null) {
                return null;
            }
            if (p.getOpType().equals("Constant")) {
                for (AttributeProto a : p.getAttributeList()) {
                    switch (a.getName()) {
                        case "value" -> {
                            return a.getT();
                        }
                        case "value_float" -> {
                            return TensorProto.newBuilder()
                                    .setDataType(TensorProto.DataType.FLOAT_VALUE)
                                    .addFloatData(a.getF())
                                    .build();
                        }
                        case "value_int" -> {
                            return TensorProto.newBuilder()
                                    .setDataType(TensorProto.DataType.INT64_VALUE)
                                    .addInt64Data(a.getI())
                                    .build();
                        }
                        case "value_ints" -> {
                            return TensorProto.newBuilder()
                                    .setDataType(TensorProto.DataType.INT64_VALUE)
                                    .addDims(a.getIntsCount())
                                    .addAllInt64Data(a.getIntsList())
                                    .build();
                        }
                        default -> {}
                    }
                }
                throw refuse(describe(p) + " has no value attribute this reader understands");
            }
            if (!p.getOpType().equals("Identity")) {
                return null;
            }
            value = p.getInput(0);
        }
        return null;
    }

    private TensorProto constant(String value) {
        TensorProto t = constantOrNull(value);
        if (t == null) {
            NodeProto p = producer.get(value);
            throw refuse("value " + value + " should be a constant tensor but is computed by "
                    + (p == null ? "a graph input" : describe(p)));
        }
        return t;
    }

    private double scalar(String value) {
        TensorProto t = constant(value);
        if (t.getDataType() == TensorProto.DataType.INT64_VALUE
                || t.getDataType() == TensorProto.DataType.INT32_VALUE) {
            long[] v = longs(t);
            if (v.length != 1) {
                throw refuse("constant " + value + " has " + v.length + " values; expected a scalar");
            }
            return v[0];
        }
        float[] v = floats(t, value);
        if (v.length != 1) {
            throw refuse("constant " + value + " has " + v.length + " values; expected a scalar");
        }
        return v[0];
    }

    private void put(String hfName, TensorProto t, boolean transpose) {
        long[] dims = t.getDimsList().stream().mapToLong(Long::longValue).toArray();
        float[] data = floats(t, t.getName());
        if (transpose) {
            int rows = (int) dims[0];
            int cols = (int) dims[1];
            float[] tr = new float[data.length];
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    tr[c * rows + r] = data[r * cols + c];
                }
            }
            data = tr;
            dims = new long[] {cols, rows};
        }
        out.put(hfName, new Tensor(hfName, dims, data));
    }

    /** Float values of a FLOAT or FLOAT16 tensor stored as raw_data or in the typed fields. */
    static float[] floats(TensorProto t, String what) {
        if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
            throw refuse("initializer " + what + " keeps its data in an external file; re-save the model with the data "
                    + "inside the .onnx file");
        }
        int n = (int)
                Tensor.numel(t.getDimsList().stream().mapToLong(Long::longValue).toArray());
        ByteBuffer raw = t.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        float[] v = new float[n];
        switch (t.getDataType()) {
            case TensorProto.DataType.FLOAT_VALUE -> {
                if (raw.remaining() > 0) {
                    checkSize(what, raw.remaining(), 4L * n);
                    raw.asFloatBuffer().get(v);
                } else {
                    checkSize(what, t.getFloatDataCount(), n);
                    for (int i = 0; i < n; i++) {
                        v[i] = t.getFloatData(i);
                    }
                }
            }
            case TensorProto.DataType.FLOAT16_VALUE -> {
                if (raw.remaining() > 0) {
                    checkSize(what, raw.remaining(), 2L * n);
                    for (int i = 0; i < n; i++) {
                        v[i] = Half.toFloat(raw.getShort(2 * i));
                    }
                } else {
                    checkSize(what, t.getInt32DataCount(), n); // fp16 bits live in int32_data
                    for (int i = 0; i < n; i++) {
                        v[i] = Half.toFloat((short) t.getInt32Data(i));
                    }
                }
            }
            default ->
                throw refuse("initializer " + what + " has ONNX data type " + t.getDataType()
                        + "; only float32 and float16 weights are supported");
        }
        return v;
    }

    static long[] longs(TensorProto t) {
        ByteBuffer raw = t.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        return switch (t.getDataType()) {
            case TensorProto.DataType.INT64_VALUE -> {
                if (raw.remaining() > 0) {
                    long[] v = new long[raw.remaining() / 8];
                    raw.asLongBuffer().get(v);
                    yield v;
                }
                yield t.getInt64DataList().stream().mapToLong(Long::longValue).toArray();
            }
            case TensorProto.DataType.INT32_VALUE -> {
                if (raw.remaining() > 0) {
                    long[] v = new long[raw.remaining() / 4];
                    for (int i = 0; i < v.length; i++) {
                        v[i] = raw.getInt(4 * i);
                    }
                    yield v;
                }
                yield t.getInt32DataList().stream()
                        .mapToLong(Integer::longValue)
                        .toArray();
            }
            default ->
                throw refuse("constant " + t.getName() + " has ONNX data type " + t.getDataType()
                        + "; expected int64 or int32");
        };
    }

    private static void checkSize(String what, long have, long want) {
        if (have != want) {
            throw refuse("initializer " + what + " holds " + have + " values/bytes but its shape needs " + want);
        }
    }

    private String describe(NodeProto n) {
        return n.getOpType() + " node '" + n.getName() + "'";
    }

    private static IllegalArgumentException refuse(String message) {
        return new IllegalArgumentException("unsupported ONNX encoder graph: " + message);
    }
}
