package dev.duoguard.common.serde;

import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Serde;

/**
 * Where the topology gets its record-value serdes. Production uses {@link RegistryAvroSerdes} (Confluent wire
 * format through a real schema registry); topology unit tests pass an in-memory implementation of the same wire
 * format, the way Confluent's own tests use a mock registry scope.
 */
public interface AvroSerdes {

    <T extends SpecificRecord> Serde<T> value(Class<T> type);

    /**
     * The serde for a record of the app's own internal topics (state store changelogs, repartition topics), whose
     * names depend on the deployment; by default the same as {@link #value}.
     */
    default <T extends SpecificRecord> Serde<T> internal(Class<T> type) {
        return value(type);
    }

    /** The registry behind the serdes, asked whether a schema id exists (see {@link SchemaIds}). */
    SchemaIds schemaIds();
}
