package dev.duoguard.common.serde;

import io.apicurio.registry.serde.avro.AvroSerde;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Serde;

/**
 * Avro serdes backed by a real schema registry through Apicurio's v3 Kafka serdes, which write the Confluent wire
 * format (magic byte 0, 4-byte schema id, Avro binary); the id resolves through the registry's Confluent-compatible
 * API too, so Confluent consumers can read our topics. Schemas are registered on first use.
 */
public final class RegistryAvroSerdes implements AvroSerdes {

    private final Map<String, Object> config;
    private final String registryUrl;
    private volatile HttpClient http;

    public RegistryAvroSerdes(String registryUrl) {
        this.registryUrl = registryUrl.endsWith("/") ? registryUrl.substring(0, registryUrl.length() - 1) : registryUrl;
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

    /**
     * The wire format's 4-byte id is the registry's content id (what the Confluent-compatible API serves as
     * {@code /schemas/ids/{id}}), looked up as {@code GET /ids/contentIds/{id}} on the v3 API.
     */
    @Override
    public SchemaIds schemaIds() {
        return id -> {
            try {
                HttpResponse<Void> r = client().send(
                                HttpRequest.newBuilder(URI.create(registryUrl + "/ids/contentIds/" + id))
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
            c = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build();
            http = c;
        }
        return c;
    }
}
