package dev.duoguard.streams.topology;

import dev.duoguard.schemas.Category;
import dev.duoguard.schemas.CategoryScore;
import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.schemas.Feedback;
import dev.duoguard.schemas.SafetyLabel;
import dev.duoguard.schemas.Seed;
import dev.duoguard.schemas.SeedReason;
import dev.duoguard.schemas.Verdict;
import dev.duoguard.schemas.internal.PendingMessage;
import dev.duoguard.schemas.internal.ScoredMessage;
import dev.duoguard.streams.config.AppConfig;
import dev.duoguard.streams.serde.AvroSerdes;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Branched;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.JoinWindows;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.StreamJoined;
import org.apache.kafka.streams.state.Stores;

import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * The streams app's topology, built by one pure function of its settings, a {@link Moderator} (which holds the
 * scorer) and the serdes.
 *
 * <pre>
 * chat.messages ─► score (batch buffer store) ─┬─► chat.verdicts      (key: conversation id)
 *                                             ├─► guardrail.seeds     (UNCERTAIN, key: message id)
 *                                             ├─► guardrail.dlq       (bad input, model failures)
 *                                             └─► by message id ─┐
 * chat.feedback ─► decode ─┬─► guardrail.dlq                     ├─ windowed join ─► guardrail.seeds (MISCLASSIFIED)
 *                          └─► by message id ────────────────────┘
 * </pre>
 * The feedback join is a windowed stream-stream join, so it matches in either arrival order and keeps each side
 * only for {@code feedbackJoinWindow} (bounded retention; the joined side holds the message text that long).
 */
public final class GuardrailTopology {

    public static final String PENDING_STORE = "scoring-buffer";

    /**
     * What the topology needs from the configuration.
     *
     * @param timeout             bound on one model call
     * @param batchDeadline       every message of a flushed batch has its verdict within this
     * @param registryRetryBudget how long a record waits for an unreachable registry before the thread is replaced
     */
    public record Settings(AppConfig.Topics topics, int maxBatch, Duration maxWait, Duration timeout,
                           Duration batchDeadline, int retries, Duration registryRetryBudget, int maxTextChars,
                           Duration feedbackJoinWindow) {
        public static Settings from(AppConfig c) {
            return new Settings(c.topics(), c.scoring().maxBatch(), c.scoring().maxWait(), c.scoring().timeout(),
                    c.scoring().batchDeadline(), c.scoring().retries(), c.registryRetryBudget(), c.maxTextChars(),
                    c.feedbackJoinWindow());
        }
    }

    private GuardrailTopology() {
    }

    public static Topology build(Settings settings, Moderator moderator, AvroSerdes serdes, ModerationListener listener) {
        AppConfig.Topics topics = settings.topics();
        Serde<ChatMessage> messageSerde = serdes.value(ChatMessage.class);
        Serde<Verdict> verdictSerde = serdes.value(Verdict.class);
        Serde<Feedback> feedbackSerde = serdes.value(Feedback.class);
        Serde<Seed> seedSerde = serdes.value(Seed.class);
        Serde<PendingMessage> pendingSerde = serdes.value(PendingMessage.class);
        Serde<ScoredMessage> scoredSerde = serdes.value(ScoredMessage.class);

        StreamsBuilder builder = new StreamsBuilder();
        builder.addStateStore(Stores.keyValueStoreBuilder(
                Stores.inMemoryKeyValueStore(PENDING_STORE), Serdes.Long(), pendingSerde));

        KStream<byte[], Outcome> scored = builder
                .stream(topics.messages(), Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()).withName("messages"))
                .process(() -> new ScoringProcessor(settings, moderator, messageSerde.deserializer(),
                        messageSerde.serializer(), serdes.schemaIds(), listener), Named.as("score"), PENDING_STORE);

        KStream<byte[], Outcome> feedback = builder
                .stream(topics.feedback(), Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()).withName("feedback"))
                .process(() -> new FeedbackProcessor(new WireDecoder<>(feedbackSerde.deserializer(), Feedback.class,
                        serdes.schemaIds(), settings.registryRetryBudget()), listener), Named.as("decode-feedback"));

        Produced<byte[], byte[]> dlq = Produced.with(Serdes.ByteArray(), Serdes.ByteArray());
        Map<String, KStream<byte[], Outcome>> byKind = scored.split(Named.as("scored-"))
                .branch((k, v) -> v instanceof Outcome.VerdictOut, Branched.as("verdict"))
                .branch((k, v) -> v instanceof Outcome.SeedOut, Branched.as("seed"))
                .branch((k, v) -> v instanceof Outcome.ScoredOut, Branched.as("joinable"))
                .branch((k, v) -> v instanceof Outcome.DeadLetterOut, Branched.as("dlq"))
                .noDefaultBranch();
        byKind.get("scored-verdict").mapValues(v -> ((Outcome.VerdictOut) v).verdict(), Named.as("verdicts"))
                .to(topics.verdicts(), Produced.with(Serdes.ByteArray(), verdictSerde).withName("to-verdicts"));
        byKind.get("scored-seed").mapValues(v -> ((Outcome.SeedOut) v).seed(), Named.as("uncertain-seeds"))
                .to(topics.seeds(), Produced.with(Serdes.ByteArray(), seedSerde).withName("to-seeds-uncertain"));
        byKind.get("scored-dlq").mapValues(v -> ((Outcome.DeadLetterOut) v).value(), Named.as("message-dead-letters"))
                .to(topics.dlq(), dlq.withName("to-dlq-messages"));

        Map<String, KStream<byte[], Outcome>> feedbackByKind = feedback.split(Named.as("feedback-"))
                .branch((k, v) -> v instanceof Outcome.FeedbackOut, Branched.as("ok"))
                .branch((k, v) -> v instanceof Outcome.DeadLetterOut, Branched.as("dlq"))
                .noDefaultBranch();
        feedbackByKind.get("feedback-dlq").mapValues(v -> ((Outcome.DeadLetterOut) v).value(), Named.as("feedback-dead-letters"))
                .to(topics.dlq(), dlq.withName("to-dlq-feedback"));

        KStream<String, ScoredMessage> scoredById = byKind.get("scored-joinable").map((k, v) -> {
            ScoredMessage s = ((Outcome.ScoredOut) v).scored();
            return KeyValue.pair(s.getMessage().getMessageId(), s);
        }, Named.as("scored-by-message-id"));
        KStream<String, Feedback> feedbackById = feedbackByKind.get("feedback-ok").map((k, v) -> {
            Feedback f = ((Outcome.FeedbackOut) v).feedback();
            return KeyValue.pair(f.getMessageId(), f);
        }, Named.as("feedback-by-message-id"));

        Duration window = settings.feedbackJoinWindow();
        scoredById.join(feedbackById, (scoredMessage, fb) -> misclassifiedSeed(scoredMessage, fb,
                                decidingThresholds(scoredMessage, moderator)),
                        JoinWindows.ofTimeDifferenceAndGrace(window, Duration.ofMinutes(5)),
                        StreamJoined.with(Serdes.String(), scoredSerde, feedbackSerde)
                                .withName("feedback-join").withStoreName("feedback-join"))
                .filter((k, seed) -> seed != null, Named.as("misclassified-only"))
                .peek((k, seed) -> listener.seed(SeedReason.MISCLASSIFIED), Named.as("count-misclassified"))
                .to(topics.seeds(), Produced.with(Serdes.String(), seedSerde).withName("to-seeds-misclassified"));

        return builder.build();
    }

    /**
     * The thresholds the verdict was decided with, as the scoring processor recorded them; a record from before
     * they were recorded falls back to the serving model's thresholds for the verdict's language.
     */
    static float[] decidingThresholds(ScoredMessage scored, Moderator moderator) {
        java.util.List<Float> recorded = scored.getModelThresholds();
        if (recorded != null && recorded.size() == dev.duoguard.runtime.taxonomy.SafetyCategory.COUNT) {
            float[] t = new float[recorded.size()];
            for (int i = 0; i < t.length; i++) {
                t[i] = recorded.get(i);
            }
            return t;
        }
        return moderator.model().thresholds(scored.getVerdict().getLanguage());
    }

    /**
     * A human label disagrees with the verdict when (a) it says unsafe and the model said safe, (b) it says safe and
     * the model said unsafe (DuoGuard's rule, not the tenant policy), or (c) both say unsafe but none of the human's
     * categories passed its model threshold (wrong category). Returns null when they agree.
     */
    static Seed misclassifiedSeed(ScoredMessage scored, Feedback feedback, float[] modelThresholds) {
        Verdict v = scored.getVerdict();
        boolean humanUnsafe = feedback.getLabel() == SafetyLabel.UNSAFE;
        boolean disagrees = humanUnsafe != v.getUnsafe();
        if (!disagrees && humanUnsafe && !feedback.getCategories().isEmpty()) {
            Set<Category> modelUnsafe = new HashSet<>();
            for (CategoryScore s : v.getCategoryScores()) {
                if (s.getScore() > modelThresholds[s.getCategory().ordinal()]) {
                    modelUnsafe.add(s.getCategory());
                }
            }
            disagrees = feedback.getCategories().stream().noneMatch(modelUnsafe::contains);
        }
        if (!disagrees) {
            return null;
        }
        ChatMessage m = scored.getMessage();
        return Seed.newBuilder()
                .setText(m.getText())
                .setPrompt(m.getPrompt())
                .setLanguage(v.getLanguage())
                .setLabel(feedback.getLabel())
                .setCategories(feedback.getCategories())
                .setReason(SeedReason.MISCLASSIFIED)
                .setScores(v.getCategoryScores())
                .setModelVersion(v.getModelName() + "@" + v.getModelVersion())
                .setOriginMessageId(m.getMessageId())
                .setTenant(m.getTenant())
                .setCreatedAt(Instant.now())
                .build();
    }
}
