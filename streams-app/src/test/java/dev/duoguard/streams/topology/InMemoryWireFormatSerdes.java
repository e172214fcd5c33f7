package dev.duoguard.streams.topology;

import dev.duoguard.common.serde.AvroSerdes;
import dev.duoguard.common.serde.SchemaIds;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.ConnectException;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.avro.Schema;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificDatumReader;
import org.apache.avro.specific.SpecificDatumWriter;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/**
 * Test-only: the Confluent wire format (magic 0, 4-byte id, Avro binary) with an in-memory id → schema table, for
 * TopologyTestDriver tests that should not need a registry process. Integration tests use the real registry.
 * Decoding resolves the writer schema by id and reads into the generated class of the same full name.
 */
public final class InMemoryWireFormatSerdes implements AvroSerdes {

    private final Map<Integer, Schema> byId = new ConcurrentHashMap<>();
    private final Map<Schema, Integer> ids = new ConcurrentHashMap<>();
    private final AtomicInteger nextId = new AtomicInteger(1);
    private volatile int unreachableLookups;

    /**
     * Simulates a registry outage: the next {@code n} lookups of an id the deserializer has not cached answer
     * UNREACHABLE, and decoding a record with such an id fails the way a refused connection does.
     */
    public void unreachableFor(int n) {
        unreachableLookups = n;
    }

    @Override
    public SchemaIds schemaIds() {
        return id -> {
            if (unreachableLookups > 0) {
                unreachableLookups--;
                return SchemaIds.Presence.UNREACHABLE;
            }
            return byId.containsKey(id) ? SchemaIds.Presence.FOUND : SchemaIds.Presence.NOT_FOUND;
        };
    }

    @Override
    public <T extends SpecificRecord> Serde<T> value(Class<T> type) {
        return Serdes.serdeFrom(serializer(), deserializer());
    }

    public <T extends SpecificRecord> Serializer<T> serializer() {
        return (topic, record) -> {
            if (record == null) {
                return null;
            }
            Schema schema = record.getSchema();
            int id = ids.computeIfAbsent(schema, s -> {
                int n = nextId.getAndIncrement();
                byId.put(n, s);
                return n;
            });
            try {
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                out.write(0);
                out.write(ByteBuffer.allocate(4).putInt(id).array());
                BinaryEncoder enc = EncoderFactory.get().binaryEncoder(out, null);
                new SpecificDatumWriter<T>(schema).write(record, enc);
                enc.flush();
                return out.toByteArray();
            } catch (IOException e) {
                throw new SerializationException(e);
            }
        };
    }

    @SuppressWarnings("unchecked")
    public <T extends SpecificRecord> Deserializer<T> deserializer() {
        return (topic, bytes) -> {
            if (bytes == null) {
                return null;
            }
            ByteBuffer buf = ByteBuffer.wrap(bytes);
            if (buf.remaining() < 5 || buf.get() != 0) {
                throw new SerializationException("not the Confluent wire format");
            }
            int id = buf.getInt();
            if (unreachableLookups > 0) {
                throw new SerializationException(
                        "cannot fetch schema " + id, new ConnectException("Connection refused"));
            }
            Schema writer = byId.get(id);
            if (writer == null) {
                throw new SerializationException("unknown schema id " + id);
            }
            Schema reader = SpecificData.get().getSchema(SpecificData.get().getClass(writer));
            try {
                BinaryDecoder dec = DecoderFactory.get().binaryDecoder(bytes, 5, bytes.length - 5, null);
                return (T) new SpecificDatumReader<>(writer, reader).read(null, dec);
            } catch (IOException | RuntimeException e) {
                throw new SerializationException("cannot decode Avro with schema id " + id + ": " + e.getMessage(), e);
            }
        };
    }
}
