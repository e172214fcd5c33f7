package dev.duoguard.streams.model;

import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.schemas.ModelStatus;
import dev.duoguard.schemas.ModelVersion;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * Follows {@code guardrail.models} for the model this instance serves: every ACTIVE record (the pointer, keyed by
 * model name) for another version is fetched, verified (every file's sha256 against the bundle manifest, the
 * manifest's sha256 against the record, the ONNX signature and the 12 categories when it loads) and swapped in
 * while the old model keeps serving. A version that fails any of this is reported as FAILED with the reason
 * (key model@version) and the old model keeps serving. Each instance reads the whole topic without a consumer
 * group, so all instances see every record; an instance that starts later starts on the newest ACTIVE version
 * that verifies ({@link #activeHistory}), which is the one the running instances serve.
 */
public final class ModelWatcher implements Runnable, AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ModelWatcher.class);

    private final String bootstrap;
    private final String topic;
    private final Deserializer<ModelVersion> values;
    private final KafkaProducer<String, ModelVersion> producer;
    private final String modelName;
    private final Consumer<Path> swap;
    private final java.util.function.Supplier<String> servingVersion;
    private final AtomicBoolean running = new AtomicBoolean(true);
    private volatile KafkaConsumer<String, ModelVersion> consumer;

    /** @param swap loads and swaps in a verified bundle; throws when it cannot (the old model keeps serving) */
    public ModelWatcher(String bootstrap, String topic, Deserializer<ModelVersion> values,
                        Serializer<ModelVersion> failures, String modelName, Consumer<Path> swap,
                        java.util.function.Supplier<String> servingVersion) {
        this.bootstrap = bootstrap;
        this.topic = topic;
        this.values = values;
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        this.producer = new KafkaProducer<>(p, new StringSerializer(), failures);
        this.modelName = modelName;
        this.swap = swap;
        this.servingVersion = servingVersion;
    }

    /** The ACTIVE pointers for {@code modelName} in topic order, oldest first (what compaction has left). */
    public static List<ModelVersion> activeHistory(String bootstrap, String topic, Deserializer<ModelVersion> values,
                                                   String modelName) {
        try (KafkaConsumer<String, ModelVersion> c = consumer(bootstrap, values)) {
            List<ModelVersion> out = new ArrayList<>();
            List<TopicPartition> parts = partitions(c, topic);
            if (parts.isEmpty()) {
                return out;
            }
            c.assign(parts);
            c.seekToBeginning(parts);
            Map<TopicPartition, Long> end = c.endOffsets(parts);
            while (parts.stream().anyMatch(tp -> c.position(tp) < end.get(tp))) {
                for (ConsumerRecord<String, ModelVersion> r : c.poll(Duration.ofMillis(200))) {
                    if (isActivePointer(r, modelName)) {
                        out.add(r.value());
                    }
                }
            }
            return out;
        }
    }

    private static boolean isActivePointer(ConsumerRecord<String, ModelVersion> r, String modelName) {
        return r.value() != null && modelName.equals(r.key()) && r.value().getStatus() == ModelStatus.ACTIVE
                && modelName.equals(r.value().getModelName());
    }

    private static KafkaConsumer<String, ModelVersion> consumer(String bootstrap, Deserializer<ModelVersion> values) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, "false");   // the models topic must be compacted
        return new KafkaConsumer<>(p, new StringDeserializer(), values);
    }

    private static List<TopicPartition> partitions(KafkaConsumer<?, ?> c, String topic) {
        List<TopicPartition> out = new ArrayList<>();
        List<PartitionInfo> infos = c.partitionsFor(topic, Duration.ofSeconds(10));
        if (infos != null) {
            infos.forEach(i -> out.add(new TopicPartition(topic, i.partition())));
        }
        return out;
    }

    /**
     * The bundle directory of {@code mv} after checking it: every file against the manifest, the manifest against
     * the record's sha256, the version against the record's. Throws with the reason otherwise.
     */
    public static Path verify(ModelVersion mv) {
        Path bundle = artifactPath(mv.getArtifactUri());
        ModelBundle opened = ModelBundle.open(bundle);
        if (!opened.manifestSha256().equals(mv.getSha256())) {
            throw new IllegalStateException("checksum mismatch: the manifest's sha256 is " + opened.manifestSha256()
                    + " but the record says " + mv.getSha256());
        }
        if (!opened.manifest().version().equals(mv.getVersion())) {
            throw new IllegalStateException("the bundle is version " + opened.manifest().version()
                    + " but the record says " + mv.getVersion());
        }
        return bundle;
    }

    /** Fetches, verifies and swaps in {@code mv}; on any failure reports FAILED and keeps the current model. */
    public boolean apply(ModelVersion mv) {
        try {
            swap.accept(verify(mv));
            return true;
        } catch (RuntimeException | OutOfMemoryError e) {
            String reason = String.valueOf(e.getMessage());
            log.error("model {}@{} FAILED, still serving {}: {}", mv.getModelName(), mv.getVersion(),
                    servingVersion.get(), reason);
            ModelVersion failed = ModelVersion.newBuilder(mv).setStatus(ModelStatus.FAILED).setStatusReason(reason)
                    .setCreatedAt(Instant.now()).build();
            try {
                producer.send(new ProducerRecord<>(topic, mv.getModelName() + "@" + mv.getVersion(), failed)).get();
            } catch (Exception sendFailure) {
                log.warn("could not report {}@{} as FAILED: {}", mv.getModelName(), mv.getVersion(), sendFailure.toString());
            }
            return false;
        }
    }

    private void applyIfNew(ModelVersion mv) {
        if (!mv.getVersion().equals(servingVersion.get())) {
            log.info("models topic: {}@{} is ACTIVE; loading it", modelName, mv.getVersion());
            apply(mv);
        }
    }

    static Path artifactPath(String uri) {
        URI u = URI.create(uri);
        if (u.getScheme() == null) {
            return Path.of(uri);
        }
        if (!u.getScheme().equals("file")) {
            throw new IllegalArgumentException("artifact " + uri + ": only file: URIs (a local or shared volume) are "
                    + "supported");
        }
        return Path.of(u);
    }

    /**
     * Reads the topic from the start: while catching up it only remembers the latest ACTIVE pointer (history is
     * not replayed), applies it once caught up if this instance serves another version, then applies every new
     * ACTIVE pointer as it arrives.
     */
    @Override
    public void run() {
        try (KafkaConsumer<String, ModelVersion> c = consumer(bootstrap, values)) {
            consumer = c;
            List<TopicPartition> parts = List.of();
            while (running.get() && parts.isEmpty()) {
                parts = partitions(c, topic);
            }
            c.assign(parts);
            c.seekToBeginning(parts);
            Map<TopicPartition, Long> end = c.endOffsets(parts);
            boolean caughtUp = false;
            ModelVersion latest = null;
            while (running.get()) {
                for (ConsumerRecord<String, ModelVersion> r : c.poll(Duration.ofMillis(500))) {
                    if (!isActivePointer(r, modelName)) {
                        continue;
                    }
                    if (caughtUp) {
                        applyIfNew(r.value());
                    } else {
                        latest = r.value();
                    }
                }
                if (!caughtUp && parts.stream().allMatch(tp -> c.position(tp) >= end.get(tp))) {
                    caughtUp = true;
                    if (latest != null) {
                        applyIfNew(latest);
                    }
                }
            }
        } catch (org.apache.kafka.common.errors.WakeupException e) {
            if (running.get()) {
                throw e;
            }
        }
    }

    @Override
    public void close() {
        running.set(false);
        KafkaConsumer<String, ModelVersion> c = consumer;
        if (c != null) {
            c.wakeup();
        }
        producer.close(Duration.ofSeconds(5));
    }
}
