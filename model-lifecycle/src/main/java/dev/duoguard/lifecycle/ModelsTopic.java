package dev.duoguard.lifecycle;

import dev.duoguard.common.kafka.KafkaConnection;
import dev.duoguard.common.serde.SchemaIds;
import dev.duoguard.schemas.ModelStatus;
import dev.duoguard.schemas.ModelVersion;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The models topic ({@code guardrail.models}) as every side reads and writes it. A version's own records
 * (CANDIDATE, FAILED) are keyed by its {@link ModelKey}; the ACTIVE pointer by the model name alone. The trainer
 * publishes candidates and reads the ACTIVE history; the streams apps follow the pointer; operators act here
 * ({@code ./duoguard models}): list the records, promote a version (write the ACTIVE pointer for it), roll back
 * (point ACTIVE at the version that was ACTIVE before the current one). Every streams-app instance's model watcher
 * then swaps. Rollback reads the pointer's history on the topic, so keep the topic's {@code min.compaction.lag.ms}
 * longer than the window in which rollbacks may be wanted.
 */
public final class ModelsTopic {

    /** A record with its key. */
    public record Entry(String key, ModelVersion value) {}

    private final KafkaConnection kafka;
    private final String topic;
    private final Deserializer<ModelVersion> values;
    private final Serializer<ModelVersion> serializer;
    private SchemaIds schemaIds = NO_REGISTRY;

    /** Without a registry to ask, a record that fails to decode is taken as undecodable. */
    public static final SchemaIds NO_REGISTRY = id -> SchemaIds.Presence.FOUND;

    public ModelsTopic(
            KafkaConnection kafka,
            String topic,
            Deserializer<ModelVersion> values,
            Serializer<ModelVersion> serializer) {
        this.kafka = kafka;
        this.topic = topic;
        this.values = values;
        this.serializer = serializer;
    }

    /**
     * Asks {@code ids} when a record fails to decode, so that an unreachable registry fails the read instead of
     * skipping the record as undecodable (see {@link SchemaIds}).
     */
    public ModelsTopic schemaIds(SchemaIds ids) {
        this.schemaIds = ids;
        return this;
    }

    /**
     * Every record on the topic, in order (undecodable ones are logged and skipped, tombstones left out); throws
     * an IllegalStateException naming the registry when it does not answer (nothing is skipped for an outage).
     */
    public List<Entry> read() {
        List<Entry> out = new ArrayList<>();
        try {
            ModelRecords.readAll(kafka, topic, values, schemaIds, (key, value) -> {
                if (value != null) {
                    out.add(new Entry(key, value));
                }
            });
        } catch (ModelRecords.RegistryUnavailable e) {
            throw new IllegalStateException(
                    "cannot read " + topic + ": " + e.getMessage() + "; start again once the schema registry answers",
                    e);
        }
        return out;
    }

    /**
     * The versions of {@code modelName} an instance may serve, newest first: each version the ACTIVE pointer named,
     * once (at the place of its last pointer), unless its own FAILED record came after that pointer. The same rule
     * as {@link ModelsState} catching up: a version that was tried and failed is not tried again until the pointer
     * names it again (an operator promoting it anew). Starting instances try these in order, and the trainer takes
     * the first that verifies as its yardstick, so both agree with the instances that are running.
     */
    public static List<ModelVersion> servable(List<Entry> records, String modelName) {
        Map<ModelKey, Integer> lastPointer = new HashMap<>();
        Map<ModelKey, Integer> lastFailed = new HashMap<>();
        for (int i = 0; i < records.size(); i++) {
            Entry e = records.get(i);
            if (e.value() == null) {
                continue;
            }
            if (isActivePointer(e.key(), e.value(), modelName)) {
                lastPointer.put(ModelKey.of(e.value()), i);
            } else if (e.value().getStatus() == ModelStatus.FAILED
                    && ModelKey.of(e.value()).toString().equals(e.key())) {
                lastFailed.put(ModelKey.of(e.value()), i);
            }
        }
        List<ModelVersion> out = new ArrayList<>();
        for (int i = records.size() - 1; i >= 0; i--) {
            Entry e = records.get(i);
            if (e.value() == null || !isActivePointer(e.key(), e.value(), modelName)) {
                continue;
            }
            ModelKey k = ModelKey.of(e.value());
            if (lastPointer.get(k) == i && lastFailed.getOrDefault(k, -1) < i) {
                out.add(e.value());
            }
        }
        return out;
    }

    /** {@link #servable} of what the topic holds now (read_committed, to its end). */
    public List<ModelVersion> servable(String modelName) {
        return servable(read(), modelName);
    }

    /**
     * True for the ACTIVE pointer of {@code modelName}: keyed by the name alone, where a version's own records
     * (CANDIDATE, FAILED) are keyed by its {@link ModelKey}.
     */
    public static boolean isActivePointer(String key, ModelVersion value, String modelName) {
        return value != null
                && modelName.equals(key)
                && value.getStatus() == ModelStatus.ACTIVE
                && modelName.equals(value.getModelName());
    }

    /** {@code mv} marked FAILED with {@code reason}, now: the record to write under its {@link ModelKey}. */
    public static ModelVersion failed(ModelVersion mv, String reason) {
        return ModelVersion.newBuilder(mv)
                .setStatus(ModelStatus.FAILED)
                .setStatusReason(reason)
                .setCreatedAt(Instant.now())
                .build();
    }

    /** {@code mv} made ACTIVE with {@code reason}, now: the pointer to write under the model name. */
    public static ModelVersion active(ModelVersion mv, String reason) {
        return ModelVersion.newBuilder(mv)
                .setStatus(ModelStatus.ACTIVE)
                .setStatusReason(reason)
                .setCreatedAt(Instant.now())
                .build();
    }

    /** Marks {@code mv} FAILED with {@code reason}. */
    public ModelVersion fail(ModelVersion mv, String reason) {
        ModelVersion record = failed(mv, reason);
        send(ModelKey.of(mv).toString(), record);
        return record;
    }

    /** Makes {@code version} of {@code name} ACTIVE; the version must have been published (any record of it). */
    public ModelVersion promote(String name, String version, String reason) {
        ModelVersion active = active(usable(name, version), reason);
        send(name, active);
        return active;
    }

    /** The newest record of {@code version} of {@code name} that is not FAILED: what a promotion points at. */
    public ModelVersion usable(String name, String version) {
        ModelKey key = new ModelKey(name, version);
        ModelVersion known = null;
        for (Entry e : read()) {
            if (ModelKey.of(e.value()).equals(key) && e.value().getStatus() != ModelStatus.FAILED) {
                known = e.value();
            }
        }
        if (known == null) {
            throw new IllegalArgumentException("no usable record of " + key + " on " + topic);
        }
        return known;
    }

    /** Points ACTIVE at the version that was ACTIVE before the current one. */
    public ModelVersion rollback(String name) {
        List<ModelVersion> pointers = read().stream()
                .filter(e -> isActivePointer(e.key(), e.value(), name))
                .map(Entry::value)
                .toList();
        if (pointers.isEmpty()) {
            throw new IllegalStateException(name + " has no ACTIVE version on " + topic);
        }
        String current = pointers.get(pointers.size() - 1).getVersion();
        for (int i = pointers.size() - 2; i >= 0; i--) {
            if (!pointers.get(i).getVersion().equals(current)) {
                ModelVersion back = active(pointers.get(i), "rollback from " + current);
                send(name, back);
                return back;
            }
        }
        throw new IllegalStateException(
                "no earlier ACTIVE version of " + name + " on " + topic + " (compaction may have removed it)");
    }

    private void send(String key, ModelVersion value) {
        Map<String, Object> p = kafka.clientProperties();
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        try (KafkaProducer<String, ModelVersion> producer =
                new KafkaProducer<>(p, new StringSerializer(), serializer)) {
            producer.send(new ProducerRecord<>(topic, key, value)).get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof AuthorizationException denied) {
                throw new IllegalStateException(
                        "not authorized to write to " + topic + " as the principal of " + kafka + ": "
                                + denied.getMessage(),
                        denied);
            }
            throw new IllegalStateException("cannot write to " + topic + ": " + e.getMessage(), e);
        } catch (Exception e) {
            throw new IllegalStateException("cannot write to " + topic + ": " + e.getMessage(), e);
        }
    }
}
