package dev.duoguard.streams.topology;

import dev.duoguard.common.serde.RegistryErrors;
import dev.duoguard.common.serde.SchemaIds;
import dev.duoguard.lifecycle.ModelKey;
import dev.duoguard.runtime.scoring.ScoringException;
import dev.duoguard.runtime.scoring.ScoringTimeoutException;
import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.schemas.Seed;
import dev.duoguard.schemas.SeedReason;
import dev.duoguard.schemas.Verdict;
import dev.duoguard.schemas.internal.PendingMessage;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Decodes and validates chat messages, buffers them into batches and scores each batch in one model call.
 *
 * <p><b>Why a state store.</b> Kafka Streams commits input offsets on its own schedule. Records held only in
 * memory across a commit would be lost by a crash, so the batch buffer is a changelogged store: under
 * exactly-once the buffered records, the verdicts forwarded for them and their deletion from the buffer commit
 * atomically with the input offsets, and after a crash the buffer is restored and scored. The buffer is flushed
 * when it holds {@code maxBatch} messages or when a wall-clock punctuation fires every {@code maxWait}.
 *
 * <p><b>Fail closed, never stall.</b> Every message with a message id gets exactly one verdict:
 * <ul>
 *   <li>bad input (empty, too long, invalid UTF-8, control characters, a bad field) gets the tenant's fail-closed
 *       verdict with the reason, and its original bytes go to the DLQ; a record without a readable id (not the
 *       wire format, unknown schema id, undecodable) can only go to the DLQ;</li>
 *   <li>a registry that cannot be reached is not bad input: the record waits on this partition with bounded
 *       backoff (up to {@code registryRetryBudget}), then the stream thread fails and is replaced, and the record is
 *       read again; nothing goes to the DLQ for it;</li>
 *   <li>a flush ends within {@code batchDeadline}: a model call that fails is retried, then the batch is split in
 *       halves down to the message that fails alone (MODEL_FAILURE); after a call that times out each of its
 *       messages is scored alone, so only the message that times out alone gets MODEL_TIMEOUT (one message at a
 *       time rather than halves: each timed-out call may leave a model thread busy, see DynamicBatcher, and a
 *       hung message would otherwise cost one per level); whatever is unscored when the deadline passes gets
 *       MODEL_TIMEOUT. Those messages get fail-closed verdicts and go to the DLQ, and the partition advances. The
 *       deadline is validated against the transaction timeout at start-up, so a flush is never aborted and
 *       replayed forever.</li>
 * </ul>
 */
final class ScoringProcessor implements Processor<byte[], byte[], byte[], Outcome> {

    private static final Logger log = LoggerFactory.getLogger(ScoringProcessor.class);

    private final GuardrailTopology.Settings settings;
    private final Moderator moderator;
    private final WireDecoder<ChatMessage> decoder;
    private final Serializer<ChatMessage> serializer;
    private final InputValidator validator;
    private final ModerationListener listener;

    private ProcessorContext<byte[], Outcome> context;
    private KeyValueStore<Long, PendingMessage> buffer;
    private long nextSequence;
    private int buffered;

    ScoringProcessor(
            GuardrailTopology.Settings settings,
            Moderator moderator,
            Deserializer<ChatMessage> deserializer,
            Serializer<ChatMessage> serializer,
            SchemaIds schemaIds,
            ModerationListener listener) {
        this.settings = settings;
        this.decoder = new WireDecoder<>(deserializer, ChatMessage.class, schemaIds, settings.registryRetryBudget());
        this.moderator = moderator;
        this.serializer = serializer;
        this.validator = new InputValidator(settings.maxTextChars());
        this.listener = listener;
    }

    @Override
    public void init(ProcessorContext<byte[], Outcome> context) {
        this.context = context;
        this.buffer = context.getStateStore(GuardrailTopology.PENDING_STORE);
        // after a restore the buffer may hold messages from before a crash: continue their sequence
        try (KeyValueIterator<Long, PendingMessage> it = buffer.all()) {
            while (it.hasNext()) {
                nextSequence = Math.max(nextSequence, it.next().key + 1);
                buffered++;
            }
        }
        context.schedule(settings.maxWait(), PunctuationType.WALL_CLOCK_TIME, ts -> flush());
    }

    @Override
    public void process(Record<byte[], byte[]> record) {
        RecordMetadata meta = context.recordMetadata().orElseThrow();
        ChatMessage message;
        try {
            message = decoder.decode(meta.topic(), record.value());
        } catch (WireDecoder.Rejected r) {
            deadLetter(record, r.reason, r.getMessage(), meta.topic(), meta.partition(), meta.offset());
            return;
        }
        InputValidator.Problem problem = validator.check(message);
        if (problem != null) {
            if (!blank(message.getMessageId())) {
                failClosed(message, problem.reason(), Moderator.nowMicros(), record.timestamp());
            }
            deadLetter(record, problem.reason(), problem.detail(), meta.topic(), meta.partition(), meta.offset());
            return;
        }
        buffer.put(
                nextSequence++,
                new PendingMessage(
                        message,
                        Moderator.nowMicros(),
                        meta.topic(),
                        meta.partition(),
                        meta.offset(),
                        record.timestamp()));
        if (++buffered >= settings.maxBatch()) {
            flush();
        }
    }

    private void flush() {
        if (buffered == 0) {
            return;
        }
        List<KeyValue<Long, PendingMessage>> batch = new ArrayList<>(buffered);
        try (KeyValueIterator<Long, PendingMessage> it = buffer.all()) {
            it.forEachRemaining(batch::add);
        }
        long start = System.nanoTime();
        Scored scored =
                scoreWithinDeadline(batch, start + settings.batchDeadline().toNanos());
        listener.batch(batch.size(), (System.nanoTime() - start) / 1000);
        for (int i = 0; i < batch.size(); i++) {
            PendingMessage p = batch.get(i).value;
            if (scored.results[i] != null) {
                emit(p, scored.results[i]);
            } else {
                failClosed(p.getMessage(), scored.failures[i], p.getReceivedAtUs(), p.getRecordTimestamp());
                deadLetterUnscored(p, scored.failures[i], scored.details[i]);
            }
            buffer.delete(batch.get(i).key);
        }
        buffered = 0;
    }

    /** Per message of a batch: its result, or why it has none. */
    private record Scored(Moderator.Moderated[] results, DeadLetter[] failures, String[] details) {}

    /**
     * Scores the batch, every message within {@code deadline} (System.nanoTime): a failed call is retried
     * ({@code retries}, whole batch only), then split in halves (a poisoned message costs about log2(batch) + 1
     * extra calls); after a timed-out call its messages are scored one by one (the same call would time out
     * again); a single message that fails or times out alone, or anything left when the deadline passes, has no
     * result.
     */
    private Scored scoreWithinDeadline(List<KeyValue<Long, PendingMessage>> batch, long deadline) {
        int n = batch.size();
        Scored out = new Scored(new Moderator.Moderated[n], new DeadLetter[n], new String[n]);
        Deque<int[]> todo = new ArrayDeque<>();
        todo.push(new int[] {0, n});
        int retriesLeft = settings.retries();
        while (!todo.isEmpty()) {
            int[] range = todo.pop();
            int from = range[0];
            int to = range[1];
            long remaining = deadline - System.nanoTime();
            if (remaining <= 0) {
                fail(
                        out,
                        from,
                        to,
                        DeadLetter.MODEL_TIMEOUT,
                        "the batch deadline (scoring.batch-deadline-ms = "
                                + settings.batchDeadline().toMillis() + ") passed before this message was scored");
                continue;
            }
            List<ChatMessage> messages = new ArrayList<>(to - from);
            long[] received = new long[to - from];
            for (int i = from; i < to; i++) {
                messages.add(batch.get(i).value.getMessage());
                received[i - from] = batch.get(i).value.getReceivedAtUs();
            }
            Duration bound = Duration.ofNanos(Math.min(settings.timeout().toNanos(), remaining));
            try {
                List<Moderator.Moderated> results = moderator.moderate(messages, received, bound);
                for (int i = from; i < to; i++) {
                    out.results[i] = results.get(i - from);
                }
            } catch (ScoringTimeoutException e) {
                log.warn(
                        "scoring {} message(s) took longer than {} ms; {}",
                        to - from,
                        bound.toMillis(),
                        to - from == 1 ? "failing it closed (MODEL_TIMEOUT)" : "scoring them one by one");
                if (to - from == 1) {
                    fail(
                            out,
                            from,
                            to,
                            DeadLetter.MODEL_TIMEOUT,
                            "the model did not answer within " + bound.toMillis() + " ms on this message alone");
                } else {
                    for (int i = to - 1; i >= from; i--) {
                        todo.push(new int[] {i, i + 1});
                    }
                }
            } catch (ScoringException e) {
                if (from == 0 && to == n && retriesLeft > 0) {
                    int attempt = settings.retries() - retriesLeft--;
                    log.warn(
                            "scoring a batch of {} failed (attempt {} of {}): {}",
                            n,
                            attempt + 1,
                            settings.retries() + 1,
                            e.getMessage());
                    sleepQuietly(Math.min(50L << attempt, Math.max(0, (deadline - System.nanoTime()) / 2_000_000)));
                    todo.push(range);
                } else {
                    splitOrFail(
                            todo,
                            out,
                            from,
                            to,
                            DeadLetter.MODEL_FAILURE,
                            "the model failed on this message " + "alone (" + e.getMessage() + ")");
                }
            }
        }
        return out;
    }

    private static void splitOrFail(Deque<int[]> todo, Scored out, int from, int to, DeadLetter reason, String detail) {
        if (to - from == 1) {
            fail(out, from, to, reason, detail);
            return;
        }
        // halves, left first
        int mid = (from + to) >>> 1;
        todo.push(new int[] {mid, to});
        todo.push(new int[] {from, mid});
    }

    private static void fail(Scored out, int from, int to, DeadLetter reason, String detail) {
        for (int i = from; i < to; i++) {
            out.failures[i] = reason;
            out.details[i] = detail;
        }
    }

    private void emit(PendingMessage p, Moderator.Moderated m) {
        long ts = p.getRecordTimestamp();
        ChatMessage msg = p.getMessage();
        context.forward(new Record<>(
                utf8(msg.getConversationId()), new Outcome.VerdictOut(m.verdict()), ts, new RecordHeaders()));
        listener.verdict(m.verdict());
        if (!moderator.knowsTenant(msg.getTenant())) {
            listener.unknownTenant();
        }
        if (m.result().uncertain()) {
            Seed seed = Seed.newBuilder()
                    .setText(msg.getText())
                    .setPrompt(msg.getPrompt())
                    .setLanguage(m.verdict().getLanguage())
                    .setLabel(null)
                    .setReason(SeedReason.UNCERTAIN)
                    .setScores(m.verdict().getCategoryScores())
                    .setModelVersion(
                            new ModelKey(m.verdict().getModelName(), m.verdict().getModelVersion()).toString())
                    .setOriginMessageId(msg.getMessageId())
                    .setTenant(msg.getTenant())
                    .setCreatedAt(Instant.now())
                    .build();
            context.forward(new Record<>(utf8(msg.getMessageId()), new Outcome.SeedOut(seed), ts, new RecordHeaders()));
            listener.seed(SeedReason.UNCERTAIN);
        }
        if (settings.collectsFeedback(msg.getTenant())) {
            context.forward(new Record<>(
                    utf8(msg.getMessageId()),
                    new Outcome.ScoredOut(
                            msg.getMessageId(), GuardrailTopology.joinable(msg, m.verdict(), m.modelThresholds())),
                    ts,
                    new RecordHeaders()));
        }
    }

    private void deadLetter(
            Record<byte[], byte[]> record, DeadLetter reason, String detail, String topic, int partition, long offset) {
        Headers headers = new RecordHeaders(record.headers().toArray());
        reason.addTo(headers, detail, topic, partition, offset);
        context.forward(new Record<>(
                record.key(), new Outcome.DeadLetterOut(record.value(), reason), record.timestamp(), headers));
        listener.deadLetter(reason, topic);
    }

    /** The message the model could not score; its value is re-encoded from the buffered message. */
    private void deadLetterUnscored(PendingMessage p, DeadLetter reason, String detail) {
        Headers headers = new RecordHeaders();
        reason.addTo(
                headers,
                detail + "; value re-encoded from the decoded message",
                p.getSourceTopic(),
                p.getSourcePartition(),
                p.getSourceOffset());
        byte[] value = serializer.serialize(p.getSourceTopic(), p.getMessage());
        context.forward(new Record<>(
                utf8(p.getMessage().getConversationId()),
                new Outcome.DeadLetterOut(value, reason),
                p.getRecordTimestamp(),
                headers));
        listener.deadLetter(reason, p.getSourceTopic());
    }

    /** The fail-closed verdict of a message that has an id but cannot be scored (keyed by conversation id, else message id). */
    private void failClosed(ChatMessage m, DeadLetter reason, long receivedAtMicros, long timestamp) {
        Verdict v = moderator.failClosed(m, reason.name(), receivedAtMicros);
        byte[] key = utf8(blank(m.getConversationId()) ? m.getMessageId() : m.getConversationId());
        context.forward(new Record<>(key, new Outcome.VerdictOut(v), timestamp, new RecordHeaders()));
        listener.verdict(v);
        listener.failClosed(reason);
        if (!moderator.knowsTenant(m.getTenant())) {
            listener.unknownTenant();
        }
    }

    private static boolean blank(String s) {
        return s == null || s.isBlank();
    }

    static String rootMessage(Throwable t) {
        return RegistryErrors.describe(t);
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static void sleepQuietly(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
