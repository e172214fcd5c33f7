package dev.duoguard.streams.topology;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.common.topics.Topics;
import dev.duoguard.runtime.language.LanguageDetection;
import dev.duoguard.runtime.language.LanguageIdentifier.Detection;
import dev.duoguard.runtime.policy.DecisionPolicy;
import dev.duoguard.runtime.policy.Thresholds;
import dev.duoguard.schemas.Decision;
import dev.duoguard.schemas.ReplyChunk;
import dev.duoguard.schemas.ReplyStage;
import dev.duoguard.schemas.Role;
import dev.duoguard.schemas.Verdict;
import dev.duoguard.streams.config.AppConfig;
import dev.duoguard.streams.model.ModelSlot;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
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

/**
 * The reply stream of {@link GuardrailTopology}, through the whole topology, with the test scorer ({@link
 * FakeScorer}: "bomb" is unsafe) and the real policy: when STOP and FINAL verdicts come, and what they say, for
 * chunks in order, shuffled, duplicated, missing, abandoned and over the bounds.
 */
class ReplyStreamProcessorTest {

    static final Topics.Names TOPICS = Topics.Names.DEFAULTS;
    static final Instant T0 = Instant.parse("2026-11-28T10:00:00Z");
    static final Duration IDLE = Duration.ofSeconds(2);

    /** A long reply of 24 chunks; chunk 13 ends the harmful sentence. */
    static final List<String> LONG_REPLY = List.of(
            "Sure. ",
            "Here is a short history ",
            "of the chemistry ",
            "of fireworks. ",
            "They were first made ",
            "in China ",
            "about a thousand years ago. ",
            "Black powder ",
            "was their main ingredient. ",
            "Colours come ",
            "from metal salts. ",
            "Now the part you asked for: ",
            "pack the tube tight ",
            "and you have built a bomb. ",
            "Later, ",
            "fireworks spread ",
            "to Europe. ",
            "Today they are ",
            "regulated ",
            "in most countries, ",
            "and shows ",
            "are run by ",
            "licensed professionals",
            ".");

    static final int HARMFUL = 13;

    @TempDir
    Path stateDir;

    final InMemoryWireFormatSerdes serdes = new InMemoryWireFormatSerdes();
    final FakeScorer scorer = new FakeScorer();
    final Serializer<ReplyChunk> chunkSerializer = serdes.serializer();
    final ReplyCounts counts = new ReplyCounts();
    TopologyTestDriver driver;
    TestInputTopic<byte[], byte[]> chunks;
    TestOutputTopic<String, Verdict> verdicts;
    TestOutputTopic<byte[], byte[]> dlq;

    /** What the processor reports through the listener. */
    static final class ReplyCounts implements ModerationListener {
        final AtomicInteger open = new AtomicInteger();
        final AtomicInteger stops = new AtomicInteger();
        final AtomicInteger finals = new AtomicInteger();
        final AtomicInteger incompleteFinals = new AtomicInteger();
        final Map<String, AtomicInteger> chunks = new ConcurrentHashMap<>();

        @Override
        public void openReplies(int delta) {
            open.addAndGet(delta);
        }

        @Override
        public void replyStop() {
            stops.incrementAndGet();
        }

        @Override
        public void replyFinal(boolean incomplete) {
            finals.incrementAndGet();
            if (incomplete) {
                incompleteFinals.incrementAndGet();
            }
        }

        @Override
        public void replyChunk(String kind) {
            chunks.computeIfAbsent(kind, k -> new AtomicInteger()).incrementAndGet();
        }

        int chunks(String kind) {
            AtomicInteger n = chunks.get(kind);
            return n == null ? 0 : n.get();
        }
    }

    static AppConfig.Replies replies(int maxOpen, int maxChars) {
        AppConfig.Replies d = AppConfig.Replies.DEFAULT;
        return new AppConfig.Replies(
                maxOpen,
                maxChars,
                d.maxHeldChunks(),
                d.scoreEveryChars(),
                true,
                d.stopAt(),
                IDLE,
                Duration.ofMinutes(10),
                d.decoderCache(),
                d.decoderCacheReplies());
    }

    void start(AppConfig.Replies replies) {
        Moderator moderator = new Moderator(
                ModelSlot.fixed(scorer),
                LanguageDetection.each(t -> new Detection("en", 0.9f)),
                new DecisionPolicy(Thresholds.uniform(0.3f, 0.5f), Map.of(), 0.1f));
        var settings = new GuardrailTopology.Settings(
                TOPICS,
                1,
                Duration.ofMillis(50),
                Duration.ofSeconds(5),
                Duration.ofSeconds(10),
                1,
                Duration.ofSeconds(5),
                1000,
                Duration.ofHours(1),
                null,
                null,
                replies);
        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, "reply-test");
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        driver = new TopologyTestDriver(GuardrailTopology.build(settings, moderator, serdes, counts), props, T0);
        chunks = driver.createInputTopic(TOPICS.replyChunks(), new ByteArraySerializer(), new ByteArraySerializer());
        verdicts = driver.createOutputTopic(TOPICS.verdicts(), new StringDeserializer(), serdes.deserializer());
        dlq = driver.createOutputTopic(TOPICS.dlq(), new ByteArrayDeserializer(), new ByteArrayDeserializer());
    }

    void start() {
        start(replies(100, 32_768));
    }

    @AfterEach
    void close() {
        if (driver != null) {
            driver.close();
        }
    }

    static List<ReplyChunk> chunksOf(String replyId, List<String> deltas) {
        List<ReplyChunk> out = new ArrayList<>();
        for (int i = 0; i < deltas.size(); i++) {
            out.add(ReplyChunk.newBuilder()
                    .setReplyId(replyId)
                    .setConversationId("conv-" + replyId)
                    .setTenant("acme")
                    .setSequence(i)
                    .setTextDelta(deltas.get(i))
                    .setFinalChunk(i == deltas.size() - 1)
                    .setPrompt(i == 0 ? "Tell me about fireworks." : null)
                    .setCreatedAt(T0)
                    .build());
        }
        return out;
    }

    void send(ReplyChunk c) {
        send(c.getReplyId(), c);
    }

    void send(String key, ReplyChunk c) {
        chunks.pipeInput(key.getBytes(StandardCharsets.UTF_8), chunkSerializer.serialize(TOPICS.replyChunks(), c), T0);
    }

    static int lengthThrough(List<String> deltas, int last) {
        return String.join("", deltas.subList(0, last + 1)).length();
    }

    static List<Verdict> stage(List<Verdict> vs, ReplyStage stage) {
        return vs.stream().filter(v -> v.getReplyStage() == stage).toList();
    }

    @Test
    void aHarmfulSentenceMidReplyGetsOneStopBeforeTheFinalChunkAndOneFinal() {
        start();
        List<ReplyChunk> reply = chunksOf("r1", LONG_REPLY);
        List<Verdict> all = new ArrayList<>();
        int stoppedAfter = -1;
        for (int i = 0; i < reply.size(); i++) {
            send(reply.get(i));
            List<Verdict> out = verdicts.readValuesToList();
            if (stoppedAfter < 0 && !stage(out, ReplyStage.STOP).isEmpty()) {
                stoppedAfter = i;
            }
            all.addAll(out);
        }
        assertThat(stoppedAfter)
                .as("the STOP comes at the chunk that ends the harmful sentence")
                .isEqualTo(HARMFUL);

        List<Verdict> stops = stage(all, ReplyStage.STOP);
        assertThat(stops).hasSize(1);
        Verdict stop = stops.get(0);
        assertThat(stop.getDecision()).isEqualTo(Decision.BLOCK);
        assertThat(stop.getMessageId()).isEqualTo("r1");
        assertThat(stop.getReplyId()).isEqualTo("r1");
        assertThat(stop.getRole()).isEqualTo(Role.ASSISTANT);
        assertThat(stop.getStopOffset()).isEqualTo(lengthThrough(LONG_REPLY, HARMFUL));
        assertThat(stop.getChunksSeen()).isEqualTo(HARMFUL + 1);

        List<Verdict> finals = stage(all, ReplyStage.FINAL);
        assertThat(finals).hasSize(1);
        Verdict fin = finals.get(0);
        assertThat(fin.getDecision()).as("the reply stays blocked").isEqualTo(Decision.BLOCK);
        assertThat(fin.getStopOffset()).isEqualTo(stop.getStopOffset());
        assertThat(fin.getChunksSeen()).isEqualTo(LONG_REPLY.size());
        assertThat(fin.getIncomplete()).isFalse();
        assertThat(all).hasSize(2);

        // scored as prompt + reply, at sentence ends, and never again after the STOP
        List<String> scored = scorer.calls.stream().flatMap(List::stream).toList();
        assertThat(scored).allSatisfy(t -> assertThat(t).startsWith("Tell me about fireworks."));
        assertThat(scored.get(scored.size() - 1)).endsWith("you have built a bomb. ");
        assertThat(scored.subList(0, scored.size() - 1)).noneMatch(t -> t.contains("bomb"));
        assertThat(counts.stops).hasValue(1);
        assertThat(counts.finals).hasValue(1);
        assertThat(counts.open).hasValue(0);
    }

    @Test
    void aSafeReplyGetsOnlyItsFinalAllowScoredOnTheWholeReply() {
        start();
        List<String> safe =
                LONG_REPLY.stream().map(s -> s.replace("bomb", "rocket")).toList();
        chunksOf("r2", safe).forEach(this::send);
        List<Verdict> out = verdicts.readValuesToList();
        assertThat(out).singleElement().satisfies(v -> {
            assertThat(v.getReplyStage()).isEqualTo(ReplyStage.FINAL);
            assertThat(v.getDecision()).isEqualTo(Decision.ALLOW);
            assertThat(v.getStopOffset()).isNull();
            assertThat(v.getIncomplete()).isFalse();
            assertThat(v.getRejectionReason()).isNull();
        });
        List<String> scored = scorer.calls.stream().flatMap(List::stream).toList();
        assertThat(scored.get(scored.size() - 1)).endsWith(String.join("", safe));
    }

    @Test
    void shuffledChunksAreAssembledInOrderAndOnlyTheGapFreePrefixIsScored() {
        start();
        List<ReplyChunk> reply = new ArrayList<>(chunksOf("r3", LONG_REPLY));
        Collections.shuffle(reply, new Random(17));
        reply.forEach(this::send);
        List<Verdict> out = verdicts.readValuesToList();

        assertThat(stage(out, ReplyStage.STOP)).hasSizeLessThanOrEqualTo(1);
        assertThat(stage(out, ReplyStage.FINAL)).singleElement().satisfies(v -> {
            assertThat(v.getDecision()).isEqualTo(Decision.BLOCK);
            assertThat(v.getChunksSeen()).isEqualTo(LONG_REPLY.size());
            assertThat(v.getIncomplete()).isFalse();
        });
        String full = "Tell me about fireworks." + " " + String.join("", LONG_REPLY);
        assertThat(scorer.calls.stream().flatMap(List::stream))
                .isNotEmpty()
                .allSatisfy(t -> assertThat(full).startsWith(t));
        assertThat(counts.chunks("out_of_order")).isPositive();
    }

    @Test
    void duplicatedChunksAreIgnoredAndCountedAndLateOnesDoNotReopenTheReply() {
        start();
        List<ReplyChunk> reply = chunksOf("r4", LONG_REPLY);
        for (ReplyChunk c : reply.subList(0, reply.size() - 1)) {
            send(c);
            send(c);
        }
        send(reply.get(reply.size() - 1));
        // a producer's retry after the FINAL, then a long quiet time: no second verdict
        send(reply.get(2));
        driver.advanceWallClockTime(IDLE.multipliedBy(3));

        List<Verdict> out = verdicts.readValuesToList();
        assertThat(stage(out, ReplyStage.STOP)).hasSize(1);
        assertThat(stage(out, ReplyStage.FINAL)).singleElement().satisfies(v -> {
            assertThat(v.getChunksSeen()).isEqualTo(LONG_REPLY.size());
            assertThat(v.getIncomplete()).isFalse();
        });
        assertThat(counts.chunks("duplicate")).isEqualTo(LONG_REPLY.size() - 1);
        assertThat(counts.chunks("late")).isEqualTo(1);
    }

    @Test
    void aMissingChunkEndsInAnIncompleteFailClosedFinalAfterTheIdleTimeout() {
        start();
        List<String> safe = List.of("The weather ", "is mild ", "today, ", "with sun ", "in the afternoon.");
        List<ReplyChunk> reply = chunksOf("r5", safe);
        for (int i = 0; i < reply.size(); i++) {
            if (i != 2) {
                send(reply.get(i));
            }
        }
        assertThat(verdicts.readValuesToList())
                .as("the final chunk waits for the gap")
                .isEmpty();

        driver.advanceWallClockTime(IDLE.plusMillis(500));
        List<Verdict> out = verdicts.readValuesToList();
        assertThat(out).singleElement().satisfies(v -> {
            assertThat(v.getReplyStage()).isEqualTo(ReplyStage.FINAL);
            assertThat(v.getIncomplete()).isTrue();
            assertThat(v.getDecision()).as("fail-closed: at least REVIEW").isEqualTo(Decision.REVIEW);
            assertThat(v.getChunksSeen()).isEqualTo(4);
            assertThat(v.getCategoryScores()).as("decided on what arrived").hasSize(12);
        });
        // only the gap-free prefix was scored
        assertThat(scorer.calls.stream().flatMap(List::stream))
                .allSatisfy(t -> assertThat(t).endsWith("The weather is mild "));
        assertThat(counts.incompleteFinals).hasValue(1);
        assertThat(counts.open).hasValue(0);

        // the missing chunk turns up too late: counted, no second verdict
        send(reply.get(2));
        driver.advanceWallClockTime(IDLE.multipliedBy(2));
        assertThat(verdicts.readValuesToList()).isEmpty();
        assertThat(counts.chunks("late")).isEqualTo(1);
    }

    @Test
    void anAbandonedReplyGetsItsFinalOnWhatArrivedAfterTheIdleTimeout() {
        start();
        List<ReplyChunk> reply = chunksOf(
                "r6", LONG_REPLY.stream().map(s -> s.replace("bomb", "kite")).toList());
        reply.subList(0, 7).forEach(this::send);
        driver.advanceWallClockTime(IDLE.minusMillis(600));
        assertThat(verdicts.readValuesToList()).as("not idle yet").isEmpty();

        driver.advanceWallClockTime(Duration.ofSeconds(1));
        assertThat(verdicts.readValuesToList()).singleElement().satisfies(v -> {
            assertThat(v.getReplyStage()).isEqualTo(ReplyStage.FINAL);
            assertThat(v.getIncomplete()).isTrue();
            assertThat(v.getDecision()).isEqualTo(Decision.REVIEW);
            assertThat(v.getChunksSeen()).isEqualTo(7);
        });
    }

    @Test
    void aReplyStoppedBeforeItIsAbandonedStaysBlocked() {
        start();
        chunksOf("r7", LONG_REPLY).subList(0, HARMFUL + 3).forEach(this::send);
        assertThat(stage(verdicts.readValuesToList(), ReplyStage.STOP)).hasSize(1);
        int calls = scorer.calls.size();
        driver.advanceWallClockTime(IDLE.multipliedBy(2));
        assertThat(verdicts.readValuesToList()).singleElement().satisfies(v -> {
            assertThat(v.getReplyStage()).isEqualTo(ReplyStage.FINAL);
            assertThat(v.getDecision()).isEqualTo(Decision.BLOCK);
            assertThat(v.getIncomplete()).isTrue();
            assertThat(v.getStopOffset()).isEqualTo(lengthThrough(LONG_REPLY, HARMFUL));
        });
        assertThat(scorer.calls).as("nothing scored after the STOP").hasSize(calls);
    }

    @Test
    void aReplyOverTheCharacterBoundGetsItsFinalNowIncomplete() {
        start(replies(100, 120));
        List<ReplyChunk> reply = chunksOf(
                "r8", LONG_REPLY.stream().map(s -> s.replace("bomb", "kite")).toList());
        int sent = 0;
        while (verdicts.isEmpty()) {
            send(reply.get(sent++));
        }
        Verdict v = verdicts.readValue();
        assertThat(v.getReplyStage()).isEqualTo(ReplyStage.FINAL);
        assertThat(v.getIncomplete()).isTrue();
        assertThat(v.getDecision()).isEqualTo(Decision.REVIEW);
        assertThat(sent).isLessThan(LONG_REPLY.size());
        assertThat("Tell me about fireworks.".length() + lengthThrough(LONG_REPLY, sent - 1))
                .isGreaterThan(120);
        // the rest of the reply is late: no second verdict
        reply.subList(sent, reply.size()).forEach(this::send);
        assertThat(verdicts.readValuesToList()).isEmpty();
        assertThat(counts.chunks("late")).isEqualTo(reply.size() - sent);
    }

    @Test
    void aReplyBeyondTheOpenBoundGetsItsFinalAtOnceAndTheOthersGoOn() {
        start(replies(2, 32_768));
        send(chunksOf("a", LONG_REPLY).get(0));
        send(chunksOf("b", LONG_REPLY).get(0));
        assertThat(verdicts.readValuesToList()).isEmpty();
        send(chunksOf("c", LONG_REPLY).get(0));
        assertThat(verdicts.readValuesToList()).singleElement().satisfies(v -> {
            assertThat(v.getReplyId()).isEqualTo("c");
            assertThat(v.getReplyStage()).isEqualTo(ReplyStage.FINAL);
            assertThat(v.getIncomplete()).isTrue();
            assertThat(v.getDecision()).isEqualTo(Decision.REVIEW);
        });
        assertThat(counts.open).hasValue(2);
        chunksOf("a", LONG_REPLY).subList(1, LONG_REPLY.size()).forEach(this::send);
        assertThat(stage(verdicts.readValuesToList(), ReplyStage.FINAL))
                .singleElement()
                .satisfies(v -> assertThat(v.getIncomplete()).isFalse());
    }

    @Test
    void aChunkKeyedByAnythingButItsReplyIdGoesToTheDeadLetterTopic() {
        start();
        send("conv-r9", chunksOf("r9", LONG_REPLY).get(0));
        assertThat(verdicts.readValuesToList()).isEmpty();
        TestRecord<byte[], byte[]> dead = dlq.readRecord();
        assertThat(new String(dead.headers().lastHeader(DeadLetter.REASON).value(), StandardCharsets.UTF_8))
                .isEqualTo("INVALID_FIELD");
        assertThat(new String(dead.headers().lastHeader(DeadLetter.DETAIL).value(), StandardCharsets.UTF_8))
                .contains("key every chunk by its reply id");
        assertThat(counts.open).hasValue(0);
    }

    @Test
    void undecodableBytesGoToTheDeadLetterTopicAsTheyCame() {
        start();
        byte[] junk = {1, 2, 3};
        chunks.pipeInput("r10".getBytes(StandardCharsets.UTF_8), junk, T0);
        TestRecord<byte[], byte[]> dead = dlq.readRecord();
        assertThat(dead.value()).isEqualTo(junk);
        assertThat(new String(dead.headers().lastHeader(DeadLetter.REASON).value(), StandardCharsets.UTF_8))
                .isEqualTo("NOT_WIRE_FORMAT");
        assertThat(verdicts.isEmpty()).isTrue();
    }

    @Test
    void aBadChunkEndsItsReplyFailClosed() {
        start();
        List<ReplyChunk> reply = chunksOf("r11", LONG_REPLY);
        send(reply.get(0));
        ReplyChunk bad =
                ReplyChunk.newBuilder(reply.get(1)).setTextDelta("bell \u0007").build();
        send(bad);
        assertThat(verdicts.readValuesToList()).singleElement().satisfies(v -> {
            assertThat(v.getReplyStage()).isEqualTo(ReplyStage.FINAL);
            assertThat(v.getIncomplete()).isTrue();
            assertThat(v.getDecision()).isEqualTo(Decision.REVIEW);
            assertThat(v.getRejectionReason()).isEqualTo("CONTROL_CHARACTERS");
        });
        assertThat(new String(
                        dlq.readRecord().headers().lastHeader(DeadLetter.REASON).value(), StandardCharsets.UTF_8))
                .isEqualTo("CONTROL_CHARACTERS");
    }

    @Test
    void aModelFailureEndsTheReplyFailClosed() {
        start();
        List<ReplyChunk> reply = chunksOf("r12", List.of("This sentence is fine. ", "POISON here. ", "end."));
        reply.forEach(this::send);
        List<Verdict> out = verdicts.readValuesToList();
        assertThat(out).singleElement().satisfies(v -> {
            assertThat(v.getReplyStage()).isEqualTo(ReplyStage.FINAL);
            assertThat(v.getIncomplete()).isTrue();
            assertThat(v.getDecision()).isEqualTo(Decision.REVIEW);
            assertThat(v.getRejectionReason()).isEqualTo("MODEL_FAILURE");
            assertThat(v.getUnsafe()).isTrue();
        });
        assertThat(counts.chunks("late"))
                .as("the final chunk came after the fail-closed FINAL")
                .isEqualTo(1);
    }
}
