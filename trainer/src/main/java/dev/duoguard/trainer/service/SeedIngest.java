package dev.duoguard.trainer.service;

import dev.duoguard.common.kafka.KafkaConnection;
import dev.duoguard.schemas.Seed;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Consumes {@code guardrail.seeds} into the {@link SeedStore}. Offsets are committed only after every record of a
 * poll is stored (forced to disk), and storing is idempotent by content hash, so a crash between the two re-reads
 * records that the store then ignores: each seed is stored exactly once, none is lost. Reads committed records only
 * (the streams app writes seeds in transactions). A record that does not decode is not dropped silently: its bytes
 * and the reason go to {@code rejected/} next to the store, where {@link #purgeRejected} deletes them after the
 * seeds' retention (they hold chat text the redactor never saw).
 */
public final class SeedIngest implements Runnable, AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(SeedIngest.class);

    private final KafkaConsumer<String, byte[]> consumer;
    private final Deserializer<Seed> values;
    private final String topic;
    private final SeedStore store;
    private final Path rejected;
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final AtomicLong stored = new AtomicLong();
    private final AtomicLong duplicates = new AtomicLong();
    private final AtomicLong rejectedCount = new AtomicLong();

    public SeedIngest(
            KafkaConnection kafka,
            String groupId,
            String topic,
            Deserializer<Seed> values,
            SeedStore store,
            Path rejected)
            throws IOException {
        Map<String, Object> p = kafka.clientProperties();
        p.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        this.consumer = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
        this.values = values;
        this.topic = topic;
        this.store = store;
        this.rejected = Files.createDirectories(rejected);
    }

    @Override
    public void run() {
        consumer.subscribe(List.of(topic));
        try {
            while (running.get()) {
                ConsumerRecords<String, byte[]> records = consumer.poll(Duration.ofMillis(500));
                for (ConsumerRecord<String, byte[]> r : records) {
                    handle(r);
                }
                if (!records.isEmpty()) {
                    consumer.commitSync();
                }
            }
        } catch (WakeupException e) {
            if (running.get()) {
                throw e;
            }
        } catch (IOException e) {
            log.error("seed store failed; stopping ingestion without committing (records will be re-read)", e);
        } finally {
            consumer.close();
        }
    }

    private void handle(ConsumerRecord<String, byte[]> r) throws IOException {
        Seed seed;
        try {
            seed = values.deserialize(r.topic(), r.headers(), r.value());
            if (seed == null) {
                throw new IllegalArgumentException("empty record");
            }
        } catch (RuntimeException e) {
            String name = r.topic() + "-" + r.partition() + "-" + r.offset();
            Files.write(rejected.resolve(name + ".bin"), r.value() == null ? new byte[0] : r.value());
            Files.writeString(rejected.resolve(name + ".txt"), String.valueOf(e));
            rejectedCount.incrementAndGet();
            log.warn("seed record {} does not decode ({}); kept in {}", name, e.getMessage(), rejected);
            return;
        }
        if (store.put(seed, Instant.now())) {
            stored.incrementAndGet();
        } else {
            duplicates.incrementAndGet();
        }
    }

    /**
     * Deletes the files of rejected records written more than {@code retention} before {@code now}; returns how
     * many records went. Rejected bytes were never decoded, so never redacted: they must not outlive the seeds.
     */
    public int purgeRejected(Duration retention, Instant now) throws IOException {
        Instant cutoff = now.minus(retention);
        int purged = 0;
        try (Stream<Path> files = Files.list(rejected)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                if (Files.getLastModifiedTime(f).toInstant().isBefore(cutoff)) {
                    Files.deleteIfExists(f);
                    if (f.getFileName().toString().endsWith(".bin")) {
                        purged++;
                    }
                }
            }
        }
        return purged;
    }

    public Map<String, Long> counts() {
        return Map.of("stored", stored.get(), "duplicates", duplicates.get(), "rejected", rejectedCount.get());
    }

    @Override
    public void close() {
        running.set(false);
        consumer.wakeup();
    }
}
