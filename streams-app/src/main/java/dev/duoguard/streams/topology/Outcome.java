package dev.duoguard.streams.topology;

import dev.duoguard.schemas.Feedback;
import dev.duoguard.schemas.Seed;
import dev.duoguard.schemas.Verdict;
import dev.duoguard.schemas.internal.ScoredMessage;

/** What the topology's processors emit; the topology routes each kind to its topic. */
public sealed interface Outcome {

    record VerdictOut(Verdict verdict) implements Outcome {
    }

    record SeedOut(Seed seed) implements Outcome {
    }

    /** A message with its verdict, re-keyed by message id for the feedback join. */
    record ScoredOut(ScoredMessage scored) implements Outcome {
    }

    record FeedbackOut(Feedback feedback) implements Outcome {
    }

    /** The original value bytes; the reason travels in the record headers. */
    record DeadLetterOut(byte[] value, DeadLetter reason) implements Outcome {
    }
}
