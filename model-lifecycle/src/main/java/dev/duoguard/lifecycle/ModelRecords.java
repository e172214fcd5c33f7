package dev.duoguard.lifecycle;

import dev.duoguard.common.kafka.KafkaConnection;
import dev.duoguard.common.serde.RegistryErrors;
import dev.duoguard.common.serde.SchemaIds;
import dev.duoguard.schemas.ModelVersion;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reading {@code guardrail.models}. Records are fetched as bytes and decoded one by one: with a value
 * deserializer in the consumer, one record that does not decode (garbage bytes, a schema id the registry does not
 * know) makes every poll throw at the same offset, and compaction keeps that record for as long as its key has
 * no newer one, so every reader, on every restart, would stop there.
 */
public final class ModelRecords {

    private static final Logger log = LoggerFactory.getLogger(ModelRecords.class);

    /** Why a record could not be decoded into a {@link ModelVersion}. */
    public static final class Undecodable extends Exception {
        Undecodable(String reason) {
            super(reason);
        }
    }

    private ModelRecords() {}

    public static KafkaConsumer<String, byte[]> consumer(KafkaConnection kafka) {
        Map<String, Object> p = kafka.clientProperties();
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, "false"); // the models topic must be compacted
        return new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
    }

    /** The topic's partitions, or none when it does not exist (yet). */
    public static List<TopicPartition> partitions(KafkaConsumer<?, ?> c, String topic) {
        List<TopicPartition> out = new ArrayList<>();
        List<PartitionInfo> infos = c.partitionsFor(topic, Duration.ofSeconds(10));
        if (infos != null) {
            infos.forEach(i -> out.add(new TopicPartition(topic, i.partition())));
        }
        return out;
    }

    /**
     * Assigns {@code parts} to {@code c} from their start and returns where they end now: reading until
     * {@link #reached} reads the topic as it was at this call. The one way to read the models topic to its end,
     * for the tools and for the model watcher's catching up; with the {@link #consumer}'s read_committed, the end
     * is the last stable offset, so a transaction still open is not waited for.
     */
    public static Map<TopicPartition, Long> fromStart(KafkaConsumer<?, ?> c, List<TopicPartition> parts) {
        c.assign(parts);
        c.seekToBeginning(parts);
        return c.endOffsets(parts);
    }

    /** True once {@code c} has read each of {@code parts} to {@code end} (one without an end there: at once). */
    public static boolean reached(KafkaConsumer<?, ?> c, List<TopicPartition> parts, Map<TopicPartition, Long> end) {
        return parts.stream().allMatch(tp -> c.position(tp) >= end.getOrDefault(tp, 0L));
    }

    /**
     * The registry could not be reached while decoding a record: the record is fine and must be read again later,
     * not skipped (skipping an ACTIVE record would leave the instance on an old version until the next promotion).
     */
    public static final class RegistryUnavailable extends RuntimeException {
        RegistryUnavailable(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /**
     * The record's value, null for a tombstone; throws {@link Undecodable} with the reason when it can never be a
     * ModelVersion, {@link RegistryUnavailable} when the registry did not answer (asked through {@code schemaIds},
     * as the streams topology does: absent id or bad bytes are undecodable, no answer is transient).
     */
    public static ModelVersion decode(
            Deserializer<ModelVersion> values, SchemaIds schemaIds, ConsumerRecord<String, byte[]> r)
            throws Undecodable {
        byte[] bytes = r.value();
        if (bytes == null) {
            return null;
        }
        // checked here because a deserializer given bytes without the magic byte may guess instead of refusing
        if (bytes.length < 5 || bytes[0] != 0) {
            throw new Undecodable("not the registry wire format (magic byte 0, 4-byte schema id, Avro): "
                    + bytes.length + " bytes starting with "
                    + (bytes.length == 0 ? "nothing" : String.format("0x%02X", bytes[0])));
        }
        int id = ((bytes[1] & 0xFF) << 24) | ((bytes[2] & 0xFF) << 16) | ((bytes[3] & 0xFF) << 8) | (bytes[4] & 0xFF);
        Object decoded;
        try {
            decoded = values.deserialize(r.topic(), r.headers(), bytes);
        } catch (RuntimeException e) {
            SchemaIds.Presence presence =
                    RegistryErrors.isNotFound(e) ? SchemaIds.Presence.NOT_FOUND : schemaIds.lookup(id);
            if (presence == SchemaIds.Presence.UNREACHABLE) {
                throw new RegistryUnavailable(
                        "the schema registry did not answer for schema id " + id + " (record " + r.topic() + "-"
                                + r.partition() + "@" + r.offset() + "): " + RegistryErrors.describe(e),
                        e);
            }
            if (presence == SchemaIds.Presence.FOUND) {
                try { // the registry may have come back between the two calls
                    decoded = values.deserialize(r.topic(), r.headers(), bytes);
                } catch (RuntimeException again) {
                    throw new Undecodable("cannot decode with schema id " + id + ": " + RegistryErrors.describe(again));
                }
            } else {
                throw new Undecodable("schema id " + id + " is unknown to the registry");
            }
        }
        if (!(decoded instanceof ModelVersion mv)) {
            throw new Undecodable("schema id " + id + " is not a ModelVersion but "
                    + (decoded == null ? "null" : decoded.getClass().getName()));
        }
        return mv;
    }

    /**
     * Reads the topic from the start to its current end and gives each record's key and value (null for a
     * tombstone) to {@code each}, in order; undecodable records are logged and skipped; throws
     * {@link RegistryUnavailable} when the registry does not answer.
     */
    static void readAll(
            KafkaConnection kafka,
            String topic,
            Deserializer<ModelVersion> values,
            SchemaIds schemaIds,
            BiConsumer<String, ModelVersion> each) {
        try (KafkaConsumer<String, byte[]> c = consumer(kafka)) {
            List<TopicPartition> parts = partitions(c, topic);
            if (parts.isEmpty()) {
                return;
            }
            Map<TopicPartition, Long> end = fromStart(c, parts);
            while (!reached(c, parts, end)) {
                for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(200))) {
                    ModelVersion value;
                    try {
                        value = decode(values, schemaIds, r);
                    } catch (Undecodable e) {
                        log.warn(
                                "skipping undecodable record on {}-{} at offset {}: {}",
                                r.topic(),
                                r.partition(),
                                r.offset(),
                                e.getMessage());
                        continue;
                    }
                    each.accept(r.key(), value);
                }
            }
        }
    }
}
