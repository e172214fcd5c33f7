package dev.duoguard.trainer.hf;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Hugging Face safetensors files: an 8-byte little-endian header length, a JSON header mapping tensor names to
 * dtype, shape and byte offsets, then the raw little-endian data. Reads F32/F16/BF16 (widened to fp32), single files
 * and sharded checkpoints ({@code model.safetensors.index.json}); writes single files in any of the three.
 * Every structural problem is refused with the tensor's name and what was expected.
 */
public final class Safetensors {

    public static final String SINGLE_FILE = "model.safetensors";
    public static final String INDEX_FILE = "model.safetensors.index.json";
    /** Headers above this are refused: real ones are kilobytes; a garbage length must not allocate gigabytes. */
    static final long MAX_HEADER_BYTES = 100L << 20;

    private static final ObjectMapper JSON = new ObjectMapper();

    private Safetensors() {}

    /** All tensors of a checkpoint directory (single file or sharded), by Hugging Face name, in file order. */
    public static Map<String, Tensor> readCheckpoint(Path dir) {
        Path index = dir.resolve(INDEX_FILE);
        if (Files.isRegularFile(index)) {
            JsonNode weightMap;
            try {
                weightMap = JSON.readTree(index.toFile()).get("weight_map");
            } catch (IOException e) {
                throw new IllegalArgumentException("cannot read " + index + ": " + e.getMessage(), e);
            }
            if (weightMap == null || !weightMap.isObject()) {
                throw new IllegalArgumentException(index + " has no 'weight_map' object");
            }
            Map<String, String> shardOf = new TreeMap<>();
            weightMap
                    .properties()
                    .forEach(e -> shardOf.put(e.getKey(), e.getValue().asText()));
            Map<String, Tensor> all = new LinkedHashMap<>();
            for (String shard : new TreeSet<>(shardOf.values())) {
                all.putAll(read(dir.resolve(shard)));
            }
            for (String name : shardOf.keySet()) {
                if (!all.containsKey(name)) {
                    throw new IllegalArgumentException(index + " maps tensor " + name + " to " + shardOf.get(name)
                            + " but that shard does not contain it");
                }
            }
            return all;
        }
        Path single = dir.resolve(SINGLE_FILE);
        if (!Files.isRegularFile(single)) {
            throw new IllegalArgumentException(dir + " has neither " + SINGLE_FILE + " nor " + INDEX_FILE);
        }
        return read(single);
    }

    /** Reads every tensor of one safetensors file. */
    public static Map<String, Tensor> read(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) {
                throw new IllegalArgumentException(file + " is " + size + " bytes: too short for a safetensors header");
            }
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(lenBuf, 0);
            long headerLen = lenBuf.getLong(0);
            if (headerLen <= 0 || headerLen > MAX_HEADER_BYTES || headerLen > size - 8) {
                throw new IllegalArgumentException(file + ": bad header length " + headerLen + " (file has " + size
                        + " bytes; the limit is " + MAX_HEADER_BYTES + ")");
            }
            ByteBuffer header = ByteBuffer.allocate((int) headerLen);
            ch.read(header, 8);
            JsonNode json;
            try {
                json = JSON.readTree(new String(header.array(), StandardCharsets.UTF_8));
            } catch (IOException e) {
                throw new IllegalArgumentException(file + ": the header is not valid JSON: " + e.getMessage(), e);
            }
            long dataStart = 8 + headerLen;
            long dataLen = size - dataStart;
            Map<String, Tensor> out = new LinkedHashMap<>();
            for (Map.Entry<String, JsonNode> e : json.properties()) {
                if (e.getKey().equals("__metadata__")) {
                    continue;
                }
                // older BERT/RoBERTa checkpoints also store the fixed buffer embeddings.position_ids (int64 0..n-1):
                // not a weight, and the exported graph computes positions itself
                if (e.getKey().endsWith("position_ids")
                        && "I64".equals(e.getValue().path("dtype").asText())) {
                    continue;
                }
                out.put(e.getKey(), readTensor(ch, file, e.getKey(), e.getValue(), dataStart, dataLen));
            }
            return out;
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    private static Tensor readTensor(
            FileChannel ch, Path file, String name, JsonNode info, long dataStart, long dataLen) throws IOException {
        DType dtype = DType.parse(info.path("dtype").asText(), name);
        JsonNode shapeNode = info.get("shape");
        JsonNode offsets = info.get("data_offsets");
        if (shapeNode == null || !shapeNode.isArray() || offsets == null || offsets.size() != 2) {
            throw new IllegalArgumentException(file + ": tensor " + name + " needs 'shape' and two 'data_offsets'");
        }
        long[] shape = new long[shapeNode.size()];
        for (int i = 0; i < shape.length; i++) {
            shape[i] = shapeNode.get(i).asLong();
            if (shape[i] < 0) {
                throw new IllegalArgumentException(file + ": tensor " + name + " has a negative dimension");
            }
        }
        long begin = offsets.get(0).asLong();
        long end = offsets.get(1).asLong();
        long numel = Tensor.numel(shape);
        if (begin < 0 || end < begin || end > dataLen) {
            throw new IllegalArgumentException(file + ": tensor " + name + " has data_offsets [" + begin + ", " + end
                    + "] outside the data section of " + dataLen + " bytes");
        }
        if (end - begin != numel * dtype.bytes) {
            throw new IllegalArgumentException(
                    file + ": tensor " + name + " of shape " + Arrays.toString(shape) + " in " + dtype + " needs "
                            + numel * dtype.bytes + " bytes but its offsets span " + (end - begin));
        }
        if (numel > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(
                    file + ": tensor " + name + " has " + numel + " values; more than a Java array holds");
        }
        ByteBuffer data = ch.map(FileChannel.MapMode.READ_ONLY, dataStart + begin, end - begin)
                .order(ByteOrder.LITTLE_ENDIAN);
        float[] values = new float[(int) numel];
        for (int i = 0; i < values.length; i++) {
            values[i] = dtype.read(data, i);
        }
        return new Tensor(name, shape, values);
    }

    /**
     * Writes a checkpoint directory the way Hugging Face does: one {@value #SINGLE_FILE} when the tensors fit in
     * {@code maxShardBytes}, else {@code model-0000i-of-0000n.safetensors} shards plus {@value #INDEX_FILE}.
     */
    public static void writeCheckpoint(Path dir, Map<String, Tensor> tensors, DType dtype, long maxShardBytes)
            throws IOException {
        Files.createDirectories(dir);
        List<List<Tensor>> shards = new ArrayList<>();
        List<Tensor> current = new ArrayList<>();
        long bytes = 0;
        long total = 0;
        for (Tensor t : tensors.values()) {
            long size = (long) t.data().length * dtype.bytes;
            if (!current.isEmpty() && bytes + size > maxShardBytes) {
                shards.add(current);
                current = new ArrayList<>();
                bytes = 0;
            }
            current.add(t);
            bytes += size;
            total += size;
        }
        shards.add(current);
        if (shards.size() == 1) {
            write(dir.resolve(SINGLE_FILE), current, dtype, Map.of("format", "pt"));
            return;
        }
        ObjectNode index = JSON.createObjectNode();
        index.putObject("metadata").put("total_size", total);
        ObjectNode map = index.putObject("weight_map");
        for (int i = 0; i < shards.size(); i++) {
            String name = String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size());
            write(dir.resolve(name), shards.get(i), dtype, Map.of("format", "pt"));
            for (Tensor t : shards.get(i)) {
                map.put(t.name(), name);
            }
        }
        JSON.writerWithDefaultPrettyPrinter().writeValue(dir.resolve(INDEX_FILE).toFile(), index);
    }

    /** Writes {@code tensors} (in iteration order) as one safetensors file in {@code dtype}. */
    public static void write(Path file, Iterable<Tensor> tensors, DType dtype, Map<String, String> metadata)
            throws IOException {
        ObjectNode header = JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode meta = header.putObject("__metadata__");
            metadata.forEach(meta::put);
        }
        List<Tensor> list = new ArrayList<>();
        long offset = 0;
        for (Tensor t : tensors) {
            ObjectNode info = header.putObject(t.name());
            info.put("dtype", dtype.name());
            var shape = info.putArray("shape");
            for (long d : t.shape()) {
                shape.add(d);
            }
            long bytes = (long) t.data().length * dtype.bytes;
            info.putArray("data_offsets").add(offset).add(offset + bytes);
            offset += bytes;
            list.add(t);
        }
        byte[] headerBytes = JSON.writeValueAsBytes(header);
        int padded = (headerBytes.length + 7) / 8 * 8; // the format pads the header with spaces to 8-byte alignment
        try (OutputStream out = Files.newOutputStream(file)) {
            ByteBuffer len =
                    ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded);
            out.write(len.array());
            out.write(headerBytes);
            for (int i = headerBytes.length; i < padded; i++) {
                out.write(' ');
            }
            for (Tensor t : list) {
                ByteBuffer buf =
                        ByteBuffer.allocate(t.data().length * dtype.bytes).order(ByteOrder.LITTLE_ENDIAN);
                for (float v : t.data()) {
                    dtype.write(buf, v);
                }
                out.write(buf.array());
            }
        }
    }
}
