package dev.duoguard.streams.topology;

import dev.duoguard.common.serde.RegistryErrors;
import dev.duoguard.common.serde.SchemaIds;
import java.time.Duration;
import org.apache.kafka.common.serialization.Deserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Decodes a record value in the Confluent wire format into {@code T}, telling bad content from a registry that is
 * down. Content that can never decode is {@link Rejected} with its dead-letter reason. When decoding fails, the
 * registry is asked whether the schema id exists ({@link SchemaIds}): absent means UNKNOWN_SCHEMA_ID, present means
 * the bytes are bad (after one more try, in case the registry came back in between), unreachable means the record is
 * fine and must wait: the decoder retries with backoff (100 ms doubling to 2 s) for up to {@code retryBudget} on the
 * stream thread, so the partition waits, then throws {@link RegistryUnavailable}, which replaces the stream thread
 * and reads the record again. Nothing good is dead-lettered during a registry outage.
 */
final class WireDecoder<T> {

    private static final Logger log = LoggerFactory.getLogger(WireDecoder.class);

    private final Deserializer<?> deserializer;
    private final Class<T> type;
    private final SchemaIds schemaIds;
    private final Duration retryBudget;

    WireDecoder(Deserializer<?> deserializer, Class<T> type, SchemaIds schemaIds, Duration retryBudget) {
        this.deserializer = deserializer;
        this.type = type;
        this.schemaIds = schemaIds;
        this.retryBudget = retryBudget;
    }

    T decode(String topic, byte[] value) {
        if (value == null) {
            throw new Rejected(DeadLetter.NULL_VALUE, "record value is null (tombstone)");
        }
        if (value.length < 5 || value[0] != 0) {
            throw new Rejected(
                    DeadLetter.NOT_WIRE_FORMAT,
                    "expected the Confluent wire format (magic byte 0, 4-byte "
                            + "schema id, Avro binary) but got " + value.length + " bytes starting with "
                            + (value.length == 0 ? "nothing" : String.format("0x%02X", value[0])));
        }
        int id = ((value[1] & 0xFF) << 24) | ((value[2] & 0xFF) << 16) | ((value[3] & 0xFF) << 8) | (value[4] & 0xFF);
        long giveUp = System.nanoTime() + retryBudget.toNanos();
        long backoffMs = 100;
        boolean schemaSeen = false;
        while (true) {
            Object decoded;
            try {
                decoded = deserializer.deserialize(topic, value);
            } catch (RuntimeException e) {
                SchemaIds.Presence presence = schemaIds.lookup(id);
                if (presence == SchemaIds.Presence.NOT_FOUND) {
                    throw new Rejected(
                            DeadLetter.UNKNOWN_SCHEMA_ID,
                            "the registry has no schema id " + id + ": " + RegistryErrors.describe(e));
                }
                if (presence == SchemaIds.Presence.FOUND) {
                    if (schemaSeen) {
                        throw new Rejected(
                                DeadLetter.UNDECODABLE,
                                "cannot decode with schema id " + id + ": " + RegistryErrors.describe(e));
                    }
                    schemaSeen = true;
                    continue;
                }
                if (System.nanoTime() + backoffMs * 1_000_000 > giveUp) {
                    throw new RegistryUnavailable(
                            "the schema registry did not answer for schema id " + id + " within "
                                    + retryBudget.toMillis()
                                    + " ms (registry.retry-budget-ms); the record will be read "
                                    + "again: " + RegistryErrors.describe(e),
                            e);
                }
                log.warn(
                        "schema registry unreachable while decoding schema id {} on {}; retrying in {} ms: {}",
                        id,
                        topic,
                        backoffMs,
                        RegistryErrors.describe(e));
                sleep(backoffMs);
                backoffMs = Math.min(backoffMs * 2, 2_000);
                continue;
            }
            if (!type.isInstance(decoded)) {
                throw new Rejected(
                        DeadLetter.WRONG_RECORD_TYPE,
                        "expected a " + type.getSimpleName() + " but the record is a "
                                + (decoded == null ? "null" : decoded.getClass().getName()));
            }
            return type.cast(decoded);
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RegistryUnavailable("interrupted while waiting for the schema registry", e);
        }
    }

    /** A record that can never be processed, with its dead-letter reason. */
    static final class Rejected extends RuntimeException {
        final DeadLetter reason;

        Rejected(DeadLetter reason, String message) {
            super(message, null, false, false);
            this.reason = reason;
        }
    }

    /**
     * The registry stayed unreachable for the whole retry budget. Thrown out of the processor: the stream thread is
     * replaced and the record is read again from the last commit, so it waits instead of being dead-lettered.
     */
    static final class RegistryUnavailable extends RuntimeException {
        RegistryUnavailable(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
