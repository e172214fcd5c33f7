package dev.duoguard.common.serde;

import dev.duoguard.common.registry.RegistryConnection;
import io.apicurio.registry.serde.avro.AvroSerde;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Serde;

/**
 * Avro serdes backed by a real schema registry through Apicurio's v3 Kafka serdes, which write the Confluent wire
 * format (magic byte 0, 4-byte schema id, Avro binary); the id resolves through the registry's Confluent-compatible
 * API too, so Confluent consumers can read our topics. The {@link RegistryConnection} says where the registry is,
 * how to authenticate and trust it, and whether a schema the serializer does not find is registered ({@code
 * registry.auto-register}, the demo's registry) or an error (production: {@code ./duoguard schemas register}
 * registers them once, with a principal that may write).
 *
 * <p>A serializer that does not register looks its schema up by content, not as the subject's latest version: it
 * writes the id of exactly the schema this build writes with, whatever a newer producer registered since.
 */
public final class RegistryAvroSerdes implements AvroSerdes {

    /**
     * Apicurio's strategy that files a schema under its record's full name instead of under the topic: see
     * {@link #internal}.
     */
    private static final String RECORD_ID_STRATEGY = "io.apicurio.registry.serde.avro.strategy.RecordIdStrategy";

    /**
     * Apicurio's resolver logs every lookup by content at INFO with the whole schema (java.util.logging, to
     * stderr; the logger is named by the class's simple name): held here, set to warnings only, so that a start-up
     * check does not print every schema.
     */
    private static final Logger RESOLVER_LOG = Logger.getLogger("DefaultSchemaResolver");

    static {
        RESOLVER_LOG.setLevel(Level.WARNING);
    }

    private final RegistryConnection connection;
    private final Map<String, Object> config;
    private volatile HttpClient http;

    public RegistryAvroSerdes(RegistryConnection connection) {
        this.connection = connection;
        Map<String, Object> c = new HashMap<>(connection.serdeProperties());
        c.put("apicurio.registry.use-specific-avro-reader", "true");
        c.put("apicurio.registry.dereference-schema", "true");
        c.put("apicurio.registry.avro-datum-provider", SchemaInstanceDatumProvider.class.getName());
        this.config = Map.copyOf(c);
    }

    public RegistryConnection connection() {
        return connection;
    }

    @Override
    public <T extends SpecificRecord> Serde<T> value(Class<T> type) {
        return serde(config);
    }

    /**
     * Schemas of the streams app's own changelog and repartition topics are filed under the record's full name
     * (group = namespace, artifact = name): those topics are named after the application id, so filing them by topic
     * would make {@code schemas register} depend on each deployment's application id and Kafka Streams' naming.
     * Records already written decode either way: the wire format carries the schema's content id.
     */
    @Override
    public <T extends SpecificRecord> Serde<T> internal(Class<T> type) {
        Map<String, Object> c = new HashMap<>(config);
        c.put("apicurio.registry.artifact-resolver-strategy", RECORD_ID_STRATEGY);
        return serde(c);
    }

    private static <T> Serde<T> serde(Map<String, Object> config) {
        AvroSerde<T> serde = new AvroSerde<>();
        serde.configure(config, false);
        return serde;
    }

    /**
     * Resolves the schema of {@code type} the way the serializer does for each record, by serializing a sample
     * record for {@code topic} ({@code internal}: with the {@link #internal} serde): registers it when auto-register
     * is on and it is missing, else finds it. Returns the id the serializer writes.
     *
     * @throws RuntimeException what the serializer throws: the schema is not there ({@link
     *     RegistryErrors#isNotFound}), the registry refused the credentials or the write, or did not answer
     */
    public <T extends SpecificRecord> int resolve(String topic, Class<T> type, boolean internal) {
        Serde<T> serde = internal ? internal(type) : value(type);
        try (serde) {
            byte[] bytes = serde.serializer().serialize(topic, SampleRecords.of(type));
            T back = serde.deserializer().deserialize(topic, bytes);
            if (!type.isInstance(back)) {
                throw new IllegalStateException("the sample " + type.getSimpleName() + " did not decode back");
            }
            return ByteBuffer.wrap(bytes, 1, 4).getInt();
        }
    }

    /**
     * The wire format's 4-byte id is the registry's content id (what the Confluent-compatible API serves as
     * {@code /schemas/ids/{id}}), looked up as {@code GET /ids/contentIds/{id}} on the v3 API, with the connection's
     * credentials and truststore. A 401 or 403 is UNREACHABLE: a credentials problem, not a missing schema, so a
     * record is never dead-lettered for it.
     */
    @Override
    public SchemaIds schemaIds() {
        return id -> {
            try {
                HttpResponse<Void> r = client().send(
                                connection
                                        .authorize(HttpRequest.newBuilder(
                                                URI.create(connection.url() + "/ids/contentIds/" + id)))
                                        .timeout(Duration.ofSeconds(3))
                                        .GET()
                                        .build(),
                                HttpResponse.BodyHandlers.discarding());
                return switch (r.statusCode()) {
                    case 200 -> SchemaIds.Presence.FOUND;
                    case 404 -> SchemaIds.Presence.NOT_FOUND;
                    default -> SchemaIds.Presence.UNREACHABLE;
                };
            } catch (IOException | RuntimeException e) {
                return SchemaIds.Presence.UNREACHABLE;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return SchemaIds.Presence.UNREACHABLE;
            }
        };
    }

    private HttpClient client() {
        HttpClient c = http;
        if (c == null) {
            c = connection.httpClient();
            http = c;
        }
        return c;
    }
}
