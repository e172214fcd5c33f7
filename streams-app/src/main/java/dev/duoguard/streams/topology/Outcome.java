package dev.duoguard.streams.topology;

import dev.duoguard.schemas.Feedback;
import dev.duoguard.schemas.Seed;
import dev.duoguard.schemas.Verdict;
import dev.duoguard.schemas.internal.JoinableVerdict;

/** What the topology's processors emit; the topology routes each kind to its topic. */
public sealed interface Outcome {

    record VerdictOut(Verdict verdict) implements Outcome {}

    record SeedOut(Seed seed) implements Outcome {}

    /** What the feedback join keeps of a scored message, re-keyed by its message id. */
    record ScoredOut(String messageId, JoinableVerdict joinable) implements Outcome {}

    record FeedbackOut(Feedback feedback) implements Outcome {}

    /** The original value bytes; the reason travels in the record headers. */
    record DeadLetterOut(byte[] value, DeadLetter reason) implements Outcome {}
}
