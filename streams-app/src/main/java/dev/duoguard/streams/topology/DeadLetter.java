package dev.duoguard.streams.topology;

import java.nio.charset.StandardCharsets;
import java.util.Locale;
import org.apache.kafka.common.header.Headers;

/**
 * Why a record went to the dead-letter topic. The DLQ record keeps the original key and value bytes (and
 * original headers) and adds {@code duoguard.dlq.*} headers, so nothing is lost and the cause is visible.
 */
public enum DeadLetter {
    NULL_VALUE,
    NOT_WIRE_FORMAT,
    UNKNOWN_SCHEMA_ID,
    UNDECODABLE,
    WRONG_RECORD_TYPE,
    MISSING_FIELD,
    INVALID_FIELD,
    EMPTY_TEXT,
    TEXT_TOO_LONG,
    INVALID_UTF8,
    CONTROL_CHARACTERS,
    MODEL_FAILURE,
    MODEL_TIMEOUT,
    /** feedback of a tenant not in {@code feedback.tenants}: its messages did not go through the join */
    FEEDBACK_NOT_COLLECTED;

    public static final String REASON = "duoguard.dlq.reason";
    public static final String DETAIL = "duoguard.dlq.detail";
    public static final String SOURCE_TOPIC = "duoguard.dlq.source.topic";
    public static final String SOURCE_PARTITION = "duoguard.dlq.source.partition";
    public static final String SOURCE_OFFSET = "duoguard.dlq.source.offset";

    public void addTo(Headers headers, String detail, String topic, int partition, long offset) {
        headers.add(REASON, name().getBytes(StandardCharsets.UTF_8));
        headers.add(DETAIL, truncate(detail).getBytes(StandardCharsets.UTF_8));
        headers.add(SOURCE_TOPIC, String.valueOf(topic).getBytes(StandardCharsets.UTF_8));
        headers.add(SOURCE_PARTITION, Integer.toString(partition).getBytes(StandardCharsets.UTF_8));
        headers.add(SOURCE_OFFSET, Long.toString(offset).getBytes(StandardCharsets.UTF_8));
    }

    private static String truncate(String s) {
        String v = s == null ? "" : s;
        return v.length() > 2000 ? v.substring(0, 2000) + "…" : v;
    }

    public String metricLabel() {
        return name().toLowerCase(Locale.ROOT);
    }
}
