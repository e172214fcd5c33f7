package dev.duoguard.common.serde;

import io.apicurio.registry.serde.avro.DefaultAvroDatumProvider;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import org.apache.avro.Schema;
import org.apache.avro.io.DatumReader;
import org.apache.avro.io.DatumWriter;
import org.apache.avro.specific.SpecificRecord;

/**
 * Apicurio's datum provider with its readers and writers cached by schema <em>instance</em>.
 *
 * <p>Why: {@link DefaultAvroDatumProvider} already caches them, but by the schema's parsing fingerprint, which it
 * computes (normalise the schema to canonical form, then a 64-bit Rabin hash) for every record it reads or
 * writes: 7 % of the stream thread at capacity in the pipeline profile (docs/pipeline-profile.md). The schemas it is
 * handed change rarely: a specific record's static {@code SCHEMA$}, and the resolver's cached schema per registry
 * id, which Apicurio fetches and parses again once its entry expires ({@code apicurio.registry.check-period-ms},
 * 30 s by default), so a reader sees a new instance of the same schema now and then. An identity lookup finds the
 * current instance without hashing its content; a new instance goes to the default provider once (whose fingerprint
 * cache still shares one reader between equal schemas) and is remembered. When {@link #MAX_INSTANCES} instances are
 * remembered the cache starts again empty: the expired instances go, the live ones come back at their next record.
 */
public final class SchemaInstanceDatumProvider<T> extends DefaultAvroDatumProvider<T> {

    static final int MAX_INSTANCES = 1024;

    /** Identity key: a schema's own equals and hashCode compare content. */
    private record Instance(Schema schema, boolean specific) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Instance other && other.schema == schema && other.specific == specific;
        }

        @Override
        public int hashCode() {
            return System.identityHashCode(schema) * 31 + (specific ? 1 : 0);
        }
    }

    private final Map<Instance, DatumReader<T>> readers = new ConcurrentHashMap<>();
    private final Map<Instance, DatumWriter<T>> writers = new ConcurrentHashMap<>();

    public SchemaInstanceDatumProvider() {}

    @Override
    public DatumReader<T> createDatumReader(Schema schema) {
        return cached(readers, new Instance(schema, false), () -> super.createDatumReader(schema));
    }

    @Override
    public DatumWriter<T> createDatumWriter(T data, Schema schema) {
        return cached(
                writers,
                new Instance(schema, data instanceof SpecificRecord),
                () -> super.createDatumWriter(data, schema));
    }

    private static <V> V cached(Map<Instance, V> cache, Instance key, Supplier<V> create) {
        V v = cache.get(key);
        if (v != null) {
            return v;
        }
        v = create.get();
        if (cache.size() >= MAX_INSTANCES) {
            cache.clear();
        }
        cache.putIfAbsent(key, v);
        return v;
    }

    /** Number of schema instances cached (readers plus writers): for tests. */
    int cachedInstances() {
        return readers.size() + writers.size();
    }
}
