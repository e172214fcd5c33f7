package dev.duoguard.streams.model;

import dev.duoguard.common.kafka.KafkaConnection;
import dev.duoguard.common.serde.SchemaIds;
import dev.duoguard.lifecycle.ModelAction;
import dev.duoguard.lifecycle.ModelKey;
import dev.duoguard.lifecycle.ModelRecords;
import dev.duoguard.lifecycle.ModelsState;
import dev.duoguard.lifecycle.ModelsTopic;
import dev.duoguard.lifecycle.ShadowStats;
import dev.duoguard.schemas.ModelVersion;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiFunction;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Follows {@code guardrail.models} for the model this instance serves and carries out what {@link ModelsState}
 * decides about each record (the rules are there, as pure functions): every ACTIVE pointer (keyed by model name)
 * for another version is fetched and verified ({@link #fetchingWith}: a private copy whose manifest is signed by a
 * trusted key and pins every file, the manifest's sha256 against the record; then the ONNX signature and the 12
 * categories when it loads)
 * and swapped in while the old model keeps serving. A version that fails any of this is reported as FAILED with the
 * reason (keyed by its {@link ModelKey}) and the old model keeps serving. With {@link #shadowing}, candidates are
 * shadow-scored, and promoted or rejected by their comparisons. Each instance reads the whole topic without a
 * consumer group, so all instances see every record; an instance that starts later starts on the newest ACTIVE
 * version that verifies and loads, which is the one the running instances serve.
 *
 * <p>The watcher does not die. A record that does not decode is skipped (logged with its offset, counted as
 * {@link Event#UNDECODABLE}). Any other failure in the loop (an Error from a load, a broken consumer) is logged
 * and counted ({@link Event#WATCHER_FAILED}); the watcher backs off (1 s doubling to 30 s), recreates its consumer
 * and goes on after the record it was handling: that record is not handled again, because it would most likely
 * fail the same way and the watcher would never get past it. {@link #problem} tells a liveness probe when the
 * watcher is closed, its thread gone, or it has not polled for longer than {@link #stallAfter}.
 *
 * <p>With {@link AttemptMarkers}, a version is marked in the state directory while it loads or is shadow-scored;
 * a version that crashed this instance before is skipped ({@link Event#SKIPPED}), see {@link AttemptMarkers}.
 */
public final class ModelWatcher implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ModelWatcher.class);

    static final Duration FIRST_BACKOFF = Duration.ofSeconds(1);
    static final Duration MAX_BACKOFF = Duration.ofSeconds(30);
    /** How long {@link #close} waits for a load in progress to end (and remove its attempt marker). */
    private static final long CLOSE_WAIT_SECONDS = 10;

    private final KafkaConnection kafka;
    private final String topic;
    private final Deserializer<ModelVersion> values;
    private final KafkaProducer<String, ModelVersion> producer;
    private final String modelName;
    private final Consumer<Path> swap;
    private final Supplier<String> servingVersion;
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final CountDownLatch closed = new CountDownLatch(1);
    private volatile KafkaConsumer<String, byte[]> consumer;
    private volatile Thread thread;

    /** What happened to a version on this instance, or to the watcher itself (a metric label). */
    public enum Event {
        SWAPPED,
        FAILED,
        SHADOW_FAILED,
        SHADOW_PROMOTED,
        SHADOW_REJECTED,
        /** a record on the models topic that is not a ModelVersion; skipped */
        UNDECODABLE,
        /** the watcher's loop failed; it backs off and goes on */
        WATCHER_FAILED,
        /** a version the previous process died loading or shadow-scoring (found at start-up) */
        CRASHED,
        /** a version not tried because it crashed this instance before */
        SKIPPED;

        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    private Consumer<Event> events = e -> {};
    private ModelsState.Policy policy;
    private ModelSlot slot;
    private BiFunction<ModelVersion, Path, Shadow> shadowLoader;
    private AttemptMarkers markers = AttemptMarkers.disabled();
    private Function<ModelVersion, Path> fetch;
    private Duration stallAfter = Duration.ofMinutes(5);
    private SchemaIds schemaIds = ModelsTopic.NO_REGISTRY;

    // where the loop is, kept across consumer restarts (only the watcher thread touches these)
    private final Map<TopicPartition, Long> next = new HashMap<>();
    private Map<TopicPartition, Long> catchUpEnd;
    private ModelsState state;
    private Duration backoff = FIRST_BACKOFF;
    /** Read to the end the topic had at the start, and acted on it (volatile: tests and operators ask). */
    private volatile boolean caughtUp;

    // health, read by other threads
    private final AtomicLong undecodable = new AtomicLong();
    private final AtomicLong failures = new AtomicLong();
    private volatile long lastProgressNanos = System.nanoTime();
    private volatile String busyWith;
    private volatile Throwable lastFailure;

    /** @param swap loads and swaps in a verified bundle; throws when it cannot (the old model keeps serving) */
    public ModelWatcher(
            KafkaConnection kafka,
            String topic,
            Deserializer<ModelVersion> values,
            Serializer<ModelVersion> failures,
            String modelName,
            Consumer<Path> swap,
            Supplier<String> servingVersion) {
        this.kafka = kafka;
        this.topic = topic;
        this.values = values;
        this.producer = new KafkaProducer<>(kafka.clientProperties(), new StringSerializer(), failures);
        this.modelName = modelName;
        this.swap = swap;
        this.servingVersion = servingVersion;
        this.policy = ModelsState.Policy.servingOnly(modelName);
    }

    /**
     * Enables shadow scoring: a CANDIDATE version of this model is verified, loaded by {@code loader} and put next
     * to the active model in {@code slot}; when {@code autoPromote}, the watcher writes the ACTIVE pointer for it
     * once its comparisons are inside {@code bounds}, or marks it FAILED when they are not.
     */
    public ModelWatcher shadowing(
            ModelSlot slot,
            BiFunction<ModelVersion, Path, Shadow> loader,
            ShadowStats.Bounds bounds,
            boolean autoPromote) {
        this.slot = slot;
        this.shadowLoader = loader;
        this.policy = ModelsState.Policy.shadowing(modelName, bounds, autoPromote);
        return this;
    }

    /** Reports each {@link Event} (metrics). */
    public ModelWatcher onEvent(Consumer<Event> listener) {
        this.events = listener;
        return this;
    }

    /**
     * Required: how a version's bundle is fetched and verified before it is loaded or shadowed ({@code
     * TrustedArtifacts#fetch}): the local copy to load, or an exception whose message is the FAILED reason.
     */
    public ModelWatcher fetchingWith(Function<ModelVersion, Path> fetch) {
        this.fetch = fetch;
        return this;
    }

    /** Marks each load and shadow in {@code markers} and skips versions that crashed this instance before. */
    public ModelWatcher markingAttempts(AttemptMarkers markers) {
        this.markers = markers;
        return this;
    }

    /**
     * Asks {@code ids} when a record fails to decode: an unreachable registry makes the watcher back off and read
     * that record again instead of skipping it (a skipped ACTIVE record would leave this instance on an old
     * version); without it, such a record counts as undecodable.
     */
    public ModelWatcher schemaIds(SchemaIds ids) {
        this.schemaIds = ids;
        return this;
    }

    /**
     * How long the watcher may go without polling before {@link #problem} reports it stuck. Loads run on the
     * watcher thread, so this must be longer than the slowest model load (default 5 minutes).
     */
    public ModelWatcher stallAfter(Duration stallAfter) {
        this.stallAfter = stallAfter;
        return this;
    }

    /** Starts following the topic on its own daemon thread ("model-watcher"). */
    public ModelWatcher start() {
        if (fetch == null) {
            throw new IllegalStateException(
                    "the model watcher needs fetchingWith: versions are never served unchecked");
        }
        state = ModelsState.catchingUp(policy, servingVersion.get());
        Thread t = new Thread(this::loop, "model-watcher");
        t.setDaemon(true);
        thread = t;
        t.start();
        return this;
    }

    /** Empty while the watcher is healthy, else what is wrong (for a liveness probe). */
    public Optional<String> problem() {
        Thread t = thread;
        if (!running.get()) {
            return Optional.of("the model watcher is closed");
        }
        if (t == null) {
            return Optional.of("the model watcher was not started");
        }
        if (!t.isAlive()) {
            return Optional.of("the model watcher thread has stopped");
        }
        long idle = System.nanoTime() - lastProgressNanos;
        if (idle > stallAfter.toNanos()) {
            String busy = busyWith;
            Throwable failure = lastFailure;
            return Optional.of("the model watcher has not polled " + topic + " for "
                    + TimeUnit.NANOSECONDS.toSeconds(idle) + " s" + (busy == null ? "" : " (" + busy + ")")
                    + (failure == null ? "" : "; its last failure: " + failure));
        }
        return Optional.empty();
    }

    /** True once the watcher has read the topic to the end it had when it started, and acted on it. */
    public boolean caughtUp() {
        return caughtUp;
    }

    /** Records skipped because they did not decode. */
    public long undecodable() {
        return undecodable.get();
    }

    /** Times the loop failed and was restarted. */
    public long failures() {
        return failures.get();
    }

    /**
     * Restarts the loop with a new consumer after any failure, backing off, until closed. The while loop's own
     * catch is the only place that swallows a Throwable: everything below it either handles its failure or lets it
     * reach here.
     */
    private void loop() {
        while (running.get()) {
            try (KafkaConsumer<String, byte[]> c = ModelRecords.consumer(kafka)) {
                consumer = c;
                if (running.get()) { // closed before the consumer was published: its wakeup was not delivered
                    follow(c);
                }
            } catch (Throwable t) { // a WakeupException too: only close() is expected to wake the consumer
                if (running.get()) {
                    failed(t);
                }
            }
        }
    }

    private void failed(Throwable t) {
        failures.incrementAndGet();
        lastFailure = t;
        events.accept(Event.WATCHER_FAILED);
        log.error(
                "the model watcher failed; recreating its consumer in {} s (still serving {})",
                backoff.toSeconds(),
                servingVersion.get(),
                t);
        try {
            closed.await(backoff.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            running.set(false);
        }
        backoff = backoff.multipliedBy(2).compareTo(MAX_BACKOFF) > 0 ? MAX_BACKOFF : backoff.multipliedBy(2);
    }

    private void progress() {
        lastProgressNanos = System.nanoTime();
    }

    /**
     * Reads the topic from the start ({@link ModelsState} remembers what matters while catching up, and acts on
     * it once caught up), then every record as it arrives; judges the shadow after each poll. After a restart it
     * goes on where it was.
     */
    private void follow(KafkaConsumer<String, byte[]> c) throws InterruptedException {
        List<TopicPartition> parts = ModelRecords.partitions(c, topic);
        while (parts.isEmpty()) { // the topic does not exist yet
            progress();
            if (closed.await(1, TimeUnit.SECONDS)) {
                return;
            }
            parts = ModelRecords.partitions(c, topic);
        }
        if (catchUpEnd == null) {
            catchUpEnd = ModelRecords.fromStart(c, parts);
        } else {
            c.assign(parts);
            for (TopicPartition tp : parts) {
                Long at = next.get(tp);
                if (at == null) {
                    c.seekToBeginning(List.of(tp));
                } else {
                    c.seek(tp, at);
                }
            }
        }
        while (running.get()) {
            var records = c.poll(Duration.ofMillis(500));
            progress();
            for (ConsumerRecord<String, byte[]> r : records) {
                // moved past before it is handled: a record whose handling fails is not handled again; except when
                // the registry did not answer: the record is fine and is read again after the backoff
                TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                next.put(tp, r.offset() + 1);
                try {
                    handle(r);
                } catch (ModelRecords.RegistryUnavailable e) {
                    next.put(tp, r.offset());
                    throw e;
                }
            }
            if (!state.caughtUp() && ModelRecords.reached(c, parts, catchUpEnd)) {
                try {
                    step(ModelsState::onCaughtUp);
                } finally {
                    caughtUp = true; // even when acting on it failed: what failed is not done again
                }
            }
            Shadow shadow = shadow();
            if (shadow != null) {
                step(s -> s.onShadowStats(shadow.stats()));
            }
            backoff = FIRST_BACKOFF; // a whole iteration went through
        }
    }

    private void handle(ConsumerRecord<String, byte[]> r) {
        ModelVersion value;
        try {
            value = ModelRecords.decode(values, schemaIds, r);
        } catch (ModelRecords.Undecodable e) {
            undecodable.incrementAndGet();
            events.accept(Event.UNDECODABLE);
            log.error(
                    "skipping an undecodable record on {}-{} at offset {} (key {}): {}",
                    r.topic(),
                    r.partition(),
                    r.offset(),
                    r.key(),
                    e.getMessage());
            return;
        }
        step(s -> s.onRecord(r.key(), value));
    }

    /**
     * Gives {@code input} the state as it really is (what serves, what is shadowed: a load may have failed, a
     * model may have been swapped in by other means) and carries out the actions it decides. The state moves on
     * before they run: an action that fails is not decided again.
     */
    private void step(Function<ModelsState, ModelsState.Step> input) {
        Shadow shadow = shadow();
        ModelsState.Step step =
                input.apply(state.observe(servingVersion.get(), shadow == null ? null : shadow.version()));
        state = step.state();
        step.actions().forEach(this::execute);
    }

    private void execute(ModelAction action) {
        if (action instanceof ModelAction.Serve a) {
            serve(a.version());
        } else if (action instanceof ModelAction.StartShadow a) {
            startShadow(a.version());
        } else if (action instanceof ModelAction.StopShadow a) {
            log.info("no longer shadow-scoring {}: {}", ModelKey.of(a.version()), a.why());
            shadow(null);
        } else if (action instanceof ModelAction.Promote a) {
            events.accept(Event.SHADOW_PROMOTED);
            log.info("writing the ACTIVE pointer for {}: {}", ModelKey.of(a.version()), a.reason());
            send(modelName, ModelsTopic.active(a.version(), a.reason()));
        } else if (action instanceof ModelAction.Reject a) {
            events.accept(Event.SHADOW_REJECTED);
            report(a.version(), a.reason());
        } else if (action instanceof ModelAction.Ignore a) {
            log.info("models topic: {}", a.why());
        } else {
            throw new IllegalArgumentException("the model watcher cannot carry out " + action);
        }
    }

    /** True (and logged, counted) when {@code mv} crashed this instance before: it is not tried again. */
    private boolean skipCrashed(ModelVersion mv) {
        String key = ModelKey.of(mv).toString();
        if (!markers.crashed(key)) {
            return false;
        }
        events.accept(Event.SKIPPED);
        log.error(
                "not trying {}: it crashed this instance before (delete {} to allow it); still serving {}",
                key,
                markers.file(markers.crashedDirectory(), key),
                servingVersion.get());
        return true;
    }

    /** Fetches, verifies and swaps in {@code mv}; on any failure reports FAILED and keeps the current model. */
    private void serve(ModelVersion mv) {
        if (skipCrashed(mv)) {
            return;
        }
        String key = ModelKey.of(mv).toString();
        log.info("models topic: {} is ACTIVE; loading it", key);
        markers.begin(key, "loading");
        busyWith = "loading " + key;
        try {
            swap.accept(fetch.apply(mv));
            events.accept(Event.SWAPPED);
        } catch (RuntimeException | OutOfMemoryError e) {
            log.error("still serving {}", servingVersion.get());
            events.accept(Event.FAILED);
            report(mv, String.valueOf(e.getMessage()));
        } finally {
            busyWith = null;
            markers.end(key); // the load ended and the process is alive: whatever happened, it did not crash it
        }
    }

    /** The shadow being scored now, or null. */
    private Shadow shadow() {
        return slot == null ? null : slot.shadow();
    }

    /** Installs {@code next} (or none) as the shadow; the replaced shadow's attempt has ended. */
    private void shadow(Shadow next) {
        Shadow old = slot.shadow();
        slot.shadow(next);
        // the same version shadowed again (its record republished) keeps the marker its new attempt just wrote
        if (old != null
                && old != next
                && (next == null || !ModelKey.of(old.version()).equals(ModelKey.of(next.version())))) {
            markers.end(ModelKey.of(old.version()).toString());
        }
    }

    /**
     * Loads {@code mv} beside the active model. Its attempt marker stays while it is shadow-scored (a native crash
     * may come from scoring, on the stream threads) and goes when the shadow is stopped, promoted or rejected.
     */
    private void startShadow(ModelVersion mv) {
        if (skipCrashed(mv)) {
            return;
        }
        String key = ModelKey.of(mv).toString();
        markers.begin(key, "shadow-scoring");
        busyWith = "loading the shadow " + key;
        boolean shadowing = false;
        try {
            shadow(shadowLoader.apply(mv, fetch.apply(mv)));
            shadowing = true;
            log.info("shadow-scoring {} on {} % of batches", key, Math.round(100 * slot.shadowShare()));
        } catch (RuntimeException | OutOfMemoryError e) {
            events.accept(Event.SHADOW_FAILED);
            report(mv, String.valueOf(e.getMessage()));
        } finally {
            busyWith = null;
            if (!shadowing) {
                markers.end(key);
            }
        }
    }

    private void report(ModelVersion mv, String reason) {
        log.error("model {} FAILED: {}", ModelKey.of(mv), reason);
        send(ModelKey.of(mv).toString(), ModelsTopic.failed(mv, reason));
    }

    private void send(String key, ModelVersion value) {
        try {
            producer.send(new ProducerRecord<>(topic, key, value)).get();
        } catch (Exception e) {
            log.warn("could not write {} {} to {}: {}", key, value.getStatus(), topic, e.toString());
        }
    }

    /**
     * Stops the watcher. A load in progress is given {@value #CLOSE_WAIT_SECONDS} s to end and remove its attempt
     * marker; one that takes longer keeps it, as if the process had died during it. The shadow's attempt ends here:
     * shutting down while shadow-scoring is not a crash.
     */
    @Override
    public void close() {
        if (!running.getAndSet(false)) {
            return;
        }
        closed.countDown();
        KafkaConsumer<String, byte[]> c = consumer;
        if (c != null) {
            try {
                c.wakeup();
            } catch (RuntimeException e) {
                // a consumer closed by a restart of the loop: the loop sees running == false on its own
            }
        }
        Thread t = thread;
        if (t != null && t != Thread.currentThread()) {
            try {
                t.join(TimeUnit.SECONDS.toMillis(CLOSE_WAIT_SECONDS));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        Shadow s = shadow();
        if (s != null) {
            markers.end(ModelKey.of(s.version()).toString());
        }
        producer.close(Duration.ofSeconds(5));
    }
}
