package dev.duoguard.streams.topology;

import dev.duoguard.schemas.Feedback;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;

/** Decodes feedback records; undecodable or incomplete ones go to the DLQ with the reason in headers. */
final class FeedbackProcessor implements Processor<byte[], byte[], byte[], Outcome> {

    private final Deserializer<Feedback> deserializer;
    private final ModerationListener listener;
    private ProcessorContext<byte[], Outcome> context;

    FeedbackProcessor(Deserializer<Feedback> deserializer, ModerationListener listener) {
        this.deserializer = deserializer;
        this.listener = listener;
    }

    @Override
    public void init(ProcessorContext<byte[], Outcome> context) {
        this.context = context;
    }

    @Override
    public void process(Record<byte[], byte[]> record) {
        RecordMetadata meta = context.recordMetadata().orElseThrow();
        byte[] value = record.value();
        DeadLetter reason = null;
        String detail = null;
        Object decoded = null;
        if (value == null) {
            reason = DeadLetter.NULL_VALUE;
            detail = "record value is null (tombstone)";
        } else if (value.length < 5 || value[0] != 0) {
            reason = DeadLetter.NOT_WIRE_FORMAT;
            detail = "expected the Confluent wire format (magic byte 0, 4-byte schema id, Avro binary)";
        } else {
            try {
                decoded = deserializer.deserialize(meta.topic(), value);
            } catch (RuntimeException e) {
                reason = DeadLetter.classifyDecodingFailure(e);
                detail = "cannot decode: " + ScoringProcessor.rootMessage(e);
            }
            if (reason == null && !(decoded instanceof Feedback)) {
                reason = DeadLetter.WRONG_RECORD_TYPE;
                detail = "expected a Feedback but the record is a " + (decoded == null ? "null" : decoded.getClass().getName());
            } else if (reason == null && ((Feedback) decoded).getMessageId().isBlank()) {
                reason = DeadLetter.MISSING_FIELD;
                detail = "message_id is empty";
            }
        }
        if (reason != null) {
            Headers headers = new RecordHeaders(record.headers().toArray());
            reason.addTo(headers, detail, meta.topic(), meta.partition(), meta.offset());
            context.forward(new Record<>(record.key(), new Outcome.DeadLetterOut(value, reason), record.timestamp(), headers));
            listener.deadLetter(reason, meta.topic());
            return;
        }
        context.forward(new Record<>(record.key(), new Outcome.FeedbackOut((Feedback) decoded), record.timestamp(),
                new RecordHeaders()));
    }
}
