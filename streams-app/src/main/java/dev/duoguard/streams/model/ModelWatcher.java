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
    /** What happened to a version on this instance (a metric label). */
    public enum Event {
        SWAPPED, FAILED, SHADOW_FAILED, SHADOW_PROMOTED, SHADOW_REJECTED;

        public String label() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    private Consumer<Event> events = e -> { };
    private ModelSlot slot;
    private java.util.function.BiFunction<ModelVersion, Path, Shadow> shadowLoader;
    private Shadow.Bounds bounds;
    private boolean autoPromote;

    /**
     * Enables shadow scoring: a CANDIDATE version of this model is verified, loaded by {@code loader} and put next
     * to the active model in {@code slot}; when {@code autoPromote}, the watcher writes the ACTIVE pointer for it
     * once its comparisons are inside {@code bounds}, or marks it FAILED when they are not.
     */
    public ModelWatcher shadowing(ModelSlot slot, java.util.function.BiFunction<ModelVersion, Path, Shadow> loader,
                                  Shadow.Bounds bounds, boolean autoPromote) {
        this.slot = slot;
        this.shadowLoader = loader;
        this.bounds = bounds;
        this.autoPromote = autoPromote;
        return this;
    }

    /** Reports each {@link Event} (metrics). */
    public ModelWatcher onEvent(Consumer<Event> listener) {
        this.events = listener;
        return this;
    }

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
            events.accept(Event.SWAPPED);
            return true;
        } catch (RuntimeException | OutOfMemoryError e) {
            log.error("still serving {}", servingVersion.get());
            events.accept(Event.FAILED);
            report(mv, ModelStatus.FAILED, String.valueOf(e.getMessage()));
            return false;
        }
    }

    private boolean isCandidate(ConsumerRecord<String, ModelVersion> r) {
        return shadowLoader != null && r.value() != null && r.value().getStatus() == ModelStatus.CANDIDATE
                && modelName.equals(r.value().getModelName()) && !r.value().getVersion().equals(servingVersion.get());
    }

    private void startShadow(ModelVersion mv) {
        try {
            Shadow s = shadowLoader.apply(mv, verify(mv));
            slot.shadow(s);
            log.info("shadow-scoring {}@{} on {} % of batches", modelName, mv.getVersion(),
                    Math.round(100 * slot.shadowShare()));
        } catch (RuntimeException | OutOfMemoryError e) {
            events.accept(Event.SHADOW_FAILED);
            report(mv, ModelStatus.FAILED, String.valueOf(e.getMessage()));
        }
    }

    /**
     * The first verdict on a candidate wins: when any instance (or an operator) marks the version this instance is
     * shadowing FAILED, it stops shadowing it instead of reaching its own, possibly different, verdict later.
     */
    private void dropShadowIfFailed(ConsumerRecord<String, ModelVersion> r) {
        Shadow s = slot == null ? null : slot.shadow();
        ModelVersion v = r.value();
        if (s != null && v != null && v.getStatus() == ModelStatus.FAILED && modelName.equals(v.getModelName())
                && s.version().getVersion().equals(v.getVersion())) {
            log.info("{}@{} was marked FAILED on {} ({}); no longer shadowing it", modelName, v.getVersion(), topic,
                    v.getStatusReason());
            slot.shadow(null);
        }
    }

    /** Promotes or rejects the shadow once its comparisons decide (only with auto-promotion). */
    private void judgeShadow() {
        Shadow s = slot == null ? null : slot.shadow();
        if (s == null || !autoPromote) {
            return;
        }
        Shadow.Verdict v = s.decide(bounds);
        if (v == Shadow.Verdict.WAIT) {
            return;
        }
        slot.shadow(null);
        if (v == Shadow.Verdict.PROMOTE) {
            events.accept(Event.SHADOW_PROMOTED);
            log.info("{}@{} is inside the shadow bounds: promoting. {}", modelName, s.version().getVersion(), s.summary());
            ModelVersion active = ModelVersion.newBuilder(s.version()).setStatus(ModelStatus.ACTIVE)
                    .setStatusReason("promoted automatically; " + s.summary()).setCreatedAt(Instant.now()).build();
            send(modelName, active);
        } else {
            events.accept(Event.SHADOW_REJECTED);
            log.warn("{}@{} is outside the shadow bounds: rejected. {}", modelName, s.version().getVersion(), s.summary());
            report(s.version(), ModelStatus.FAILED, "rejected by shadow scoring; " + s.summary());
        }
    }

    private void report(ModelVersion mv, ModelStatus status, String reason) {
        log.error("model {}@{} {}: {}", mv.getModelName(), mv.getVersion(), status, reason);
        send(mv.getModelName() + "@" + mv.getVersion(), ModelVersion.newBuilder(mv).setStatus(status)
                .setStatusReason(reason).setCreatedAt(Instant.now()).build());
    }

    private void send(String key, ModelVersion value) {
        try {
            producer.send(new ProducerRecord<>(topic, key, value)).get();
        } catch (Exception e) {
            log.warn("could not write {} {} to {}: {}", key, value.getStatus(), topic, e.toString());
        }
    }

    private void applyIfNew(ModelVersion mv) {
        Shadow s = slot == null ? null : slot.shadow();
        if (s != null && s.version().getVersion().equals(mv.getVersion())) {
            slot.shadow(null);   // promoted (by us, another instance or an operator): it becomes the active model
        }
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
            ModelVersion latestCandidate = null;
            while (running.get()) {
                for (ConsumerRecord<String, ModelVersion> r : c.poll(Duration.ofMillis(500))) {
                    dropShadowIfFailed(r);
                    if (!caughtUp && latestCandidate != null && r.value() != null
                            && r.value().getStatus() == ModelStatus.FAILED
                            && latestCandidate.getVersion().equals(r.value().getVersion())
                            && modelName.equals(r.value().getModelName())) {
                        latestCandidate = null;   // already judged: a later instance does not judge it again
                    }
                    if (isCandidate(r)) {
                        if (caughtUp) {
                            startShadow(r.value());
                        } else {
                            latestCandidate = r.value();
                        }
                        continue;
                    }
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
                    if (latestCandidate != null && (latest == null
                            || latestCandidate.getCreatedAt().isAfter(latest.getCreatedAt()))) {
                        startShadow(latestCandidate);
                    }
                }
                judgeShadow();
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
