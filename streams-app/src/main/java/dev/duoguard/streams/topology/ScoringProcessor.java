package dev.duoguard.streams.topology;

import dev.duoguard.runtime.scoring.ScoringException;
import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.schemas.Seed;
import dev.duoguard.schemas.SeedReason;
import dev.duoguard.schemas.internal.PendingMessage;
import dev.duoguard.schemas.internal.ScoredMessage;
import dev.duoguard.streams.serde.RegistryErrors;
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

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeoutException;

/**
 * Decodes and validates chat messages, buffers them into batches and scores each batch in one model call.
 *
 * <p><b>Why a state store.</b> Kafka Streams commits input offsets on its own schedule. Records held only in
 * memory across a commit would be lost by a crash, so the batch buffer is a changelogged store: under
 * exactly-once the buffered records, the verdicts forwarded for them and their deletion from the buffer commit
 * atomically with the input offsets, and after a crash the buffer is restored and scored. The buffer is flushed
 * when it holds {@code maxBatch} messages or when a wall-clock punctuation fires every {@code maxWait}.
 *
 * <p><b>Failures.</b> Bad records go to the DLQ with the reason in headers. A batch the model fails on is retried;
 * if it still fails, each message is scored alone and only the ones that fail alone are dead-lettered
 * (MODEL_FAILURE, with the message re-encoded). A model that does not answer within the scoring timeout throws,
 * which replaces the stream thread; the buffer survives in the store, so nothing is lost.
 */
final class ScoringProcessor implements Processor<byte[], byte[], byte[], Outcome> {

    private static final Logger log = LoggerFactory.getLogger(ScoringProcessor.class);

    private final GuardrailTopology.Settings settings;
    private final Moderator moderator;
    private final Deserializer<ChatMessage> deserializer;
    private final Serializer<ChatMessage> serializer;
    private final InputValidator validator;
    private final ModerationListener listener;

    private ProcessorContext<byte[], Outcome> context;
    private KeyValueStore<Long, PendingMessage> buffer;
    private long nextSequence;
    private int buffered;

    ScoringProcessor(GuardrailTopology.Settings settings, Moderator moderator, Deserializer<ChatMessage> deserializer,
                     Serializer<ChatMessage> serializer, ModerationListener listener) {
        this.settings = settings;
        this.moderator = moderator;
        this.deserializer = deserializer;
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
            message = decode(record.value());
        } catch (Rejected r) {
            deadLetter(record, r.reason, r.getMessage(), meta.topic(), meta.partition(), meta.offset());
            return;
        }
        InputValidator.Problem problem = validator.check(message);
        if (problem != null) {
            deadLetter(record, problem.reason(), problem.detail(), meta.topic(), meta.partition(), meta.offset());
            return;
        }
        buffer.put(nextSequence++, new PendingMessage(message, Moderator.nowMicros(), meta.topic(), meta.partition(),
                meta.offset(), record.timestamp()));
        if (++buffered >= settings.maxBatch()) {
            flush();
        }
    }

    private ChatMessage decode(byte[] value) {
        if (value == null) {
            throw new Rejected(DeadLetter.NULL_VALUE, "record value is null (tombstone)");
        }
        if (value.length < 5 || value[0] != 0) {
            throw new Rejected(DeadLetter.NOT_WIRE_FORMAT, "expected the Confluent wire format (magic byte 0, 4-byte "
                    + "schema id, Avro binary) but got " + value.length + " bytes starting with "
                    + (value.length == 0 ? "nothing" : String.format("0x%02X", value[0])));
        }
        Object decoded;
        try {
            decoded = deserializer.deserialize(context.recordMetadata().map(RecordMetadata::topic).orElse(""), value);
        } catch (RuntimeException e) {
            int id = ((value[1] & 0xFF) << 24) | ((value[2] & 0xFF) << 16) | ((value[3] & 0xFF) << 8) | (value[4] & 0xFF);
            throw new Rejected(DeadLetter.classifyDecodingFailure(e), "cannot decode with schema id " + id + ": " + rootMessage(e));
        }
        if (!(decoded instanceof ChatMessage m)) {
            throw new Rejected(DeadLetter.WRONG_RECORD_TYPE, "expected a ChatMessage but the record is a "
                    + (decoded == null ? "null" : decoded.getClass().getName()));
        }
        return m;
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
        List<Moderator.Moderated> results = moderateWithRetries(batch);
        listener.batch(batch.size(), (System.nanoTime() - start) / 1000);
        for (int i = 0; i < batch.size(); i++) {
            PendingMessage p = batch.get(i).value;
            Moderator.Moderated m = results.get(i);
            if (m == null) {
                deadLetterModelFailure(p);
            } else {
                emit(p, m);
            }
            buffer.delete(batch.get(i).key);
        }
        buffered = 0;
    }

    /** Returns one result per message; null where the model failed on that message alone. */
    private List<Moderator.Moderated> moderateWithRetries(List<KeyValue<Long, PendingMessage>> batch) {
        List<ChatMessage> messages = new ArrayList<>(batch.size());
        long[] received = new long[batch.size()];
        for (int i = 0; i < batch.size(); i++) {
            messages.add(batch.get(i).value.getMessage());
            received[i] = batch.get(i).value.getReceivedAtUs();
        }
        ScoringException last = null;
        for (int attempt = 0; attempt <= settings.retries(); attempt++) {
            try {
                return moderator.moderate(messages, received);
            } catch (ScoringException e) {
                rethrowIfTimeout(e);
                last = e;
                log.warn("scoring a batch of {} failed (attempt {} of {}): {}", messages.size(), attempt + 1,
                        settings.retries() + 1, e.getMessage());
                sleepQuietly(50L << attempt);
            }
        }
        log.warn("isolating the failing message(s) of a batch of {} after: {}", messages.size(), last.getMessage());
        List<Moderator.Moderated> out = new ArrayList<>(messages.size());
        for (int i = 0; i < messages.size(); i++) {
            try {
                out.add(moderator.moderate(List.of(messages.get(i)), new long[]{received[i]}).get(0));
            } catch (ScoringException e) {
                rethrowIfTimeout(e);
                out.add(null);
            }
        }
        return out;
    }

    private static void rethrowIfTimeout(ScoringException e) {
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof TimeoutException) {
                throw e;
            }
        }
    }

    private void emit(PendingMessage p, Moderator.Moderated m) {
        long ts = p.getRecordTimestamp();
        ChatMessage msg = p.getMessage();
        context.forward(new Record<>(utf8(msg.getConversationId()), new Outcome.VerdictOut(m.verdict()), ts, new RecordHeaders()));
        listener.verdict(m.verdict());
        if (m.result().uncertain()) {
            Seed seed = Seed.newBuilder()
                    .setText(msg.getText())
                    .setPrompt(msg.getPrompt())
                    .setLanguage(m.verdict().getLanguage())
                    .setLabel(null)
                    .setReason(SeedReason.UNCERTAIN)
                    .setScores(m.verdict().getCategoryScores())
                    .setModelVersion(m.verdict().getModelName() + "@" + m.verdict().getModelVersion())
                    .setOriginMessageId(msg.getMessageId())
                    .setTenant(msg.getTenant())
                    .setCreatedAt(Instant.now())
                    .build();
            context.forward(new Record<>(utf8(msg.getMessageId()), new Outcome.SeedOut(seed), ts, new RecordHeaders()));
            listener.seed(SeedReason.UNCERTAIN);
        }
        context.forward(new Record<>(utf8(msg.getMessageId()), new Outcome.ScoredOut(new ScoredMessage(msg, m.verdict(), floats(m.modelThresholds()))),
                ts, new RecordHeaders()));
    }

    private void deadLetter(Record<byte[], byte[]> record, DeadLetter reason, String detail, String topic,
                            int partition, long offset) {
        Headers headers = new RecordHeaders(record.headers().toArray());
        reason.addTo(headers, detail, topic, partition, offset);
        context.forward(new Record<>(record.key(), new Outcome.DeadLetterOut(record.value(), reason), record.timestamp(), headers));
        listener.deadLetter(reason, topic);
    }

    private void deadLetterModelFailure(PendingMessage p) {
        Headers headers = new RecordHeaders();
        DeadLetter.MODEL_FAILURE.addTo(headers, "the model failed on this message alone after "
                + (settings.retries() + 1) + " batch attempts; value re-encoded from the decoded message",
                p.getSourceTopic(), p.getSourcePartition(), p.getSourceOffset());
        byte[] value = serializer.serialize(p.getSourceTopic(), p.getMessage());
        context.forward(new Record<>(utf8(p.getMessage().getConversationId()),
                new Outcome.DeadLetterOut(value, DeadLetter.MODEL_FAILURE), p.getRecordTimestamp(), headers));
        listener.deadLetter(DeadLetter.MODEL_FAILURE, p.getSourceTopic());
    }

    static String rootMessage(Throwable t) {
        return RegistryErrors.describe(t);
    }

    static java.util.List<Float> floats(float[] values) {
        java.util.List<Float> out = new ArrayList<>(values.length);
        for (float v : values) {
            out.add(v);
        }
        return out;
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

    /** A record that cannot be processed, with the dead-letter reason. */
    static final class Rejected extends RuntimeException {
        final DeadLetter reason;

        Rejected(DeadLetter reason, String message) {
            super(message, null, false, false);
            this.reason = reason;
        }
    }
}
