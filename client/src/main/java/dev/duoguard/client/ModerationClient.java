package dev.duoguard.client;

import dev.duoguard.common.kafka.KafkaConnection;
import dev.duoguard.common.serde.AvroSerdes;
import dev.duoguard.common.topics.Topic;
import dev.duoguard.common.topics.Topics;
import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.schemas.Decision;
import dev.duoguard.schemas.Verdict;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntSupplier;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.AuthenticationException;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Inline moderation over the guardrail's topics: {@link #moderate} writes a message to {@code chat.messages} and
 * returns a future that completes with that message's verdict from {@code chat.verdicts}, so a chat service can
 * hold the message (or an LLM reply) until the guardrail has spoken. Thread-safe; one instance per process.
 *
 * <p>How it correlates: one consumer, with no consumer group, is assigned every partition of the verdicts topic
 * from its end (positions fixed before the constructor returns, so no verdict of a message sent afterwards is
 * missed) and completes the future whose message id the verdict names; verdicts of other clients' messages are
 * skipped. It reads {@code read_committed}: under exactly-once a verdict counts once its transaction commits;
 * under at-least-once the app's records are not transactional and are read at once, and a verdict emitted twice
 * after a crash finds its future already completed.
 *
 * <p>A guardrail fails closed, the client too: a message whose verdict does not arrive within the timeout, that
 * cannot be sent, that finds the in-flight bound full, or that is pending when the client closes completes with a
 * <b>client fail-closed verdict</b>: the configured decision (REVIEW by default, or BLOCK; never ALLOW),
 * {@code unsafe} true, score 1, model {@value #CLIENT_MODEL}, and the {@link Reason} in {@code rejection_reason}.
 * Every future completes exactly once, never exceptionally.
 *
 * <p>Cost: each client reads every verdict of the topic (a chat service does not know which partition its
 * message's verdict lands on once the app re-keys it); at tens of thousands of verdicts per second per client,
 * give each gateway its own verdicts topic or route by conversation instead.
 */
public final class ModerationClient implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ModerationClient.class);

    /** The {@code model_name} of a verdict the client made itself (a fail-closed answer, not a model's). */
    public static final String CLIENT_MODEL = "duoguard-client";

    /** Why the client answered a message itself, in the verdict's {@code rejection_reason}. */
    public enum Reason {
        /** no verdict within the timeout */
        CLIENT_TIMEOUT,
        /** {@code maxInFlight} messages were already waiting: this one was not sent */
        CLIENT_OVERLOADED,
        /** the producer could not write the message */
        CLIENT_SEND_FAILED,
        /** the client was closed while the message waited */
        CLIENT_CLOSED
    }

    private static final Duration PARTITION_REFRESH = Duration.ofSeconds(30);
    private static final Duration STALL = Duration.ofMinutes(1);

    private final String messagesTopic;
    private final String verdictsTopic;
    private final Duration timeout;
    private final Decision failClosed;
    private final Semaphore permits;
    private final KafkaProducer<String, ChatMessage> producer;
    /** Used by the reader thread only (after the constructor has positioned it). */
    private final KafkaConsumer<String, byte[]> consumer;

    private final Deserializer<Verdict> verdicts;
    private final Map<String, Pending> pending = new ConcurrentHashMap<>();
    private final ScheduledThreadPoolExecutor timer;
    private final Thread reader;
    private final Metrics metrics;
    private volatile boolean open = true;
    private final AtomicBoolean closed = new AtomicBoolean();
    private volatile String readerFailure;
    private volatile long lastPoll = System.nanoTime();

    private static final class Pending {
        final ChatMessage message;
        final long startedNanos = System.nanoTime();
        final CompletableFuture<Verdict> future = new CompletableFuture<>();
        volatile ScheduledFuture<?> timeout;

        Pending(ChatMessage message) {
            this.message = message;
        }
    }

    private ModerationClient(Builder b) {
        Topic<String, ChatMessage> messages = Topics.messages(b.names.messages(), b.serdes);
        Topic<String, Verdict> verdictTopic = Topics.verdicts(b.names.verdicts(), b.serdes);
        this.messagesTopic = messages.name();
        this.verdictsTopic = verdictTopic.name();
        this.timeout = b.timeout;
        this.failClosed = b.failClosed;
        this.permits = new Semaphore(b.maxInFlight);
        this.verdicts = verdictTopic.valueDeserializer();
        this.metrics = new Metrics(b.registry, pending::size);

        Map<String, Object> p = b.kafka.clientProperties();
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "1"); // someone waits for each message: do not hold it 5 ms
        this.producer = new KafkaProducer<>(p, new StringSerializer(), messages.valueSerializer());

        Map<String, Object> c = b.kafka.clientProperties();
        c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        c.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, "false"); // a missing topic is an error, not a new one
        try {
            this.consumer = new KafkaConsumer<>(c, new StringDeserializer(), new ByteArrayDeserializer());
        } catch (RuntimeException e) {
            producer.close(Duration.ZERO);
            throw e;
        }
        try {
            List<TopicPartition> partitions = partitions(Duration.ofSeconds(30));
            if (partitions.isEmpty()) {
                throw new IllegalStateException(
                        "topic " + verdictsTopic + " does not exist: start the streams app (it creates its topics)");
            }
            consumer.assign(partitions);
            consumer.seekToEnd(partitions);
            partitions.forEach(consumer::position); // resolve the end offsets now, before any message is sent
        } catch (RuntimeException e) {
            consumer.close();
            producer.close(Duration.ZERO);
            throw e;
        }
        this.timer = new ScheduledThreadPoolExecutor(1, r -> daemon(r, "moderation-client-timeouts"));
        timer.setRemoveOnCancelPolicy(true); // an answered message's timeout goes at once, not when it would fire
        this.reader = daemon(this::readVerdicts, "moderation-client-verdicts");
        reader.start();
    }

    public static Builder builder(KafkaConnection kafka, AvroSerdes serdes) {
        return new Builder(kafka, serdes);
    }

    /**
     * Sends {@code message} for moderation; the future completes with its verdict, or with a client fail-closed
     * verdict (see the class comment). The same message id sent again while it waits gets the same future and is
     * not sent twice.
     *
     * @throws IllegalArgumentException when the message has no message id: nothing could answer it
     */
    public CompletableFuture<Verdict> moderate(ChatMessage message) {
        Objects.requireNonNull(message, "message");
        String id = message.getMessageId();
        if (id == null || id.isBlank()) {
            throw new IllegalArgumentException("a message needs a message id: its verdict is matched by it");
        }
        if (message.getRole() == null || message.getText() == null || message.getTenant() == null) {
            throw new IllegalArgumentException("a message needs a role, a tenant and a text (may be empty)");
        }
        if (!open) {
            metrics.answered(Reason.CLIENT_CLOSED.name(), 0);
            return CompletableFuture.completedFuture(answerItself(message, Reason.CLIENT_CLOSED, 0));
        }
        Pending waiting = pending.get(id);
        if (waiting != null) {
            return waiting.future;
        }
        if (!permits.tryAcquire()) {
            metrics.answered(Reason.CLIENT_OVERLOADED.name(), 0);
            return CompletableFuture.completedFuture(answerItself(message, Reason.CLIENT_OVERLOADED, 0));
        }
        Pending mine = new Pending(message);
        waiting = pending.putIfAbsent(id, mine);
        if (waiting != null) { // the same id from another thread, just now
            permits.release();
            return waiting.future;
        }
        if (!open) { // closed since the check above: close() may have swept already
            finish(mine, null, Reason.CLIENT_CLOSED);
            return mine.future;
        }
        try {
            mine.timeout = timer.schedule(() -> finish(mine, null, Reason.CLIENT_TIMEOUT), timeout.toNanos(), NANOS);
        } catch (RejectedExecutionException e) { // the timer of a client closing now
            finish(mine, null, Reason.CLIENT_CLOSED);
            return mine.future;
        }
        try {
            producer.send(new ProducerRecord<>(messagesTopic, key(message), message), (md, e) -> {
                if (e != null) {
                    log.warn("message {} not sent: {}", id, e.toString());
                    finish(mine, null, Reason.CLIENT_SEND_FAILED);
                }
            });
        } catch (RuntimeException e) { // serialization, a full buffer past max.block.ms, a closed producer
            log.warn("message {} not sent: {}", id, e.toString());
            finish(mine, null, Reason.CLIENT_SEND_FAILED);
        }
        return mine.future;
    }

    /** Messages sent and not answered yet. */
    public int inFlight() {
        return pending.size();
    }

    private static final TimeUnit NANOS = TimeUnit.NANOSECONDS;

    /** Messages are keyed by conversation (the streams app's partitioning), by message id without one. */
    private static String key(ChatMessage m) {
        String conversation = m.getConversationId();
        return conversation == null || conversation.isEmpty() ? m.getMessageId() : conversation;
    }

    /**
     * Completes {@code p} with {@code verdict}, or, when it is null, with a client fail-closed verdict for
     * {@code reason}. Whoever removes {@code p} from the map completes it, so each future completes once.
     */
    private void finish(Pending p, Verdict verdict, Reason reason) {
        if (!pending.remove(p.message.getMessageId(), p)) {
            return;
        }
        permits.release();
        ScheduledFuture<?> t = p.timeout;
        if (t != null) {
            t.cancel(false);
        }
        long micros = (System.nanoTime() - p.startedNanos) / 1_000;
        metrics.answered(verdict != null ? "verdict" : reason.name(), micros);
        p.future.complete(verdict != null ? verdict : answerItself(p.message, reason, micros));
    }

    private Verdict answerItself(ChatMessage m, Reason reason, long micros) {
        return Verdict.newBuilder()
                .setMessageId(m.getMessageId())
                .setConversationId(m.getConversationId() == null ? "" : m.getConversationId())
                .setTenant(m.getTenant() == null ? "" : m.getTenant())
                .setRole(m.getRole())
                .setDecision(failClosed)
                .setUnsafe(true)
                .setUnsafeScore(1f)
                .setCategoryScores(List.of())
                .setFiredCategories(List.of())
                .setLanguage("und")
                .setLanguageConfidence(0f)
                .setModelName(CLIENT_MODEL)
                .setModelVersion("")
                .setWindows(0)
                .setScoringLatencyUs(micros)
                .setScoredAt(Instant.now())
                .setRejectionReason(reason.name())
                .build();
    }

    private void readVerdicts() {
        long refreshAt = System.nanoTime() + PARTITION_REFRESH.toNanos();
        try {
            while (open) {
                try {
                    for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(100))) {
                        Verdict v = decode(r);
                        Pending p = v == null ? null : pending.get(v.getMessageId());
                        if (p != null && answers(v, p.message)) {
                            finish(p, v, null);
                        }
                    }
                    lastPoll = System.nanoTime();
                    if (System.nanoTime() > refreshAt) {
                        refreshAt = System.nanoTime() + PARTITION_REFRESH.toNanos();
                        addNewPartitions();
                    }
                } catch (RetriableException | AuthenticationException | AuthorizationException e) {
                    // a broker that is away, credentials re-checked, an ACL being changed: the timeouts answer the
                    // waiting messages meanwhile; reading goes on after a pause
                    log.warn("reading verdicts failed ({}); retrying in 1 s", e.toString());
                    LockSupport.parkNanos(TimeUnit.SECONDS.toNanos(1));
                }
            }
        } catch (WakeupException e) {
            // close()
        } catch (RuntimeException | Error e) { // nothing completes futures now: answer them, say so
            log.error("the verdict reader stopped; pending messages are answered fail-closed", e);
            readerFailure = e.toString();
            open = false;
            pending.values().forEach(p -> finish(p, null, Reason.CLIENT_CLOSED));
        } finally {
            consumer.close(CloseOptions.timeout(Duration.ofSeconds(5)));
        }
    }

    /** A verdict that does not decode is counted and skipped: its message is answered by the timeout. */
    private Verdict decode(ConsumerRecord<String, byte[]> r) {
        try {
            return verdicts.deserialize(r.topic(), r.headers(), r.value());
        } catch (RuntimeException e) {
            metrics.undecodable.inc();
            log.warn("verdict at {}-{}@{} does not decode: {}", r.topic(), r.partition(), r.offset(), e.toString());
            return null;
        }
    }

    /**
     * The verdict of {@code m}: the same message id, tenant and conversation. Ids are the caller's: two services
     * that number messages 1, 2, 3 would otherwise answer each other's messages; ids should still be unique and
     * hard to guess (a UUID), since whoever may write the messages topic could send one under a guessed id.
     */
    private static boolean answers(Verdict v, ChatMessage m) {
        return v.getTenant().equals(m.getTenant())
                && v.getConversationId().equals(m.getConversationId() == null ? "" : m.getConversationId());
    }

    /**
     * Why the client cannot answer with verdicts any more (its reader stopped, or has not polled for a minute), for
     * a liveness probe; empty while it works.
     */
    public Optional<String> problem() {
        if (readerFailure != null) {
            return Optional.of("the moderation client's verdict reader stopped: " + readerFailure);
        }
        long silent = System.nanoTime() - lastPoll;
        if (open && silent > STALL.toNanos()) {
            return Optional.of("the moderation client has not read verdicts for " + silent / 1_000_000_000 + " s");
        }
        return Optional.empty();
    }

    /** Partitions added to the verdicts topic after start are read from their beginning (all of it is new). */
    private void addNewPartitions() {
        List<TopicPartition> all;
        try {
            all = partitions(Duration.ofSeconds(2)); // the reader waits meanwhile: keep it short, try again later
        } catch (RetriableException e) {
            return;
        }
        Set<TopicPartition> assigned = consumer.assignment();
        List<TopicPartition> added = new ArrayList<>();
        for (TopicPartition tp : all) {
            if (!assigned.contains(tp)) {
                added.add(tp);
            }
        }
        if (!added.isEmpty()) {
            Set<TopicPartition> now = new HashSet<>(assigned);
            now.addAll(added);
            consumer.assign(now);
            consumer.seekToBeginning(added);
            log.info("verdicts topic {} grew: now reading {}", verdictsTopic, added);
        }
    }

    private List<TopicPartition> partitions(Duration wait) {
        List<PartitionInfo> infos = consumer.partitionsFor(verdictsTopic, wait);
        return infos == null
                ? List.of()
                : infos.stream()
                        .map(i -> new TopicPartition(i.topic(), i.partition()))
                        .toList();
    }

    private static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    /** Stops reading verdicts; messages still waiting complete with a {@link Reason#CLIENT_CLOSED} verdict. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        open = false;
        consumer.wakeup();
        try {
            reader.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        pending.values().forEach(p -> finish(p, null, Reason.CLIENT_CLOSED));
        timer.shutdownNow();
        producer.close(Duration.ofSeconds(5));
        // a moderate() that registered its message before it saw the client closing, and after the sweep above
        pending.values().forEach(p -> finish(p, null, Reason.CLIENT_CLOSED));
    }

    /** The client's metrics, in the registry given to the builder (none: counted nowhere). */
    private static final class Metrics {
        final Counter answers;
        final Counter undecodable;
        final Histogram latency;

        Metrics(PrometheusRegistry registry, IntSupplier inFlight) {
            PrometheusRegistry r = registry != null ? registry : new PrometheusRegistry();
            answers = Counter.builder()
                    .name("duoguard_client_answers_total")
                    .help("Messages answered, by outcome: verdict (the guardrail's), or the client's own fail-closed"
                            + " reason (CLIENT_TIMEOUT, CLIENT_OVERLOADED, CLIENT_SEND_FAILED, CLIENT_CLOSED)")
                    .labelNames("outcome")
                    .register(r);
            undecodable = Counter.builder()
                    .name("duoguard_client_undecodable_verdicts_total")
                    .help("Records on the verdicts topic that did not decode (skipped)")
                    .register(r);
            latency = Histogram.builder()
                    .name("duoguard_client_latency_seconds")
                    .help("From moderate() to the future's completion, every outcome")
                    .classicUpperBounds(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
                    .register(r);
            GaugeWithCallback.builder()
                    .name("duoguard_client_in_flight")
                    .help("Messages sent and waiting for their verdict")
                    .callback(cb -> cb.call(inFlight.getAsInt()))
                    .register(r);
        }

        void answered(String outcome, long micros) {
            answers.labelValues(outcome).inc();
            latency.observe(micros / 1e6);
        }
    }

    /** Settings with defaults: the default topics, 5 s timeout, 10,000 in flight, REVIEW when failing closed. */
    public static final class Builder {
        private final KafkaConnection kafka;
        private final AvroSerdes serdes;
        private Topics.Names names = Topics.Names.DEFAULTS;
        private Duration timeout = Duration.ofSeconds(5);
        private int maxInFlight = 10_000;
        private Decision failClosed = Decision.REVIEW;
        private PrometheusRegistry registry;

        private Builder(KafkaConnection kafka, AvroSerdes serdes) {
            this.kafka = Objects.requireNonNull(kafka, "kafka");
            this.serdes = Objects.requireNonNull(serdes, "serdes");
        }

        /** The topics' names (those the streams app is configured with). */
        public Builder topics(Topics.Names v) {
            names = Objects.requireNonNull(v);
            return this;
        }

        /** How long a message waits for its verdict before the client answers CLIENT_TIMEOUT. */
        public Builder timeout(Duration v) {
            if (v.isNegative() || v.isZero()) {
                throw new IllegalArgumentException("timeout must be positive (got " + v + ")");
            }
            timeout = v;
            return this;
        }

        /** How many messages may wait at once; more are answered CLIENT_OVERLOADED without being sent. */
        public Builder maxInFlight(int v) {
            if (v < 1) {
                throw new IllegalArgumentException("maxInFlight must be at least 1 (got " + v + ")");
            }
            maxInFlight = v;
            return this;
        }

        /** The decision of the client's own fail-closed verdicts: REVIEW or BLOCK. */
        public Builder failClosed(Decision v) {
            if (v == Decision.ALLOW) {
                throw new IllegalArgumentException("a fail-closed decision cannot be ALLOW: use REVIEW or BLOCK");
            }
            failClosed = Objects.requireNonNull(v);
            return this;
        }

        /** Where the client's metrics go ({@code duoguard_client_*}). */
        public Builder metrics(PrometheusRegistry v) {
            registry = v;
            return this;
        }

        /** Connects and positions the verdict reader at the end of the topic; throws if the topic is missing. */
        public ModerationClient build() {
            return new ModerationClient(this);
        }
    }
}
