package dev.duoguard.trainer.hf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import com.google.protobuf.ByteString;
import com.google.protobuf.CodedInputStream;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HashMap;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The graph walk over the real all-MiniLM-L6-v2 export in the trainer's classpath (Xenova's, PyTorch 2.0.1,
 * opset 11, decomposed LayerNorm, linear weights as {@code onnx::MatMul_*} stored (in, out)), and over variants
 * of it: renamed initializers, float_data storage, and structures the reader must refuse.
 */
class OnnxEncoderWeightsTest {

    static ModelProto model;
    static OnnxEncoderWeights.Result result;

    @BeforeAll
    static void read() throws Exception {
        try (InputStream in =
                OnnxEncoderWeightsTest.class.getClassLoader().getResourceAsStream("all-minilm-l6-v2.onnx")) {
            CodedInputStream cis = CodedInputStream.newInstance(in);
            cis.setSizeLimit(Integer.MAX_VALUE);
            model = ModelProto.parseFrom(cis);
        }
        result = OnnxEncoderWeights.read(model);
    }

    @Test
    void configIsInferredFromTheGraph() {
        EncoderConfig c = result.config();
        assertThat(c.modelType()).isEqualTo("bert");
        assertThat(c.vocabSize()).isEqualTo(30522);
        assertThat(c.hiddenSize()).isEqualTo(384);
        assertThat(c.layers()).isEqualTo(6);
        assertThat(c.heads()).isEqualTo(12);
        assertThat(c.intermediateSize()).isEqualTo(1536);
        assertThat(c.maxPositions()).isEqualTo(512);
        assertThat(c.typeVocabSize()).isEqualTo(2);
        assertThat(c.layerNormEps()).isEqualTo(1e-12);
        assertThat(c.numLabels()).isZero();
        assertThat(result.tensors().keySet())
                .containsExactlyInAnyOrderElementsOf(c.layout().keySet());
    }

    /**
     * PyTorch's exporter names each MatMul node after its module ({@code /encoder/layer.3/attention/self/key/MatMul}),
     * information the reader does not use: every linear weight the walk assigned must be the transpose of the
     * initializer that the node named after the same module multiplies by, and every bias / LayerNorm tensor the
     * initializer of the same Hugging Face name.
     */
    @Test
    void rolesFoundByStructureAgreeWithTheExportersModuleNames() {
        Map<String, TensorProto> init = new HashMap<>();
        model.getGraph().getInitializerList().forEach(t -> init.put(t.getName(), t));
        int linears = 0;
        for (NodeProto n : model.getGraph().getNodeList()) {
            if (!n.getOpType().equals("MatMul") || !init.containsKey(n.getInput(1))) {
                continue;
            }
            String module = n.getName()
                    .substring(1, n.getName().length() - "/MatMul".length())
                    .replace('/', '.'); // encoder.layer.3.attention.self.key
            Tensor hf = result.tensors().get("bert." + module + ".weight");
            assertThat(hf).as(module).isNotNull();
            TensorProto w = init.get(n.getInput(1));
            float[] stored = OnnxEncoderWeights.floats(w, w.getName()); // (in, out)
            int in = (int) w.getDims(0);
            int out = (int) w.getDims(1);
            assertThat(hf.shape()).containsExactly(out, in);
            for (int o = 0; o < out; o += 37) {
                for (int i = 0; i < in; i += 11) {
                    assertThat(hf.data()[o * in + i]).isEqualTo(stored[i * out + o]);
                }
            }
            linears++;
        }
        assertThat(linears).isEqualTo(6 * 6);
        int named = 0;
        for (Map.Entry<String, TensorProto> e : init.entrySet()) {
            Tensor hf = result.tensors().get("bert." + e.getKey());
            if (hf != null) {
                assertThat(hf.data()).as(e.getKey()).isEqualTo(OnnxEncoderWeights.floats(e.getValue(), e.getKey()));
                named++;
            }
        }
        assertThat(named)
                .isEqualTo(5 + 6 * 10); // embeddings (3 tables + LayerNorm) and per layer 6 biases + 2 LayerNorms
    }

    @Test
    void initializerNamesDoNotMatter() {
        Map<String, String> rename = new HashMap<>();
        GraphProto g = model.getGraph();
        for (int i = 0; i < g.getInitializerCount(); i++) {
            rename.put(g.getInitializer(i).getName(), "w" + ((i * 7919) % g.getInitializerCount()));
        }
        OnnxEncoderWeights.Result r = OnnxEncoderWeights.read(edit(gb -> {
            for (int i = 0; i < gb.getInitializerCount(); i++) {
                gb.getInitializerBuilder(i)
                        .setName(rename.get(gb.getInitializer(i).getName()));
            }
            for (int i = 0; i < gb.getNodeCount(); i++) {
                NodeProto.Builder nb = gb.getNodeBuilder(i);
                for (int k = 0; k < nb.getInputCount(); k++) {
                    nb.setInput(k, rename.getOrDefault(nb.getInput(k), nb.getInput(k)));
                }
            }
            return gb;
        }));
        assertThat(r.config()).isEqualTo(result.config());
        result.tensors()
                .forEach((name, t) ->
                        assertThat(r.tensors().get(name).data()).as(name).isEqualTo(t.data()));
    }

    @Test
    void floatDataStorageReadsLikeRawData() {
        OnnxEncoderWeights.Result r = OnnxEncoderWeights.read(edit(gb -> {
            for (int i = 0; i < gb.getInitializerCount(); i++) {
                TensorProto t = gb.getInitializer(i);
                // every small tensor and one linear weight: enough to cover both layouts of the same code path
                if (t.getDataType() == TensorProto.DataType.FLOAT_VALUE
                        && (t.getDimsCount() == 1 || t.getName().equals("onnx::MatMul_798"))) {
                    TensorProto.Builder tb = t.toBuilder().clearRawData();
                    for (float v : OnnxEncoderWeights.floats(t, t.getName())) {
                        tb.addFloatData(v);
                    }
                    gb.setInitializer(i, tb);
                }
            }
            return gb;
        }));
        result.tensors()
                .forEach((name, t) ->
                        assertThat(r.tensors().get(name).data()).as(name).isEqualTo(t.data()));
    }

    @Test
    void tanhApproximatedGeluIsRefusedNamingTheNode() {
        ModelProto m = edit(gb -> {
            for (int i = 0; i < gb.getNodeCount(); i++) {
                if (gb.getNode(i).getName().equals("/encoder/layer.2/intermediate/intermediate_act_fn/Erf")) {
                    gb.getNodeBuilder(i).setOpType("Tanh");
                }
            }
            return gb;
        });
        assertThatThrownBy(() -> OnnxEncoderWeights.read(m))
                .hasMessageContaining("layer 2")
                .hasMessageContaining("Tanh node '/encoder/layer.2/intermediate/intermediate_act_fn/Erf'")
                .hasMessageContaining("only exact (erf) GELU");
    }

    @Test
    void missingTokenTypeInputIsRefused() {
        ModelProto m = edit(gb -> {
            for (int i = 0; i < gb.getInputCount(); i++) {
                if (gb.getInput(i).getName().equals("token_type_ids")) {
                    gb.removeInput(i);
                    break;
                }
            }
            return gb;
        });
        assertThatThrownBy(() -> OnnxEncoderWeights.read(m)).hasMessageContaining("no input 'token_type_ids'");
    }

    @Test
    void externalDataIsRefusedNamingTheInitializer() {
        ModelProto m = edit(gb -> {
            for (int i = 0; i < gb.getInitializerCount(); i++) {
                if (gb.getInitializer(i).getName().equals("encoder.layer.4.output.LayerNorm.bias")) {
                    gb.getInitializerBuilder(i).setDataLocation(TensorProto.DataLocation.EXTERNAL);
                }
            }
            return gb;
        });
        assertThatThrownBy(() -> OnnxEncoderWeights.read(m))
                .hasMessageContaining("encoder.layer.4.output.LayerNorm.bias")
                .hasMessageContaining("external file");
    }

    @Test
    void attentionScaleThatDoesNotFitTheHeadsIsRefused() {
        ModelProto m = edit(gb -> {
            for (int i = 0; i < gb.getNodeCount(); i++) {
                if (gb.getNode(i).getName().equals("/encoder/layer.1/attention/self/Constant_12")) {
                    TensorProto.Builder t =
                            gb.getNodeBuilder(i).getAttributeBuilder(0).getTBuilder();
                    t.setRawData(ByteString.copyFrom(ByteBuffer.allocate(4)
                            .order(ByteOrder.LITTLE_ENDIAN)
                            .putFloat(8f)
                            .array()));
                }
            }
            return gb;
        });
        assertThatThrownBy(() -> OnnxEncoderWeights.read(m))
                .hasMessageContaining("layer 1")
                .hasMessageContaining("does not match 1/sqrt(head_dim) for 12 heads");
    }

    static ModelProto edit(UnaryOperator<GraphProto.Builder> change) {
        ModelProto.Builder mb = model.toBuilder();
        change.apply(mb.getGraphBuilder());
        return mb.build();
    }
}
