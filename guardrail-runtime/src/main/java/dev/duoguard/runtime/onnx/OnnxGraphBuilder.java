package dev.duoguard.runtime.onnx;

import ai.onnx.proto.OnnxMl;
import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import com.google.protobuf.ByteString;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Map;

/**
 * A small ONNX graph writer over the ONNX protobuf classes, pinned to one opset. Used to build the project's own
 * models (the lexicon baseline today, the trainer's exported transformers later).
 *
 * <p>Dimensions are either fixed ({@code Long}) or symbolic ({@code String}, e.g. "batch"), so exported models
 * accept any batch size and sequence length.
 */
public final class OnnxGraphBuilder {

    /** Opset 17: LayerNormalization exists; Reduce* still take {@code axes} as an attribute. */
    public static final int OPSET = 17;
    /** IR version matching opset 17. */
    public static final int IR_VERSION = 8;

    private final GraphProto.Builder graph;
    private int nodeCounter;
    private FileChannel externalData;
    private String externalDataName;
    private long externalThreshold = Long.MAX_VALUE;

    public OnnxGraphBuilder(String graphName) {
        this.graph = GraphProto.newBuilder().setName(graphName);
    }

    /**
     * Stores every initializer of at least {@code thresholdBytes} in {@code file} (ONNX external data, next to the
     * model file) instead of inside the protobuf, which cannot exceed 2 GB: needed for 0.5B-parameter models.
     */
    public OnnxGraphBuilder externalData(Path file, long thresholdBytes) throws IOException {
        this.externalData = FileChannel.open(
                file, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE);
        this.externalDataName = file.getFileName().toString();
        this.externalThreshold = thresholdBytes;
        return this;
    }

    public OnnxGraphBuilder input(String name, TensorProto.DataType type, Object... dims) {
        graph.addInput(valueInfo(name, type, dims));
        return this;
    }

    public OnnxGraphBuilder output(String name, TensorProto.DataType type, Object... dims) {
        graph.addOutput(valueInfo(name, type, dims));
        return this;
    }

    /** A float initializer of the given shape, row-major. */
    public String floatInitializer(String name, float[] values, long... dims) {
        checkSize(name, values.length, dims);
        ByteBuffer buf = ByteBuffer.allocate(values.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            buf.putFloat(v);
        }
        addInitializer(name, TensorProto.DataType.FLOAT, buf, dims);
        return name;
    }

    /**
     * A float tensor stored as FLOAT16 (half the bytes) and widened by a Cast node: returns the name of the float
     * output to use in place of the initializer. Compute stays fp32; storage and transfer are halved.
     */
    public String float16Initializer(String name, float[] values, long... dims) {
        checkSize(name, values.length, dims);
        ByteBuffer buf = ByteBuffer.allocate(values.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            buf.putShort(Half.fromFloat(v));
        }
        addInitializer(name + "_fp16", TensorProto.DataType.FLOAT16, buf, dims);
        return node("Cast", name, Map.of("to", (long) TensorProto.DataType.FLOAT.getNumber()), name + "_fp16");
    }

    public String longInitializer(String name, long[] values, long... dims) {
        checkSize(name, values.length, dims);
        ByteBuffer buf = ByteBuffer.allocate(values.length * Long.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : values) {
            buf.putLong(v);
        }
        addInitializer(name, TensorProto.DataType.INT64, buf, dims);
        return name;
    }

    /** Adds a node with a single output named {@code output}; attributes are Long, long[], Float or String. */
    public String node(String opType, String output, Map<String, Object> attributes, String... inputs) {
        NodeProto.Builder node = NodeProto.newBuilder()
                .setOpType(opType)
                .setName(opType + "_" + (nodeCounter++))
                .addOutput(output);
        for (String in : inputs) {
            node.addInput(in);
        }
        attributes.forEach((k, v) -> node.addAttribute(attribute(k, v)));
        graph.addNode(node);
        return output;
    }

    public String node(String opType, String output, String... inputs) {
        return node(opType, output, Map.of(), inputs);
    }

    public ModelProto build(String producer, Map<String, String> metadata) {
        if (externalData != null) {
            try {
                externalData.close();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot close external data " + externalDataName, e);
            }
            externalData = null;
        }
        ModelProto.Builder model = ModelProto.newBuilder()
                .setIrVersion(IR_VERSION)
                .setProducerName(producer)
                .addOpsetImport(
                        OnnxMl.OperatorSetIdProto.newBuilder().setDomain("").setVersion(OPSET))
                .setGraph(graph);
        metadata.forEach((k, v) -> model.addMetadataProps(
                OnnxMl.StringStringEntryProto.newBuilder().setKey(k).setValue(v)));
        return model.build();
    }

    public static void write(ModelProto model, Path file) throws IOException {
        try (OutputStream out = Files.newOutputStream(file)) {
            model.writeTo(out);
        }
    }

    private void addInitializer(String name, TensorProto.DataType type, ByteBuffer data, long... dims) {
        TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(type.getNumber());
        for (long d : dims) {
            t.addDims(d);
        }
        data.flip();
        if (externalData != null && data.remaining() >= externalThreshold) {
            try {
                long offset = externalData.position();
                long length = data.remaining();
                while (data.hasRemaining()) {
                    externalData.write(data);
                }
                t.setDataLocation(TensorProto.DataLocation.EXTERNAL)
                        .addExternalData(OnnxMl.StringStringEntryProto.newBuilder()
                                .setKey("location")
                                .setValue(externalDataName))
                        .addExternalData(OnnxMl.StringStringEntryProto.newBuilder()
                                .setKey("offset")
                                .setValue(Long.toString(offset)))
                        .addExternalData(OnnxMl.StringStringEntryProto.newBuilder()
                                .setKey("length")
                                .setValue(Long.toString(length)));
                graph.addInitializer(t);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write external data " + externalDataName, e);
            }
            return;
        }
        graph.addInitializer(t.setRawData(ByteString.copyFrom(data)));
    }

    private static void checkSize(String name, int length, long... dims) {
        long n = 1;
        for (long d : dims) {
            n *= d;
        }
        if (n != length) {
            throw new IllegalArgumentException("initializer " + name + " has " + length + " values but shape "
                    + Arrays.toString(dims) + " needs " + n);
        }
    }

    private static ValueInfoProto valueInfo(String name, TensorProto.DataType type, Object... dims) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
        for (Object d : dims) {
            TensorShapeProto.Dimension.Builder dim = TensorShapeProto.Dimension.newBuilder();
            if (d instanceof String s) {
                dim.setDimParam(s);
            } else if (d instanceof Number n) {
                dim.setDimValue(n.longValue());
            } else {
                throw new IllegalArgumentException("dimension must be a String or a Number but is " + d);
            }
            shape.addDim(dim);
        }
        return ValueInfoProto.newBuilder()
                .setName(name)
                .setType(TypeProto.newBuilder()
                        .setTensorType(TypeProto.Tensor.newBuilder()
                                .setElemType(type.getNumber())
                                .setShape(shape)))
                .build();
    }

    private static AttributeProto attribute(String name, Object value) {
        AttributeProto.Builder a = AttributeProto.newBuilder().setName(name);
        if (value instanceof Long l) {
            a.setType(AttributeProto.AttributeType.INT).setI(l);
        } else if (value instanceof Integer i) {
            a.setType(AttributeProto.AttributeType.INT).setI(i);
        } else if (value instanceof Float f) {
            a.setType(AttributeProto.AttributeType.FLOAT).setF(f);
        } else if (value instanceof long[] ls) {
            a.setType(AttributeProto.AttributeType.INTS);
            for (long l : ls) {
                a.addInts(l);
            }
        } else if (value instanceof String s) {
            a.setType(AttributeProto.AttributeType.STRING).setS(ByteString.copyFromUtf8(s));
        } else {
            throw new IllegalArgumentException("unsupported attribute type for " + name + ": " + value);
        }
        return a.build();
    }
}
