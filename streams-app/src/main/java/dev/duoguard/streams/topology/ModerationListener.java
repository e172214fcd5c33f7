package dev.duoguard.streams.topology;

import dev.duoguard.schemas.SeedReason;
import dev.duoguard.schemas.Verdict;

/** Observes what the topology does (metrics, the demo's progress). Called on stream threads: keep it cheap. */
public interface ModerationListener {

    default void verdict(Verdict verdict) {}

    default void deadLetter(DeadLetter reason, String sourceTopic) {}

    default void seed(SeedReason reason) {}

    /** A fail-closed verdict was emitted for a message that could not be read or scored (also in verdict()). */
    default void failClosed(DeadLetter reason) {}

    /** A verdict was given with the strictest policy: its tenant is not on the allow-list (also in verdict()). */
    default void unknownTenant() {}

    /** Feedback joined a scored message of another tenant and was ignored: it makes no seed. */
    default void feedbackTenantMismatch() {}

    /** One flush of the scoring buffer: how many messages, and the model time for them. */
    default void batch(int messages, long modelMicros) {}

    /** Streamed replies open on this instance went up or down by {@code delta} (opened, finalised, moved away). */
    default void openReplies(int delta) {}

    /** An early STOP verdict was given for a streamed reply (also in verdict()). */
    default void replyStop() {}

    /** The one FINAL verdict of a streamed reply was given (also in verdict()). */
    default void replyFinal(boolean incomplete) {}

    /**
     * A reply chunk that was not assembled as it came: {@code duplicate} (its sequence number was already there),
     * {@code out_of_order} (held until the gap before it is filled) or {@code late} (its reply was already final).
     */
    default void replyChunk(String kind) {}

    ModerationListener NONE = new ModerationListener() {};
}
