package dev.duoguard.streams.topology;

import dev.duoguard.schemas.Feedback;
import java.util.function.Predicate;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;

/**
 * Decodes feedback records; undecodable or incomplete ones go to the DLQ with the reason in headers. Feedback must
 * name its tenant: the join only accepts it for a message of that tenant (see {@link GuardrailTopology}). A registry
 * outage makes the partition wait (see {@link WireDecoder}), it does not dead-letter feedback. Feedback of a tenant
 * whose messages skip the join ({@code feedback.tenants}) goes to the DLQ as {@code FEEDBACK_NOT_COLLECTED}.
 */
final class FeedbackProcessor implements Processor<byte[], byte[], byte[], Outcome> {

    private final WireDecoder<Feedback> decoder;
    private final Predicate<String> collectsFeedback;
    private final ModerationListener listener;
    private ProcessorContext<byte[], Outcome> context;

    FeedbackProcessor(WireDecoder<Feedback> decoder, Predicate<String> collectsFeedback, ModerationListener listener) {
        this.decoder = decoder;
        this.collectsFeedback = collectsFeedback;
        this.listener = listener;
    }

    @Override
    public void init(ProcessorContext<byte[], Outcome> context) {
        this.context = context;
    }

    @Override
    public void process(Record<byte[], byte[]> record) {
        RecordMetadata meta = context.recordMetadata().orElseThrow();
        DeadLetter reason = null;
        String detail = null;
        Feedback feedback = null;
        try {
            feedback = decoder.decode(meta.topic(), record.value());
            if (feedback.getMessageId().isBlank()) {
                reason = DeadLetter.MISSING_FIELD;
                detail = "message_id is empty";
            } else if (feedback.getTenant() == null || feedback.getTenant().isBlank()) {
                reason = DeadLetter.MISSING_FIELD;
                detail = "tenant is missing: feedback is only joined to a message of its own tenant";
            } else if (!collectsFeedback.test(feedback.getTenant())) {
                // its messages skipped the join: it could never match, so it is kept here rather than lost
                reason = DeadLetter.FEEDBACK_NOT_COLLECTED;
                detail = "tenant '" + feedback.getTenant() + "' is not in feedback.tenants: its messages are not"
                        + " kept for feedback";
            }
        } catch (WireDecoder.Rejected r) {
            reason = r.reason;
            detail = r.getMessage();
        }
        if (reason != null) {
            Headers headers = new RecordHeaders(record.headers().toArray());
            reason.addTo(headers, detail, meta.topic(), meta.partition(), meta.offset());
            context.forward(new Record<>(
                    record.key(), new Outcome.DeadLetterOut(record.value(), reason), record.timestamp(), headers));
            listener.deadLetter(reason, meta.topic());
            return;
        }
        context.forward(
                new Record<>(record.key(), new Outcome.FeedbackOut(feedback), record.timestamp(), new RecordHeaders()));
    }
}
