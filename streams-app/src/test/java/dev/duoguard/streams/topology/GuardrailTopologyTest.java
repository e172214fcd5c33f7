package dev.duoguard.streams.topology;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.tuple;

import dev.duoguard.common.redact.Redactor;
import dev.duoguard.common.topics.Topics;
import dev.duoguard.runtime.language.LanguageDetection;
import dev.duoguard.runtime.language.LanguageIdentifier.Detection;
import dev.duoguard.runtime.policy.DecisionPolicy;
import dev.duoguard.runtime.policy.Thresholds;
import dev.duoguard.runtime.scoring.Scorer;
import dev.duoguard.runtime.scoring.Scorer.ModelIdentity;
import dev.duoguard.runtime.scoring.TextScores;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import dev.duoguard.schemas.Category;
import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.schemas.Decision;
import dev.duoguard.schemas.Feedback;
import dev.duoguard.schemas.FeedbackSource;
import dev.duoguard.schemas.Role;
import dev.duoguard.schemas.SafetyLabel;
import dev.duoguard.schemas.Seed;
import dev.duoguard.schemas.SeedReason;
import dev.duoguard.schemas.Verdict;
import dev.duoguard.schemas.internal.JoinableVerdict;
import dev.duoguard.streams.config.AppConfig;
import dev.duoguard.streams.model.ModelSlot;
import java.net.ConnectException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.regex.Pattern;
import org.apache.avro.Schema;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.test.TestRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class GuardrailTopologyTest {

    static final Topics.Names TOPICS = Topics.Names.DEFAULTS;
    static final Instant T0 = Instant.parse("2026-11-28T10:00:00Z");

    @TempDir
    Path stateDir;

    final InMemoryWireFormatSerdes serdes = new InMemoryWireFormatSerdes();
    final FakeScorer scorer = new FakeScorer();
    final Serializer<ChatMessage> messageSerializer = serdes.serializer();
    final Serializer<Feedback> feedbackSerializer = serdes.serializer();
    TopologyTestDriver driver;
    TestInputTopic<byte[], byte[]> messages;
    TestInputTopic<byte[], byte[]> feedback;
    TestOutputTopic<String, Verdict> verdicts;
    TestOutputTopic<String, Seed> seeds;
    TestOutputTopic<byte[], byte[]> dlq;
    Duration callTimeout = Duration.ofSeconds(5);
    Duration batchDeadline = Duration.ofSeconds(10);
    Duration registryBudget = Duration.ofSeconds(5);
    Set<String> feedbackTenants = null;
    boolean detectVerdictLanguages = true;
    Redactor seedRedactor = new Redactor(Map.of("TICKET", Pattern.compile("\\bTCK-\\d+\\b")));
    final CountingListener listener = new CountingListener();

    /** Counts what the tenancy checks report. */
    static final class CountingListener implements ModerationListener {
        final AtomicInteger unknownTenants = new AtomicInteger();
        final AtomicInteger tenantMismatches = new AtomicInteger();
        final List<DeadLetter> deadLetters = new CopyOnWriteArrayList<>();

        @Override
        public void unknownTenant() {
            unknownTenants.incrementAndGet();
        }

        @Override
        public void feedbackTenantMismatch() {
            tenantMismatches.incrementAndGet();
        }

        @Override
        public void deadLetter(DeadLetter reason, String sourceTopic) {
            deadLetters.add(reason);
        }
    }

    void start(int maxBatch, Map<String, Thresholds> tenants) {
        start(maxBatch, ModelSlot.fixed(scorer), new DecisionPolicy(Thresholds.uniform(0.3f, 0.5f), tenants, 0.1f));
    }

    void start(int maxBatch, ModelSlot slot, DecisionPolicy policy) {
        Function<String, Detection> lang = t -> {
            if (t.contains("breaks the detector")) {
                throw new IllegalArgumentException("the detector cannot read this");
            }
            return t.contains("Bonjour") ? new Detection("fr", 0.9f) : new Detection("en", 0.8f);
        };
        Moderator moderator = new Moderator(
                slot, detectVerdictLanguages ? LanguageDetection.each(lang) : LanguageDetection.off(), policy);
        var settings = new GuardrailTopology.Settings(
                TOPICS,
                maxBatch,
                Duration.ofMillis(50),
                callTimeout,
                batchDeadline,
                1,
                registryBudget,
                1000,
                Duration.ofHours(1),
                feedbackTenants,
                seedRedactor,
                AppConfig.Replies.DEFAULT);
        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, "topology-test");
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        driver = new TopologyTestDriver(GuardrailTopology.build(settings, moderator, serdes, listener), props, T0);
        messages = driver.createInputTopic(TOPICS.messages(), new ByteArraySerializer(), new ByteArraySerializer());
        feedback = driver.createInputTopic(TOPICS.feedback(), new ByteArraySerializer(), new ByteArraySerializer());
        verdicts = driver.createOutputTopic(TOPICS.verdicts(), new StringDeserializer(), serdes.deserializer());
        seeds = driver.createOutputTopic(TOPICS.seeds(), new StringDeserializer(), serdes.deserializer());
        dlq = driver.createOutputTopic(TOPICS.dlq(), new ByteArrayDeserializer(), new ByteArrayDeserializer());
    }

    void start() {
        start(1, Map.of());
    }

    @AfterEach
    void close() {
        if (driver != null) {
            driver.close();
        }
    }

    static ChatMessage user(String id, String text) {
        return ChatMessage.newBuilder()
                .setMessageId(id)
                .setConversationId("conv-" + id)
                .setTenant("acme")
                .setRole(Role.USER)
                .setText(text)
                .setTimestamp(T0)
                .build();
    }

    void send(ChatMessage m) {
        messages.pipeInput(
                m.getConversationId().getBytes(StandardCharsets.UTF_8),
                messageSerializer.serialize(TOPICS.messages(), m),
                T0);
    }

    void sendFeedback(String messageId, SafetyLabel label, List<Category> categories, Instant at) {
        sendFeedback(messageId, "acme", label, categories, at);
    }

    void sendFeedback(String messageId, String tenant, SafetyLabel label, List<Category> categories, Instant at) {
        Feedback f = Feedback.newBuilder()
                .setMessageId(messageId)
                .setTenant(tenant)
                .setLabel(label)
                .setCategories(categories)
                .setSource(FeedbackSource.REVIEW)
                .setTimestamp(at)
                .build();
        feedback.pipeInput(
                messageId.getBytes(StandardCharsets.UTF_8), feedbackSerializer.serialize(TOPICS.feedback(), f), at);
    }

    @Test
    void emitsExactlyOneVerdictPerMessageKeyedByConversation() {
        start();
        send(user("m1", "Bonjour, comment fabriquer une bomb ? Ça m'intéresse 🙂"));
        send(user("m2", "Wie spät ist es in München?"));
        List<TestRecord<String, Verdict>> out = verdicts.readRecordsToList();
        assertThat(out).hasSize(2);
        Verdict v1 = out.get(0).value();
        assertThat(out.get(0).key()).isEqualTo("conv-m1");
        assertThat(v1.getMessageId()).isEqualTo("m1");
        assertThat(v1.getDecision()).isEqualTo(Decision.BLOCK);
        assertThat(v1.getUnsafe()).isTrue();
        assertThat(v1.getUnsafeScore()).isEqualTo(0.95f);
        assertThat(v1.getCategoryScores()).hasSize(12);
        assertThat(v1.getCategoryScores().get(7).getCategory()).isEqualTo(Category.INDISCRIMINATE_WEAPONS);
        assertThat(v1.getFiredCategories()).containsExactly(Category.INDISCRIMINATE_WEAPONS);
        assertThat(v1.getLanguage()).isEqualTo("fr");
        assertThat(v1.getModelName()).isEqualTo("fake");
        assertThat(out.get(0).timestamp()).isEqualTo(T0.toEpochMilli());
        assertThat(out.get(1).value().getDecision()).isEqualTo(Decision.ALLOW);
        assertThat(dlq.isEmpty()).isTrue();
    }

    /** Only the unhinted messages of a batch go to detection; each verdict gets its own message's language. */
    @Test
    void aBatchMixingHintsAndDetectionKeepsEachMessagesLanguage() {
        start(3, Map.of());
        send(ChatMessage.newBuilder(user("h1", "Hello there"))
                .setLanguageHint("de")
                .build());
        send(user("d1", "Bonjour tout le monde"));
        send(user("d2", "Good morning"));
        List<Verdict> out = verdicts.readValuesToList();
        assertThat(out)
                .extracting(Verdict::getMessageId, Verdict::getLanguage, Verdict::getLanguageFromHint)
                .containsExactly(tuple("h1", "de", true), tuple("d1", "fr", false), tuple("d2", "en", false));
    }

    @Test
    void decisionPolicyIsOverriddenPerTenant() {
        start(1, Map.of("strict", Thresholds.uniform(0.3f, 0.5f).with(SafetyCategory.HATE, 0.2f, 0.4f)));
        ChatMessage strict = ChatMessage.newBuilder(user("s1", "maybe they are all like that"))
                .setTenant("strict")
                .build();
        send(strict);
        send(user("a1", "maybe they are all like that"));
        List<Verdict> out = verdicts.readValuesToList();
        assertThat(out.get(0).getDecision()).isEqualTo(Decision.BLOCK);
        assertThat(out.get(1).getDecision()).isEqualTo(Decision.REVIEW);
        assertThat(out).allMatch(v -> !v.getUnsafe()); // the model rule itself does not change per tenant
    }

    static DecisionPolicy allowListed(Map<String, Thresholds> tenants, Set<String> allowed) {
        return new DecisionPolicy(
                Thresholds.uniform(0.3f, 0.5f),
                tenants,
                0.1f,
                dev.duoguard.runtime.policy.Decision.REVIEW,
                Map.of(),
                allowed);
    }

    @Test
    void anAllowListedTenantIsDecidedByItsOwnPolicyAndAnUnknownOneByTheStrictestAndCounted() {
        Map<String, Thresholds> tenants = Map.of(
                "strict", Thresholds.uniform(0.3f, 0.5f).with(SafetyCategory.HATE, 0.2f, 0.4f),
                "lax", Thresholds.uniform(0.6f, 0.9f));
        start(1, ModelSlot.fixed(scorer), allowListed(tenants, Set.of("acme", "strict", "lax")));
        send(user("a1", "maybe they are all like that"));
        send(ChatMessage.newBuilder(user("l1", "maybe they are all like that"))
                .setTenant("lax")
                .build());
        assertThat(listener.unknownTenants)
                .as("allow-listed tenants are not counted")
                .hasValue(0);
        send(ChatMessage.newBuilder(user("x1", "maybe they are all like that"))
                .setTenant("mallory")
                .build());
        send(ChatMessage.newBuilder(user("x2", "hello\u0007"))
                .setTenant("mallory")
                .build());
        List<Verdict> out = verdicts.readValuesToList();
        assertThat(out)
                .extracting(Verdict::getDecision)
                .as("acme: defaults; lax: its own; mallory: strict's HATE BLOCK at 0.4, fail-closed BLOCK")
                .containsExactly(Decision.REVIEW, Decision.ALLOW, Decision.BLOCK, Decision.BLOCK);
        assertThat(out.get(2).getTenant())
                .as("the verdict keeps the tenant it came with")
                .isEqualTo("mallory");
        assertThat(out.get(3).getRejectionReason()).isEqualTo("CONTROL_CHARACTERS");
        assertThat(listener.unknownTenants).hasValue(2);
    }

    @Test
    void feedbackNamingAnotherTenantThanTheMessagesMakesNoSeedAndIsCounted() {
        start();
        send(ChatMessage.newBuilder(user("t1", "you people are vermin"))
                .setTenant("victim")
                .build());
        sendFeedback("t1", "acme", SafetyLabel.UNSAFE, List.of(Category.HATE), T0.plusSeconds(30));
        assertThat(seeds.isEmpty()).isTrue();
        assertThat(listener.tenantMismatches).hasValue(1);
        sendFeedback("t1", "victim", SafetyLabel.UNSAFE, List.of(Category.HATE), T0.plusSeconds(31));
        Seed s = seeds.readValue();
        assertThat(s.getReason()).isEqualTo(SeedReason.MISCLASSIFIED);
        assertThat(s.getTenant()).isEqualTo("victim");
        assertThat(listener.tenantMismatches).hasValue(1);
    }

    @Test
    void feedbackWithoutATenantIsDeadLetteredAndMakesNoSeed() {
        start();
        send(user("n1", "you people are vermin"));
        sendFeedback("n1", null, SafetyLabel.UNSAFE, List.of(Category.HATE), T0.plusSeconds(30));
        assertThat(seeds.isEmpty()).isTrue();
        TestRecord<byte[], byte[]> dead = dlq.readRecord();
        assertThat(header(dead, DeadLetter.REASON)).isEqualTo("MISSING_FIELD");
        assertThat(listener.deadLetters).containsExactly(DeadLetter.MISSING_FIELD);
        assertThat(listener.tenantMismatches).hasValue(0);
    }

    @Test
    void routesUncertainVerdictToSeeds() {
        start();
        send(user("u1", "maybe they are all like that"));
        send(user("c1", "how to make a bomb"));
        send(user("c2", "nice weather"));
        List<TestRecord<String, Seed>> out = seeds.readRecordsToList();
        assertThat(out).hasSize(1);
        assertThat(out.get(0).key()).isEqualTo("u1");
        Seed s = out.get(0).value();
        assertThat(s.getReason()).isEqualTo(SeedReason.UNCERTAIN);
        assertThat(s.getText()).isEqualTo("maybe they are all like that");
        assertThat(s.getLabel()).isNull();
        assertThat(s.getScores()).hasSize(12);
        assertThat(s.getModelVersion()).isEqualTo("fake@1");
        assertThat(verdicts.readValuesToList()).hasSize(3);
    }

    @Test
    void repliesAreScoredTogetherWithTheirPrompt() {
        start();
        ChatMessage reply = ChatMessage.newBuilder(user("r1", "Sure, here is how to kill it."))
                .setRole(Role.ASSISTANT)
                .setPrompt("My tomato plant has aphids.")
                .build();
        send(reply);
        assertThat(scorer.calls).containsExactly(List.of("My tomato plant has aphids. Sure, here is how to kill it."));
        Verdict v = verdicts.readValue();
        assertThat(v.getRole()).isEqualTo(Role.ASSISTANT);
        assertThat(v.getLanguage()).as("the reply's language").isEqualTo("en");
    }

    @Test
    void feedbackAfterTheVerdictThatDisagreesBecomesAMisclassifiedSeed() {
        start();
        send(user("f1", "you people are vermin"));
        sendFeedback("f1", SafetyLabel.UNSAFE, List.of(Category.HATE), T0.plusSeconds(30));
        List<TestRecord<String, Seed>> out = seeds.readRecordsToList();
        assertThat(out).hasSize(1);
        assertThat(out.get(0).key()).isEqualTo("f1");
        Seed s = out.get(0).value();
        assertThat(s.getReason()).isEqualTo(SeedReason.MISCLASSIFIED);
        assertThat(s.getLabel()).isEqualTo(SafetyLabel.UNSAFE);
        assertThat(s.getCategories()).containsExactly(Category.HATE);
        assertThat(s.getText()).isEqualTo("you people are vermin");
        assertThat(s.getOriginMessageId()).isEqualTo("f1");
    }

    @Test
    void seedsLeaveTheAppRedactedWhileVerdictsAndScoringSeeTheOriginal() {
        start();
        send(user("p1", "maybe mail jane.doe@example.com or call +44 20 7946 0958 about TCK-42"));
        send(user("p2", "you people are vermin, write to me at vermin.hater@example.org"));
        sendFeedback("p2", SafetyLabel.UNSAFE, List.of(Category.HATE), T0.plusSeconds(30));
        List<Seed> out = seeds.readValuesToList();
        assertThat(out).extracting(Seed::getReason).containsExactly(SeedReason.UNCERTAIN, SeedReason.MISCLASSIFIED);
        assertThat(out.get(0).getText()).isEqualTo("maybe mail [EMAIL] or call [PHONE] about [TICKET]");
        assertThat(out.get(1).getText()).isEqualTo("you people are vermin, write to me at [EMAIL]");
        assertThat(scorer.calls.stream().flatMap(List::stream))
                .as("the model scores the original text")
                .contains("maybe mail jane.doe@example.com or call +44 20 7946 0958 about TCK-42");
    }

    @Test
    void withRedactionOffSeedsCarryTheOriginalText() {
        seedRedactor = null;
        start();
        send(user("p3", "maybe mail jane.doe@example.com"));
        assertThat(seeds.readValue().getText()).isEqualTo("maybe mail jane.doe@example.com");
    }

    /**
     * The batch buffer is cached: a message scored before the commit leaves one tombstone in the changelog, not a
     * put and a tombstone (the test driver commits after each input record).
     */
    @Test
    void aMessageScoredBeforeTheCommitCostsTheBufferChangelogOneTombstone() {
        start();
        send(user("b1", "hello"));
        send(user("b2", "hello again"));
        assertThat(verdicts.readValuesToList()).hasSize(2);
        List<TestRecord<byte[], byte[]>> changelog = driver.createOutputTopic(
                        "topology-test-" + GuardrailTopology.PENDING_STORE + "-changelog",
                        new ByteArrayDeserializer(),
                        new ByteArrayDeserializer())
                .readRecordsToList();
        assertThat(changelog).hasSize(2).allMatch(r -> r.value() == null);
    }

    /** The language only selects thresholds: a detector that fails leaves the batch undetermined, scored. */
    @Test
    void aFailingLanguageDetectorLeavesTheBatchUndeterminedNotUnscored() {
        start(2, Map.of());
        send(user("x1", "this text breaks the detector"));
        send(user("x2", "Bonjour"));
        assertThat(verdicts.readValuesToList())
                .extracting(Verdict::getMessageId, Verdict::getLanguage, Verdict::getRejectionReason)
                .containsExactly(tuple("x1", "und", null), tuple("x2", "und", null));
        assertThat(dlq.isEmpty()).isTrue();
    }

    /**
     * language.detect=false: verdicts and seeds of either kind carry the hint or "und"; nothing on the streaming path
     * identifies languages (the trainer does, for the seeds it learns from).
     */
    @Test
    void withDetectionOffVerdictsAndSeedsCarryTheHintOrUndetermined() {
        detectVerdictLanguages = false;
        start();
        send(user("u1", "Bonjour, maybe mail jane.doe@example.com"));
        send(ChatMessage.newBuilder(user("u2", "you people are vermin"))
                .setLanguageHint("de")
                .build());
        send(user("u3", "you people are vermin"));
        assertThat(verdicts.readValuesToList())
                .extracting(Verdict::getLanguage, Verdict::getLanguageConfidence)
                .containsExactly(tuple("und", 0f), tuple("de", 1f), tuple("und", 0f));
        Seed uncertain = seeds.readValue();
        assertThat(uncertain.getReason()).isEqualTo(SeedReason.UNCERTAIN);
        assertThat(uncertain.getLanguage()).isEqualTo("und");
        assertThat(seeds.isEmpty()).isTrue();
        sendFeedback("u2", SafetyLabel.UNSAFE, List.of(Category.HATE), T0.plusSeconds(1));
        sendFeedback("u3", SafetyLabel.UNSAFE, List.of(Category.HATE), T0.plusSeconds(1));
        assertThat(seeds.readValuesToList())
                .extracting(Seed::getOriginMessageId, Seed::getReason, Seed::getLanguage)
                .as("a hinted message keeps its hint; an undetermined one stays undetermined")
                .containsExactly(
                        tuple("u2", SeedReason.MISCLASSIFIED, "de"), tuple("u3", SeedReason.MISCLASSIFIED, "und"));
    }

    /**
     * With feedback.tenants, only those tenants' messages go through the join (no repartition record, no join store
     * for the rest), and feedback for another tenant is dead-lettered rather than waiting for a message it cannot
     * meet.
     */
    @Test
    void onlyTheTenantsThatCollectFeedbackGoThroughTheJoin() {
        feedbackTenants = Set.of("acme");
        start();
        send(user("c1", "you people are vermin"));
        send(ChatMessage.newBuilder(user("c2", "you people are vermin"))
                .setTenant("quiet")
                .build());
        String changelog = "topology-test-" + GuardrailTopology.FEEDBACK_JOIN + "-this-join-store-changelog";
        assertThat(driver.createOutputTopic(changelog, new ByteArrayDeserializer(), new ByteArrayDeserializer())
                        .readRecordsToList())
                .as("only acme's message is kept for the join")
                .hasSize(1);
        assertThat(verdicts.readValuesToList())
                .extracting(Verdict::getMessageId)
                .as("both are scored")
                .containsExactly("c1", "c2");
        seeds.readValuesToList(); // the UNCERTAIN ones, if any
        // the model calls it safe: a human's UNSAFE label disagrees, which makes a MISCLASSIFIED seed
        sendFeedback("c1", SafetyLabel.UNSAFE, List.of(Category.HATE), T0.plusSeconds(1));
        assertThat(seeds.readValue().getOriginMessageId()).isEqualTo("c1");
        sendFeedback("c2", "quiet", SafetyLabel.UNSAFE, List.of(Category.HATE), T0.plusSeconds(1));
        assertThat(seeds.isEmpty()).isTrue();
        TestRecord<byte[], byte[]> dead = dlq.readRecord();
        assertThat(header(dead, DeadLetter.REASON)).isEqualTo("FEEDBACK_NOT_COLLECTED");
        assertThat(header(dead, DeadLetter.DETAIL)).contains("'quiet'", "feedback.tenants");
        assertThat(dlq.isEmpty()).isTrue();
    }

    @Test
    void feedbackThatArrivesBeforeTheVerdictIsJoinedToo() {
        start();
        sendFeedback("f2", SafetyLabel.SAFE, List.of(), T0);
        assertThat(seeds.isEmpty()).isTrue();
        send(user("f2", "how do I kill a python process that hangs"));
        Seed s = seeds.readValue();
        assertThat(s.getReason()).isEqualTo(SeedReason.MISCLASSIFIED);
        assertThat(s.getLabel()).isEqualTo(SafetyLabel.SAFE);
        assertThat(seeds.isEmpty()).isTrue();
    }

    @Test
    void feedbackThatAgreesProducesNoSeedButAWrongCategoryDoes() {
        start();
        send(user("a1", "how to make a bomb"));
        sendFeedback("a1", SafetyLabel.UNSAFE, List.of(Category.INDISCRIMINATE_WEAPONS), T0.plusSeconds(1));
        send(user("a2", "nice weather"));
        sendFeedback("a2", SafetyLabel.SAFE, List.of(), T0.plusSeconds(1));
        assertThat(seeds.isEmpty()).isTrue();
        send(user("a3", "how to make a bomb"));
        sendFeedback("a3", SafetyLabel.UNSAFE, List.of(Category.HATE), T0.plusSeconds(1));
        assertThat(seeds.readValue().getCategories()).containsExactly(Category.HATE);
    }

    @Test
    void feedbackOutsideTheJoinWindowIsNotJoined() {
        start();
        send(user("w1", "nice weather"));
        sendFeedback("w1", SafetyLabel.UNSAFE, List.of(), T0.plus(Duration.ofHours(2)));
        assertThat(seeds.isEmpty()).isTrue();
    }

    @Test
    void theFeedbackJoinKeepsOnlyWhatASeedNeeds() {
        start();
        ChatMessage reply = ChatMessage.newBuilder(user("k1", "Sure, here is how to kill it."))
                .setRole(Role.ASSISTANT)
                .setPrompt("My tomato plant has aphids.")
                .setLanguageHint("en")
                .build();
        send(reply);
        String changelog = "topology-test-" + GuardrailTopology.FEEDBACK_JOIN + "-this-join-store-changelog";
        List<TestRecord<byte[], byte[]>> stored = driver.createOutputTopic(
                        changelog, new ByteArrayDeserializer(), new ByteArrayDeserializer())
                .readRecordsToList();
        assertThat(stored).hasSize(1);
        JoinableVerdict kept = serdes.<JoinableVerdict>deserializer()
                .deserialize(changelog, stored.get(0).value());
        assertThat(kept.getText()).isEqualTo("Sure, here is how to kill it.");
        assertThat(kept.getPrompt()).isEqualTo("My tomato plant has aphids.");
        assertThat(kept.getTenant()).isEqualTo("acme");
        assertThat(kept.getLanguage()).isEqualTo("en");
        assertThat(kept.getUnsafe()).isTrue();
        assertThat(kept.getCategoryScores())
                .hasSize(12)
                .element(0)
                .as("violent crimes, in model order")
                .isEqualTo(0.9f);
        assertThat(kept.getModel()).isEqualTo("fake@1");
        assertThat(kept.getModelThresholds()).hasSize(12).containsOnly(0.5f);
        assertThat(kept.getSchema().getFields())
                .extracting(Schema.Field::name)
                .as("no conversation id, role, timestamps, decision or verdict metadata")
                .containsExactly(
                        "tenant",
                        "text",
                        "prompt",
                        "language",
                        "unsafe",
                        "category_scores",
                        "model",
                        "model_thresholds");
    }

    /** Global thresholds {@code global}, French ones {@code fr}; the scores are FakeScorer's ("maybe": hate 0.45). */
    static FakeScorer version(String v, float global, float fr) {
        return new FakeScorer(
                new ModelIdentity("fake", v, FakeScorer.filled(global), "test", Map.of("fr", FakeScorer.filled(fr))));
    }

    @Test
    void eachMessageIsDecidedWithTheThresholdsOfItsLanguageAndAfterASwapWithTheNewModels() {
        ModelSlot slot = new ModelSlot(version("1", 0.5f, 0.4f), () -> {}, Runnable::run);
        // BLOCK not set by the operator: it follows the model's threshold, as AppConfig builds it by default
        start(1, slot, new DecisionPolicy(Thresholds.followingModel(0.3f), Map.of(), 0.02f));
        send(user("fr1", "Bonjour, maybe they are all like that"));
        send(user("en1", "maybe they are all like that"));
        List<Verdict> before = verdicts.readValuesToList();
        assertThat(before.get(0).getUnsafe()).as("fr: 0.45 > fr threshold 0.4").isTrue();
        assertThat(before.get(0).getDecision()).isEqualTo(Decision.BLOCK);
        assertThat(before.get(1).getUnsafe()).as("en: 0.45 < global 0.5").isFalse();
        assertThat(before.get(1).getDecision()).isEqualTo(Decision.REVIEW);

        slot.swap(version("2", 0.44f, 0.6f), () -> {});
        send(user("fr2", "Bonjour, maybe they are all like that"));
        send(user("en2", "maybe they are all like that"));
        List<Verdict> after = verdicts.readValuesToList();
        assertThat(after).extracting(Verdict::getModelVersion).containsOnly("2");
        assertThat(after.get(0).getUnsafe())
                .as("fr: 0.45 < the new fr threshold 0.6")
                .isFalse();
        assertThat(after.get(0).getDecision()).isEqualTo(Decision.REVIEW);
        assertThat(after.get(1).getUnsafe())
                .as("en: 0.45 > the new global 0.44")
                .isTrue();
        assertThat(after.get(1).getDecision()).isEqualTo(Decision.BLOCK);
    }

    @Test
    void anInstanceSwappedToAVersionDecidesMessageByMessageAsAFreshInstanceStartedOnIt() {
        List<ChatMessage> traffic = List.of(
                user("m1", "Bonjour, maybe they are all like that"),
                user("m2", "maybe they are all like that"),
                user("m3", "how to build a bomb"),
                user("m4", "Bonjour, comment kill a process"),
                user("m5", "nice weather"),
                ChatMessage.newBuilder(user("m6", "maybe")).setTenant("strict").build());
        Map<String, Thresholds> tenants = Map.of("strict", Thresholds.uniform(0.2f, 0.4f));
        float band = 0.06f;

        ModelSlot swapped = new ModelSlot(version("1", 0.5f, 0.4f), () -> {}, Runnable::run);
        start(2, swapped, new DecisionPolicy(Thresholds.followingModel(0.3f), tenants, band));
        send(user("warm", "maybe under v1"));
        driver.advanceWallClockTime(Duration.ofMillis(60));
        verdicts.readValuesToList();
        seeds.readValuesToList();
        swapped.swap(version("2", 0.44f, 0.6f), () -> {});
        traffic.forEach(this::send);
        driver.advanceWallClockTime(Duration.ofMillis(60));
        List<Verdict> afterSwap = verdicts.readValuesToList();
        List<Seed> seedsAfterSwap = seeds.readValuesToList();
        driver.close();

        start(
                2,
                ModelSlot.fixed(version("2", 0.44f, 0.6f)),
                new DecisionPolicy(Thresholds.followingModel(0.3f), tenants, band));
        traffic.forEach(this::send);
        driver.advanceWallClockTime(Duration.ofMillis(60));
        List<Verdict> fresh = verdicts.readValuesToList();
        List<Seed> freshSeeds = seeds.readValuesToList();

        assertThat(afterSwap).hasSize(traffic.size());
        assertThat(afterSwap).extracting(Verdict::getModelVersion).containsOnly("2");
        Function<Verdict, List<Object>> decided = v -> List.of(
                v.getMessageId(),
                v.getDecision(),
                v.getUnsafe(),
                v.getUnsafeScore(),
                v.getFiredCategories(),
                v.getLanguage(),
                v.getModelVersion(),
                v.getCategoryScores());
        assertThat(afterSwap)
                .extracting(decided)
                .containsExactlyElementsOf(fresh.stream().map(decided).toList());
        assertThat(seedsAfterSwap)
                .extracting(Seed::getOriginMessageId)
                .containsExactlyElementsOf(
                        freshSeeds.stream().map(Seed::getOriginMessageId).toList());
        assertThat(afterSwap)
                .extracting(Verdict::getDecision)
                .as("the traffic exercises every decision")
                .contains(Decision.ALLOW, Decision.REVIEW, Decision.BLOCK);
    }

    @Test
    void theFeedbackJoinJudgesCategoriesByTheThresholdsThatDecidedTheVerdictNotTheServingModels() {
        ModelSlot slot = new ModelSlot(version("1", 0.5f, 0.4f), () -> {}, Runnable::run);
        start(1, slot, new DecisionPolicy(Thresholds.followingModel(0.3f), Map.of(), 0.02f));
        send(user("j1", "Bonjour, maybe they are all like that")); // v1, fr: hate 0.45 fires at 0.4
        slot.swap(version("2", 0.5f, 0.6f), () -> {}); // v2 would not fire hate for fr
        sendFeedback("j1", SafetyLabel.UNSAFE, List.of(Category.HATE), T0.plusSeconds(5));
        assertThat(seeds.readValuesToList())
                .as("the human agrees with v1's verdict and category")
                .noneMatch(seed -> seed.getReason() == SeedReason.MISCLASSIFIED);

        send(user("j2", "Bonjour, maybe they are all like that")); // v2, fr: safe
        sendFeedback("j2", SafetyLabel.UNSAFE, List.of(Category.HATE), T0.plusSeconds(5));
        assertThat(seeds.readValuesToList())
                .filteredOn(seed -> seed.getReason() == SeedReason.MISCLASSIFIED)
                .singleElement()
                .satisfies(seed -> assertThat(seed.getModelVersion()).isEqualTo("fake@2"));
    }

    /** Every class of bad input; {@code readableId}: the record decodes and carries a message id ("p"). */
    enum Poison {
        NULL_VALUE(false),
        NOT_WIRE_FORMAT(false),
        UNKNOWN_SCHEMA_ID(false),
        UNDECODABLE(false),
        WRONG_RECORD_TYPE(false),
        MISSING_FIELD(false),
        INVALID_FIELD(true),
        EMPTY_TEXT(true),
        TEXT_TOO_LONG(true),
        INVALID_UTF8(true),
        CONTROL_CHARACTERS(true);

        final boolean readableId;

        Poison(boolean readableId) {
            this.readableId = readableId;
        }
    }

    byte[] poison(Poison p) {
        byte[] good = messageSerializer.serialize(TOPICS.messages(), user("p", "XXXXXXXX"));
        return switch (p) {
            case NULL_VALUE -> null;
            case NOT_WIRE_FORMAT -> "{\"text\": \"hello\"}".getBytes(StandardCharsets.UTF_8);
            case UNKNOWN_SCHEMA_ID -> {
                byte[] b = good.clone();
                b[1] = 0x7F;
                yield b;
            }
            case UNDECODABLE -> Arrays.copyOf(good, 9);
            case WRONG_RECORD_TYPE ->
                feedbackSerializer.serialize(
                        TOPICS.messages(),
                        Feedback.newBuilder()
                                .setMessageId("x")
                                .setLabel(SafetyLabel.SAFE)
                                .setSource(FeedbackSource.REVIEW)
                                .setTimestamp(T0)
                                .build());
            case MISSING_FIELD ->
                messageSerializer.serialize(
                        TOPICS.messages(),
                        ChatMessage.newBuilder(user("p", "hello"))
                                .setMessageId("")
                                .build());
            case INVALID_FIELD ->
                messageSerializer.serialize(
                        TOPICS.messages(),
                        ChatMessage.newBuilder(user("p", "hello"))
                                .setLanguageHint("French")
                                .build());
            case EMPTY_TEXT -> messageSerializer.serialize(TOPICS.messages(), user("p", "  \n "));
            case TEXT_TOO_LONG -> messageSerializer.serialize(TOPICS.messages(), user("p", "é".repeat(1001)));
            case INVALID_UTF8 -> {
                byte[] b = good.clone();
                int at = indexOf(b, "XXXXXXXX".getBytes(StandardCharsets.UTF_8));
                b[at] = (byte) 0xC3;
                b[at + 1] = (byte) 0x28;
                b[at + 2] = (byte) 0xFF;
                yield b;
            }
            case CONTROL_CHARACTERS -> messageSerializer.serialize(TOPICS.messages(), user("p", "hello\u0000world"));
        };
    }

    static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        throw new IllegalStateException("needle not found");
    }

    @ParameterizedTest
    @EnumSource(Poison.class)
    void badInputGetsOneFailClosedVerdictWhenItHasAnIdAndItsOriginalGoesToTheDeadLetterTopic(Poison p) {
        start();
        byte[] value = poison(p);
        messages.pipeInput("k".getBytes(StandardCharsets.UTF_8), value, T0);
        send(user("after", "nice weather"));

        TestRecord<byte[], byte[]> dead = dlq.readRecord();
        assertThat(header(dead, DeadLetter.REASON)).isEqualTo(p.name());
        assertThat(header(dead, DeadLetter.DETAIL)).isNotBlank();
        assertThat(header(dead, DeadLetter.SOURCE_TOPIC)).isEqualTo(TOPICS.messages());
        assertThat(header(dead, DeadLetter.SOURCE_OFFSET)).isEqualTo("0");
        assertThat(dead.key()).isEqualTo("k".getBytes(StandardCharsets.UTF_8));
        assertThat(dead.value()).as("original bytes are kept").isEqualTo(value);
        assertThat(dlq.isEmpty()).isTrue();

        List<TestRecord<String, Verdict>> out = verdicts.readRecordsToList();
        if (!p.readableId) {
            assertThat(out)
                    .as("no id to answer to: the DLQ only")
                    .extracting(r -> r.value().getMessageId())
                    .containsExactly("after");
            return;
        }
        assertThat(out).extracting(r -> r.value().getMessageId()).containsExactly("p", "after");
        Verdict closed = out.get(0).value();
        assertThat(out.get(0).key()).isEqualTo("conv-p");
        assertThat(closed.getDecision()).as("fail closed: REVIEW by default").isEqualTo(Decision.REVIEW);
        assertThat(closed.getRejectionReason()).isEqualTo(p.name());
        assertThat(closed.getUnsafe()).isTrue();
        assertThat(closed.getUnsafeScore()).isEqualTo(1f);
        assertThat(closed.getCategoryScores()).as("not scored").isEmpty();
        assertThat(closed.getWindows()).isZero();
        assertThat(scorer.calls).as("bad input never reaches the model").containsExactly(List.of("nice weather"));
        assertThat(out.get(1).value().getRejectionReason()).isNull();
    }

    @Test
    void theFailClosedDecisionIsPerTenantAndAMessageWithoutConversationIsAnsweredByMessageId() {
        start(
                1,
                ModelSlot.fixed(scorer),
                new DecisionPolicy(
                        Thresholds.uniform(0.3f, 0.5f),
                        Map.of(),
                        0.1f,
                        dev.duoguard.runtime.policy.Decision.REVIEW,
                        Map.of("strict", dev.duoguard.runtime.policy.Decision.BLOCK)));
        send(ChatMessage.newBuilder(user("s1", "hello\u0007"))
                .setTenant("strict")
                .build());
        send(ChatMessage.newBuilder(user("s2", "hello\u0007"))
                .setTenant("relaxed")
                .build());
        ChatMessage noConversation =
                ChatMessage.newBuilder(user("s3", "fine")).setConversationId("").build();
        messages.pipeInput(
                "k".getBytes(StandardCharsets.UTF_8),
                messageSerializer.serialize(TOPICS.messages(), noConversation),
                T0);

        List<TestRecord<String, Verdict>> out = verdicts.readRecordsToList();
        assertThat(out)
                .extracting(r -> r.value().getDecision())
                .containsExactly(Decision.BLOCK, Decision.REVIEW, Decision.REVIEW);
        assertThat(out)
                .extracting(r -> r.value().getRejectionReason())
                .containsExactly("CONTROL_CHARACTERS", "CONTROL_CHARACTERS", "MISSING_FIELD");
        assertThat(out.get(2).key())
                .as("no conversation id: keyed by message id")
                .isEqualTo("s3");
        assertThat(dlq.readRecordsToList()).hasSize(3);
    }

    @Test
    void badFeedbackGoesToTheDeadLetterTopic() {
        start();
        feedback.pipeInput("k".getBytes(StandardCharsets.UTF_8), new byte[] {1, 2, 3}, T0);
        assertThat(header(dlq.readRecord(), DeadLetter.REASON)).isEqualTo("NOT_WIRE_FORMAT");
        assertThat(seeds.isEmpty()).isTrue();
    }

    @Test
    void messagesAreBatchedUntilMaxBatchOrMaxWait() {
        start(4, Map.of());
        send(user("b1", "one"));
        send(user("b2", "two"));
        send(user("b3", "three"));
        assertThat(verdicts.isEmpty())
                .as("buffered until the batch is full or max wait passes")
                .isTrue();
        driver.advanceWallClockTime(Duration.ofMillis(60));
        assertThat(verdicts.readValuesToList())
                .extracting(Verdict::getMessageId)
                .containsExactly("b1", "b2", "b3");
        assertThat(scorer.calls).containsExactly(List.of("one", "two", "three"));

        for (int i = 0; i < 4; i++) {
            send(user("c" + i, "text " + i));
        }
        assertThat(verdicts.readValuesToList()).hasSize(4);
        assertThat(scorer.calls.get(1)).hasSize(4);
    }

    @Test
    void aModelFailureIsRetriedThenSplitAndOnlyTheFailingMessageFailsClosedAndIsDeadLettered() {
        start(3, Map.of());
        send(user("ok1", "fine"));
        send(user("bad", "POISON pill"));
        send(user("ok2", "also fine"));
        List<Verdict> out = verdicts.readValuesToList();
        assertThat(out).extracting(Verdict::getMessageId).containsExactly("ok1", "bad", "ok2");
        assertThat(out).extracting(Verdict::getRejectionReason).containsExactly(null, "MODEL_FAILURE", null);
        assertThat(out.get(1).getDecision()).isEqualTo(Decision.REVIEW);
        TestRecord<byte[], byte[]> dead = dlq.readRecord();
        assertThat(header(dead, DeadLetter.REASON)).isEqualTo("MODEL_FAILURE");
        assertThat(header(dead, DeadLetter.SOURCE_OFFSET)).isEqualTo("1");
        ChatMessage decoded = serdes.<ChatMessage>deserializer().deserialize(TOPICS.messages(), dead.value());
        assertThat(decoded.getMessageId()).isEqualTo("bad");
        // 2 whole-batch attempts (retries = 1), then halves: [ok1] scored, [bad, ok2] fails, [bad] fails, [ok2] scored
        assertThat(scorer.calls)
                .containsExactly(
                        List.of("fine", "POISON pill", "also fine"),
                        List.of("fine", "POISON pill", "also fine"),
                        List.of("fine"),
                        List.of("POISON pill", "also fine"),
                        List.of("POISON pill"),
                        List.of("also fine"));
    }

    /** A model with concurrent sessions (each call on its own thread) that never answers a text holding "HANG". */
    static final class HangingScorer implements Scorer {
        final FakeScorer inner = new FakeScorer();
        final CountDownLatch release = new CountDownLatch(1);
        final ExecutorService threads = Executors.newCachedThreadPool();

        @Override
        public List<TextScores> score(List<String> texts) {
            if (texts.stream().anyMatch(t -> t.contains("HANG"))) {
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            return inner.score(texts);
        }

        @Override
        public CompletableFuture<List<TextScores>> submit(List<String> texts) {
            return CompletableFuture.supplyAsync(() -> score(texts), threads);
        }

        @Override
        public ModelIdentity model() {
            return inner.model();
        }

        void close() {
            release.countDown();
            threads.shutdownNow();
        }
    }

    @Test
    void aMessageTheModelHangsOnTimesOutAloneFailsClosedAndTheRestOfTheBatchIsScored() {
        HangingScorer hanging = new HangingScorer();
        callTimeout = Duration.ofMillis(300);
        try {
            start(4, ModelSlot.fixed(hanging), new DecisionPolicy(Thresholds.uniform(0.3f, 0.5f), Map.of(), 0.1f));
            send(user("a", "fine"));
            send(user("b", "how to build a bomb"));
            send(user("h", "HANG here"));
            send(user("c", "also fine"));
            List<Verdict> out = verdicts.readValuesToList();
            assertThat(out).extracting(Verdict::getMessageId).containsExactly("a", "b", "h", "c");
            assertThat(out).extracting(Verdict::getRejectionReason).containsExactly(null, null, "MODEL_TIMEOUT", null);
            assertThat(out.get(1).getDecision()).isEqualTo(Decision.BLOCK);
            TestRecord<byte[], byte[]> dead = dlq.readRecord();
            assertThat(header(dead, DeadLetter.REASON)).isEqualTo("MODEL_TIMEOUT");
            assertThat(header(dead, DeadLetter.SOURCE_OFFSET)).isEqualTo("2");
            assertThat(dlq.isEmpty()).isTrue();
        } finally {
            hanging.close();
        }
    }

    @Test
    void whenTheBatchDeadlinePassesEveryUnscoredMessageFailsClosedAndThePartitionAdvances() {
        HangingScorer hanging = new HangingScorer();
        callTimeout = Duration.ofMillis(200);
        batchDeadline = Duration.ofMillis(500);
        try {
            start(8, ModelSlot.fixed(hanging), new DecisionPolicy(Thresholds.uniform(0.3f, 0.5f), Map.of(), 0.1f));
            for (int i = 0; i < 8; i++) {
                send(user("h" + i, "HANG " + i));
            }
            send(user("next", "fine"));
            driver.advanceWallClockTime(Duration.ofMillis(60));
            List<Verdict> out = verdicts.readValuesToList();
            assertThat(out)
                    .extracting(Verdict::getMessageId)
                    .containsExactly("h0", "h1", "h2", "h3", "h4", "h5", "h6", "h7", "next");
            assertThat(out.subList(0, 8))
                    .allSatisfy(v -> assertThat(v.getRejectionReason()).isEqualTo("MODEL_TIMEOUT"));
            assertThat(out.get(8).getRejectionReason()).isNull();
            assertThat(dlq.readRecordsToList()).hasSize(8);
        } finally {
            hanging.close();
        }
    }

    @Test
    void anUnreachableRegistryMakesTheRecordWaitInsteadOfDeadLetteringIt() {
        start();
        ChatMessage m = user("r1", "fine");
        byte[] value = messageSerializer.serialize(TOPICS.messages(), m);
        serdes.unreachableFor(2);
        messages.pipeInput("k".getBytes(StandardCharsets.UTF_8), value, T0);
        assertThat(verdicts.readValuesToList())
                .extracting(Verdict::getMessageId)
                .containsExactly("r1");
        assertThat(dlq.isEmpty()).isTrue();
    }

    @Test
    void aRegistryDownForLongerThanTheBudgetFailsTheThreadSoTheRecordIsReadAgainNotDeadLettered() {
        registryBudget = Duration.ofMillis(250);
        start();
        byte[] value = messageSerializer.serialize(TOPICS.messages(), user("r2", "fine"));
        serdes.unreachableFor(1_000);
        assertThatThrownBy(() -> messages.pipeInput("k".getBytes(StandardCharsets.UTF_8), value, T0))
                .hasRootCauseInstanceOf(ConnectException.class);
        assertThat(dlq.isEmpty()).as("nothing dead-lettered for an outage").isTrue();
        assertThat(verdicts.isEmpty()).isTrue();

        byte[] feedbackValue = feedbackSerializer.serialize(
                TOPICS.feedback(),
                Feedback.newBuilder()
                        .setMessageId("r2")
                        .setLabel(SafetyLabel.SAFE)
                        .setSource(FeedbackSource.REVIEW)
                        .setTimestamp(T0)
                        .build());
        assertThatThrownBy(() -> feedback.pipeInput("k".getBytes(StandardCharsets.UTF_8), feedbackValue, T0))
                .as("feedback waits too")
                .isInstanceOf(RuntimeException.class);
        assertThat(dlq.isEmpty()).isTrue();
    }

    static String header(TestRecord<?, ?> r, String name) {
        Header h = r.headers().lastHeader(name);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }
}
