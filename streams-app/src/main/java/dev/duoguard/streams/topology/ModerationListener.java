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

    ModerationListener NONE = new ModerationListener() {};
}
