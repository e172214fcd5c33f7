package dev.duoguard.streams.serde;

import io.apicurio.registry.serde.avro.AvroSerde;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Serde;

import java.util.Map;

/**
 * Avro serdes backed by a real schema registry through Apicurio's v3 Kafka serdes, which write the Confluent wire
 * format (magic byte 0, 4-byte schema id, Avro binary); the id resolves through the registry's Confluent-compatible
 * API too, so Confluent consumers can read our topics. Schemas are registered on first use.
 */
public final class RegistryAvroSerdes implements AvroSerdes {

    private final Map<String, Object> config;

    public RegistryAvroSerdes(String registryUrl) {
        this.config = Map.of(
                "apicurio.registry.url", registryUrl,
                "apicurio.registry.auto-register", "true",
                "apicurio.registry.find-latest", "true",
                "apicurio.registry.use-specific-avro-reader", "true");
    }

    @Override
    public <T extends SpecificRecord> Serde<T> value(Class<T> type) {
        AvroSerde<T> serde = new AvroSerde<>();
        serde.configure(config, false);
        return serde;
    }
}
