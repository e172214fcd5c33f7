package dev.duoguard.streams.topology;

import dev.duoguard.common.redact.Redactor;
import dev.duoguard.common.serde.AvroSerdes;
import dev.duoguard.common.topics.Topics;
import dev.duoguard.lifecycle.ModelKey;
import dev.duoguard.schemas.Category;
import dev.duoguard.schemas.CategoryScore;
import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.schemas.Feedback;
import dev.duoguard.schemas.SafetyLabel;
import dev.duoguard.schemas.Seed;
import dev.duoguard.schemas.SeedReason;
import dev.duoguard.schemas.Verdict;
import dev.duoguard.schemas.internal.JoinableVerdict;
import dev.duoguard.schemas.internal.PendingMessage;
import dev.duoguard.streams.config.AppConfig;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
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

/**
 * The streams app's topology, built by one pure function of its settings, a {@link Moderator} (which holds the
 * scorer) and the serdes.
 *
 * <pre>
 * chat.messages ─► score (batch buffer store) ─┬─► chat.verdicts      (key: conversation id)
 *                                             ├─► guardrail.seeds     (UNCERTAIN, key: message id)
 *                                             ├─► guardrail.dlq       (bad input, model failures)
 *                                             └─► by message id ─┐
 * chat.feedback ─► decode ─┬─► guardrail.dlq (no tenant, ...)     ├─ windowed join ─► guardrail.seeds (MISCLASSIFIED)
 *                          └─► by message id ────────────────────┘
 * chat.reply-chunks ─► assemble, score the growing reply (reply store) ─┬─► chat.verdicts (STOP, FINAL)
 *                                                                       └─► guardrail.dlq
 * </pre>
 * The feedback join is a windowed stream-stream join, so it matches in either arrival order. Its stores keep each
 * side for twice {@code feedbackJoinWindow} plus the grace period (Kafka Streams' retention of a symmetric join
 * window), and of a scored message only a {@link JoinableVerdict}: what a MISCLASSIFIED seed needs.
 */
public final class GuardrailTopology {

    public static final String PENDING_STORE = "scoring-buffer";

    /**
     * Name of the feedback join, its stores ({@code -this-join-store}, {@code -other-join-store}) and so of their
     * changelog and repartition topics. "-v2": the topics of "feedback-join" hold whole ScoredMessages, a type
     * this version cannot read, so the slim records start in new ones (joins pending at the upgrade are dropped).
     */
    public static final String FEEDBACK_JOIN = "feedback-join-v2";

    /**
     * What the topology needs from the configuration.
     *
     * @param timeout             bound on one model call
     * @param batchDeadline       every message of a flushed batch has its verdict within this
     * @param registryRetryBudget how long a record waits for an unreachable registry before the thread is replaced
     * @param feedbackTenants     tenants whose messages go through the feedback join; null: every tenant
     * @param replies             moderation of streamed replies (see {@link ReplyStreamProcessor})
     */
    public record Settings(
            Topics.Names topics,
            int maxBatch,
            Duration maxWait,
            Duration timeout,
            Duration batchDeadline,
            int retries,
            Duration registryRetryBudget,
            int maxTextChars,
            Duration feedbackJoinWindow,
            Set<String> feedbackTenants,
            Redactor seedRedactor,
            AppConfig.Replies replies) {

        /** Whether {@code tenant}'s messages can receive feedback (go through the join): see feedback.tenants. */
        public boolean collectsFeedback(String tenant) {
            return feedbackTenants == null || feedbackTenants.contains(tenant);
        }

        public static Settings from(AppConfig c) {
            return new Settings(
                    c.topics(),
                    c.scoring().maxBatch(),
                    c.scoring().maxWait(),
                    c.scoring().timeout(),
                    c.scoring().batchDeadline(),
                    c.scoring().retries(),
                    c.registryRetryBudget(),
                    c.maxTextChars(),
                    c.feedbackJoinWindow(),
                    c.feedbackTenants(),
                    c.seedRedactor(),
                    c.replies());
        }
    }

    private GuardrailTopology() {}

    /** The seed with its text and prompt redacted (see {@link Redactor}), or as it is when redaction is off. */
    static Seed redacted(Seed seed, Settings settings) {
        Redactor r = settings.seedRedactor();
        if (r == null) {
            return seed;
        }
        return Seed.newBuilder(seed)
                .setText(r.redact(seed.getText()))
                .setPrompt(r.redact(seed.getPrompt()))
                .build();
    }

    public static Topology build(
            Settings settings, Moderator moderator, AvroSerdes serdes, ModerationListener listener) {
        Topics topics = Topics.of(settings.topics(), serdes);
        Serde<ChatMessage> messageSerde = topics.messages().valueSerde();
        Serde<Verdict> verdictSerde = topics.verdicts().valueSerde();
        Serde<Feedback> feedbackSerde = topics.feedback().valueSerde();
        Serde<Seed> seedSerde = topics.seeds().valueSerde();
        // the internal topics' (changelogs, repartitions) schemas are filed by record name: see AvroSerdes.internal
        Serde<PendingMessage> pendingSerde = serdes.internal(PendingMessage.class);
        Serde<JoinableVerdict> joinableSerde = serdes.internal(JoinableVerdict.class);
        Serde<Feedback> joinedFeedbackSerde = serdes.internal(Feedback.class);

        StreamsBuilder builder = new StreamsBuilder();
        // cached: a message buffered and scored between two commits (nearly all of them) costs its changelog one
        // tombstone at the commit instead of a put and a tombstone; what is still buffered at a commit is written
        // then, in the same transaction as the offsets, so a restore finds it as before
        builder.addStateStore(
                Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(PENDING_STORE), Serdes.Long(), pendingSerde)
                        .withCachingEnabled());

        // the inputs are consumed as bytes, not with their topics' serdes: the processors decode them (fail-closed,
        // see WireDecoder: what cannot be read goes to the DLQ as it came, an unreachable registry is waited for),
        // and the outputs keep the input's key bytes as they came, so they are written with a byte-array key serde
        KStream<byte[], Outcome> scored = builder.stream(
                        topics.messages().name(),
                        Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()).withName("messages"))
                .process(
                        () -> new ScoringProcessor(
                                settings,
                                moderator,
                                messageSerde.deserializer(),
                                messageSerde.serializer(),
                                serdes.schemaIds(),
                                listener),
                        Named.as("score"),
                        PENDING_STORE);

        KStream<byte[], Outcome> feedback = builder.stream(
                        topics.feedback().name(),
                        Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()).withName("feedback"))
                .process(
                        () -> new FeedbackProcessor(
                                new WireDecoder<>(
                                        feedbackSerde.deserializer(),
                                        Feedback.class,
                                        serdes.schemaIds(),
                                        settings.registryRetryBudget()),
                                settings::collectsFeedback,
                                listener),
                        Named.as("decode-feedback"));

        Produced<byte[], byte[]> dlq =
                Produced.with(topics.dlq().keySerde(), topics.dlq().valueSerde());
        Map<String, KStream<byte[], Outcome>> byKind = scored.split(Named.as("scored-"))
                .branch((k, v) -> v instanceof Outcome.VerdictOut, Branched.as("verdict"))
                .branch((k, v) -> v instanceof Outcome.SeedOut, Branched.as("seed"))
                .branch((k, v) -> v instanceof Outcome.ScoredOut, Branched.as("joinable"))
                .branch((k, v) -> v instanceof Outcome.DeadLetterOut, Branched.as("dlq"))
                .noDefaultBranch();
        byKind.get("scored-verdict")
                .mapValues(v -> ((Outcome.VerdictOut) v).verdict(), Named.as("verdicts"))
                .to(
                        topics.verdicts().name(),
                        Produced.with(Serdes.ByteArray(), verdictSerde).withName("to-verdicts"));
        byKind.get("scored-seed")
                .mapValues(v -> redacted(((Outcome.SeedOut) v).seed(), settings), Named.as("uncertain-seeds"))
                .to(
                        topics.seeds().name(),
                        Produced.with(Serdes.ByteArray(), seedSerde).withName("to-seeds-uncertain"));
        byKind.get("scored-dlq")
                .mapValues(v -> ((Outcome.DeadLetterOut) v).value(), Named.as("message-dead-letters"))
                .to(topics.dlq().name(), dlq.withName("to-dlq-messages"));

        Map<String, KStream<byte[], Outcome>> feedbackByKind = feedback.split(Named.as("feedback-"))
                .branch((k, v) -> v instanceof Outcome.FeedbackOut, Branched.as("ok"))
                .branch((k, v) -> v instanceof Outcome.DeadLetterOut, Branched.as("dlq"))
                .noDefaultBranch();
        feedbackByKind
                .get("feedback-dlq")
                .mapValues(v -> ((Outcome.DeadLetterOut) v).value(), Named.as("feedback-dead-letters"))
                .to(topics.dlq().name(), dlq.withName("to-dlq-feedback"));

        KStream<String, JoinableVerdict> scoredById = byKind.get("scored-joinable")
                .map(
                        (k, v) -> {
                            Outcome.ScoredOut s = (Outcome.ScoredOut) v;
                            return KeyValue.pair(s.messageId(), s.joinable());
                        },
                        Named.as("scored-by-message-id"));
        KStream<String, Feedback> feedbackById = feedbackByKind
                .get("feedback-ok")
                .map(
                        (k, v) -> {
                            Feedback f = ((Outcome.FeedbackOut) v).feedback();
                            return KeyValue.pair(f.getMessageId(), f);
                        },
                        Named.as("feedback-by-message-id"));

        Duration window = settings.feedbackJoinWindow();
        scoredById
                .join(
                        feedbackById,
                        (message, f) -> {
                            // the message id is the client's choice: without this check, whoever may write
                            // chat.feedback could label any tenant's messages for the trainer
                            if (!message.getTenant().equals(f.getTenant())) {
                                listener.feedbackTenantMismatch();
                                return null;
                            }
                            return misclassifiedSeed(message, f);
                        },
                        JoinWindows.ofTimeDifferenceAndGrace(window, Duration.ofMinutes(5)),
                        StreamJoined.with(Serdes.String(), joinableSerde, joinedFeedbackSerde)
                                .withName(FEEDBACK_JOIN)
                                .withStoreName(FEEDBACK_JOIN))
                .filter((k, seed) -> seed != null, Named.as("misclassified-only"))
                .peek((k, seed) -> listener.seed(SeedReason.MISCLASSIFIED), Named.as("count-misclassified"))
                .mapValues(seed -> redacted(seed, settings), Named.as("redact-misclassified"))
                .to(
                        topics.seeds().name(),
                        Produced.with(topics.seeds().keySerde(), seedSerde).withName("to-seeds-misclassified"));

        ReplyStreamProcessor.addTo(builder, settings, topics, serdes, moderator, listener);
        return builder.build();
    }

    /**
     * What the feedback join keeps of a scored message: the fields a MISCLASSIFIED seed needs, scores and
     * thresholds as bare floats in the model's category order.
     *
     * @param modelThresholds the thresholds that decided the verdict (the scoring model's, for its language)
     */
    static JoinableVerdict joinable(ChatMessage m, Verdict v, float[] modelThresholds) {
        Float[] scores = new Float[Category.values().length];
        for (CategoryScore s : v.getCategoryScores()) {
            scores[s.getCategory().ordinal()] = s.getScore();
        }
        List<Float> thresholds = new ArrayList<>(modelThresholds.length);
        for (float t : modelThresholds) {
            thresholds.add(t);
        }
        return JoinableVerdict.newBuilder()
                .setTenant(m.getTenant())
                .setText(m.getText())
                .setPrompt(m.getPrompt())
                .setLanguage(v.getLanguage())
                .setUnsafe(v.getUnsafe())
                .setCategoryScores(List.of(scores))
                .setModel(new ModelKey(v.getModelName(), v.getModelVersion()).toString())
                .setModelThresholds(thresholds)
                .build();
    }

    /**
     * A human label disagrees with the verdict when (a) it says unsafe and the model said safe, (b) it says safe and
     * the model said unsafe (DuoGuard's rule, not the tenant policy), or (c) both say unsafe but none of the human's
     * categories passed the threshold that decided the verdict (wrong category). Returns null when they agree. The
     * message id is the feedback's: the join key.
     */
    static Seed misclassifiedSeed(JoinableVerdict scored, Feedback feedback) {
        boolean humanUnsafe = feedback.getLabel() == SafetyLabel.UNSAFE;
        boolean disagrees = humanUnsafe != scored.getUnsafe();
        List<Float> scores = scored.getCategoryScores();
        if (!disagrees && humanUnsafe && !feedback.getCategories().isEmpty()) {
            List<Float> thresholds = scored.getModelThresholds();
            disagrees = feedback.getCategories().stream()
                    .noneMatch(c -> scores.get(c.ordinal()) > thresholds.get(c.ordinal()));
        }
        if (!disagrees) {
            return null;
        }
        List<CategoryScore> seedScores = new ArrayList<>(scores.size());
        for (int i = 0; i < scores.size(); i++) {
            seedScores.add(new CategoryScore(Category.values()[i], scores.get(i)));
        }
        return Seed.newBuilder()
                .setText(scored.getText())
                .setPrompt(scored.getPrompt())
                .setLanguage(scored.getLanguage())
                .setLabel(feedback.getLabel())
                .setCategories(feedback.getCategories())
                .setReason(SeedReason.MISCLASSIFIED)
                .setScores(seedScores)
                .setModelVersion(scored.getModel())
                .setOriginMessageId(feedback.getMessageId())
                .setTenant(scored.getTenant())
                .setCreatedAt(Instant.now())
                .build();
    }
}
