package dev.duoguard.streams.topology;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.duoguard.common.topics.Topics;
import dev.duoguard.runtime.bundle.BundleManifest;
import dev.duoguard.runtime.bundle.InvalidBundleException;
import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.runtime.language.LanguageDetection;
import dev.duoguard.runtime.language.LanguageIdentifier.Detection;
import dev.duoguard.runtime.onnx.ExecutionDevice;
import dev.duoguard.runtime.onnx.IncrementalDecoder;
import dev.duoguard.runtime.policy.DecisionPolicy;
import dev.duoguard.runtime.policy.Thresholds;
import dev.duoguard.runtime.scoring.DynamicBatcher;
import dev.duoguard.runtime.scoring.GuardrailModel;
import dev.duoguard.runtime.scoring.ScoringTimeoutException;
import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.schemas.Decision;
import dev.duoguard.schemas.ReplyChunk;
import dev.duoguard.schemas.ReplyStage;
import dev.duoguard.schemas.Role;
import dev.duoguard.schemas.Verdict;
import dev.duoguard.schemas.internal.OpenReply;
import dev.duoguard.streams.config.AppConfig;
import dev.duoguard.streams.model.ModelSlot;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.processor.api.MockProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The reply stream with a decoder bundle's key/value caches ({@link ReplyCaches}) against the same stream rescoring
 * every chunk: a tiny random Qwen2 bundle (exported by the trainer's {@code TinyDecoderBundle}, with its incremental
 * graph), the real scorer, batcher and policy.
 */
class ReplyCacheTest {

    static final String PROMPT = "Tell me about fireworks.";

    @TempDir
    Path dir;

    final InMemoryWireFormatSerdes serdes = new InMemoryWireFormatSerdes();
    final List<AutoCloseable> toClose = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (int i = toClose.size() - 1; i >= 0; i--) {
            toClose.get(i).close();
        }
    }

    /** A copy of the tiny decoder bundle, with {@code maxTokens} as its window. */
    Path bundle(String name, String version, int maxTokens) throws Exception {
        Path from = Path.of(getClass().getResource("/tiny-decoder-bundle").toURI());
        Path to = Files.createDirectories(dir.resolve(name));
        try (var files = Files.list(from)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                Files.copy(f, to.resolve(f.getFileName()));
            }
        }
        ObjectMapper json = new ObjectMapper();
        ObjectNode manifest =
                (ObjectNode) json.readTree(to.resolve(BundleManifest.FILE_NAME).toFile());
        manifest.put("max_tokens", maxTokens)
                .put("window_overlap", maxTokens / 4)
                .put("version", version);
        json.writeValue(to.resolve(BundleManifest.FILE_NAME).toFile(), manifest);
        return to;
    }

    GuardrailModel load(Path bundle) {
        GuardrailModel m = GuardrailModel.load(bundle, ExecutionDevice.CPU, 1, 8);
        toClose.add(m);
        return m;
    }

    Moderator moderator(ModelSlot slot, float block) {
        return new Moderator(
                slot,
                LanguageDetection.each(t -> new Detection("en", 0.9f)),
                new DecisionPolicy(Thresholds.uniform(block, block), Map.of(), 0.1f));
    }

    Moderator moderator(GuardrailModel model, float block) {
        DynamicBatcher batcher = new DynamicBatcher(model, 8, Duration.ofMillis(1), Duration.ofSeconds(30));
        toClose.add(batcher);
        return moderator(ModelSlot.fixed(batcher), block);
    }

    static AppConfig.Replies replies(boolean cache, int cacheReplies) {
        AppConfig.Replies d = AppConfig.Replies.DEFAULT;
        return new AppConfig.Replies(
                100,
                32_768,
                d.maxHeldChunks(),
                1, // every chunk is scored: each scoring is compared
                true,
                d.stopAt(),
                Duration.ofSeconds(2),
                Duration.ofMinutes(10),
                cache,
                cacheReplies);
    }

    static GuardrailTopology.Settings settings(AppConfig.Replies replies) {
        return new GuardrailTopology.Settings(
                ReplyStreamProcessorTest.TOPICS,
                1,
                Duration.ofMillis(50),
                Duration.ofSeconds(30),
                Duration.ofSeconds(10),
                1,
                Duration.ofSeconds(5),
                1000,
                Duration.ofHours(1),
                null,
                null,
                replies);
    }

    /**
     * Kafka Streams closes a suspended task's processors and initialises the same objects again when the task comes
     * back (a partition revoked and reassigned in one rebalance, a task revived after corruption): the reply caches
     * must work after that, not fail every reply closed.
     */
    @Test
    void aProcessorInitialisedAgainAfterCloseStillScoresWithCaches() throws Exception {
        Moderator moderator = moderator(load(bundle("b", "1", 512)), 1f);
        GuardrailTopology.Settings settings = settings(replies(true, 4));
        Topics topics = Topics.of(settings.topics(), serdes);
        ReplyStreamProcessor processor = new ReplyStreamProcessor(
                settings,
                moderator,
                new WireDecoder<>(
                        topics.replyChunks().valueSerde().deserializer(),
                        ReplyChunk.class,
                        serdes.schemaIds(),
                        settings.registryRetryBudget()),
                new ReplyStreamProcessorTest.ReplyCounts());
        MockProcessorContext<byte[], Outcome> context = new MockProcessorContext<>();
        KeyValueStore<String, OpenReply> store = Stores.keyValueStoreBuilder(
                        Stores.inMemoryKeyValueStore(ReplyStreamProcessor.STORE),
                        Serdes.String(),
                        serdes.internal(OpenReply.class))
                .withLoggingDisabled()
                .build();
        store.init(context.getStateStoreContext(), store);
        context.addStateStore(store);
        processor.init(context);
        processor.close(); // suspended
        processor.init(context); // resumed
        List<ReplyChunk> chunks = reply("r1", ReplyStreamProcessorTest.LONG_REPLY);
        context.setCurrentSystemTimeMs(ReplyStreamProcessorTest.T0.toEpochMilli());
        for (int i = 0; i < 3; i++) {
            context.setRecordMetadata(topics.replyChunks().name(), 0, i);
            processor.process(new Record<>(
                    "r1".getBytes(StandardCharsets.UTF_8),
                    serdes.<ReplyChunk>serializer()
                            .serialize(topics.replyChunks().name(), chunks.get(i)),
                    ReplyStreamProcessorTest.T0.toEpochMilli()));
        }
        assertThat(context.forwarded())
                .as("nothing dead-lettered or failed closed after the resume")
                .allSatisfy(f -> assertThat(f.record().value()).isInstanceOf(Outcome.VerdictOut.class));
        assertThat(store.get("r1").getLast().getRejectionReason())
                .as("the reply is scored")
                .isNull();
        processor.close();
        store.close();
    }

    /** One topology over one moderator, with its own state. */
    final class Run implements AutoCloseable {
        final TopologyTestDriver driver;
        final TestInputTopic<byte[], byte[]> chunks;
        final TestOutputTopic<String, Verdict> verdicts;
        final TestOutputTopic<byte[], byte[]> dlq;
        final KeyValueStore<String, OpenReply> store;

        Run(String name, Moderator moderator, AppConfig.Replies replies) {
            var settings = settings(replies);
            Properties props = new Properties();
            props.put(StreamsConfig.APPLICATION_ID_CONFIG, "reply-cache-" + name);
            props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
            props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
            props.put(
                    StreamsConfig.STATE_DIR_CONFIG, dir.resolve("state-" + name).toString());
            driver = new TopologyTestDriver(
                    GuardrailTopology.build(settings, moderator, serdes, new ReplyStreamProcessorTest.ReplyCounts()),
                    props,
                    ReplyStreamProcessorTest.T0);
            toClose.add(this);
            var topics = ReplyStreamProcessorTest.TOPICS;
            chunks =
                    driver.createInputTopic(topics.replyChunks(), new ByteArraySerializer(), new ByteArraySerializer());
            verdicts = driver.createOutputTopic(topics.verdicts(), new StringDeserializer(), serdes.deserializer());
            dlq = driver.createOutputTopic(topics.dlq(), new ByteArrayDeserializer(), new ByteArrayDeserializer());
            store = driver.getKeyValueStore(ReplyStreamProcessor.STORE);
        }

        List<Verdict> send(ReplyChunk c) {
            chunks.pipeInput(
                    c.getReplyId().getBytes(StandardCharsets.UTF_8),
                    serdes.<ReplyChunk>serializer().serialize(ReplyStreamProcessorTest.TOPICS.replyChunks(), c),
                    ReplyStreamProcessorTest.T0);
            return verdicts.readValuesToList();
        }

        /** The verdict of the reply's last scoring (null once it is finalised). */
        Verdict last(String id) {
            OpenReply r = store.get(id);
            return r == null || r.getFinalised() ? null : r.getLast();
        }

        @Override
        public void close() {
            driver.close();
        }
    }

    static List<ReplyChunk> reply(String id, List<String> deltas) {
        return ReplyStreamProcessorTest.chunksOf(id, deltas);
    }

    /** The reply with every chunk cut again at random places (mid-word too). */
    static List<String> recut(List<String> deltas, long seed) {
        String all = String.join("", deltas);
        Random r = new Random(seed);
        List<String> out = new ArrayList<>();
        for (int i = 0; i < all.length(); ) {
            int n = 1 + r.nextInt(12);
            out.add(all.substring(i, Math.min(all.length(), i + n)));
            i += n;
        }
        return out;
    }

    static void assertSameScores(Verdict cached, Verdict rescored, String what) {
        assertThat(cached.getCategoryScores()).hasSameSizeAs(rescored.getCategoryScores());
        for (int c = 0; c < cached.getCategoryScores().size(); c++) {
            assertThat(Math.abs(cached.getCategoryScores().get(c).getScore()
                            - rescored.getCategoryScores().get(c).getScore()))
                    .as("%s, category %d", what, c)
                    .isLessThan(1e-4f);
        }
        assertThat(Math.abs(cached.getUnsafeScore() - rescored.getUnsafeScore()))
                .as(what)
                .isLessThan(1e-4f);
        assertThat(cached.getDecision()).as(what).isEqualTo(rescored.getDecision());
    }

    @Test
    void chunkByChunkTokensAreTheTokensOfTheWholeText() throws Exception {
        GuardrailModel model = load(bundle("b", "1", 512));
        GuardrailModel.Incremental inc = model.incremental().orElseThrow();
        assertThat(ReplyCaches.splitsAtWordBoundaries(inc)).isTrue();
        for (long seed = 0; seed < 5; seed++) {
            String text = PROMPT + " ";
            List<Long> committed = new ArrayList<>();
            int from = 0;
            for (String delta : recut(ReplyStreamProcessorTest.LONG_REPLY, seed)) {
                text += delta;
                int cut = ReplyCaches.cut(text, from);
                for (long id : inc.tokenize(text.substring(from, cut)).ids()) {
                    committed.add(id);
                }
                from = cut;
                long[] got = committed.stream().mapToLong(Long::longValue).toArray();
                long[] tail = inc.tokenize(text.substring(cut)).ids();
                got = Arrays.copyOf(got, got.length + tail.length);
                System.arraycopy(tail, 0, got, committed.size(), tail.length);
                assertThat(got)
                        .as("tokens of '%s'", text)
                        .isEqualTo(inc.tokenize(text).ids());
            }
        }
    }

    @Test
    void theCachePathScoresEveryChunkAsRescoringDoesAndGivesTheSameFinal() throws Exception {
        GuardrailModel model = load(bundle("b", "1", 512));
        Run cached = new Run("cached", moderator(model, 1f), replies(true, 16));
        Run rescored = new Run("rescored", moderator(model, 1f), replies(false, 16));
        List<ReplyChunk> chunks = reply("r1", recut(ReplyStreamProcessorTest.LONG_REPLY, 7));
        for (int i = 0; i < chunks.size(); i++) {
            List<Verdict> a = cached.send(chunks.get(i));
            List<Verdict> b = rescored.send(chunks.get(i));
            if (i < chunks.size() - 1) {
                assertSameScores(cached.last("r1"), rescored.last("r1"), "chunk " + i);
            } else {
                assertThat(a).hasSize(1);
                assertThat(b).hasSize(1);
                assertThat(a.get(0).getReplyStage()).isEqualTo(ReplyStage.FINAL);
                assertSameScores(a.get(0), b.get(0), "FINAL");
                assertThat(a.get(0).getWindows()).isEqualTo(1);
            }
        }
    }

    /** Unsafe scores of prompt + reply at each chunk boundary, by the bundle scorer. */
    static float[] boundaryScores(GuardrailModel model, List<ReplyChunk> chunks) {
        float[] out = new float[chunks.size()];
        String text = "";
        for (int i = 0; i < chunks.size(); i++) {
            text += chunks.get(i).getTextDelta();
            out[i] = model.score(List.of(model.pairText(PROMPT, text))).get(0).unsafeScore();
        }
        return out;
    }

    @Test
    void bothPathsStopAtTheSameChunkAndTheCacheNamesTheTokenThatTripped() throws Exception {
        GuardrailModel model = load(bundle("b", "1", 512));
        List<ReplyChunk> chunks = reply("r1", ReplyStreamProcessorTest.LONG_REPLY);
        float[] scores = boundaryScores(model, chunks);
        float[] sorted = scores.clone();
        Arrays.sort(sorted);
        float max = sorted[sorted.length - 1];
        float below = max;
        for (int i = sorted.length - 1; i >= 0 && below == max; i--) {
            below = sorted[i];
        }
        // between the highest boundary score and the next: the STOP comes where the highest is first reached
        float block = (max + below) / 2;
        int stopChunk = 0;
        while (scores[stopChunk] < block) {
            stopChunk++;
        }
        Run cached = new Run("cached", moderator(model, block), replies(true, 16));
        Run rescored = new Run("rescored", moderator(model, block), replies(false, 16));
        List<Verdict> a = new ArrayList<>();
        List<Verdict> b = new ArrayList<>();
        for (ReplyChunk c : chunks) {
            a.addAll(cached.send(c));
            b.addAll(rescored.send(c));
        }
        List<Verdict> stopA = ReplyStreamProcessorTest.stage(a, ReplyStage.STOP);
        List<Verdict> stopB = ReplyStreamProcessorTest.stage(b, ReplyStage.STOP);
        assertThat(stopA).hasSize(1);
        assertThat(stopB).hasSize(1);
        assertThat(stopA.get(0).getChunksSeen()).isEqualTo(stopChunk + 1);
        assertThat(stopB.get(0).getChunksSeen()).isEqualTo(stopChunk + 1);
        assertSameScores(stopA.get(0), stopB.get(0), "STOP");
        assertThat(stopA.get(0).getDecision()).isEqualTo(Decision.BLOCK);
        List<Verdict> finalA = ReplyStreamProcessorTest.stage(a, ReplyStage.FINAL);
        List<Verdict> finalB = ReplyStreamProcessorTest.stage(b, ReplyStage.FINAL);
        assertThat(finalA).hasSize(1);
        assertThat(finalB).hasSize(1);
        assertThat(finalA.get(0).getDecision()).isEqualTo(finalB.get(0).getDecision());

        // rescoring stops at the chunk boundary; the cache at the end of the first new token whose prefix trips
        int before = stopChunk == 0
                ? 0
                : ReplyStreamProcessorTest.lengthThrough(ReplyStreamProcessorTest.LONG_REPLY, stopChunk - 1);
        int boundary = ReplyStreamProcessorTest.lengthThrough(ReplyStreamProcessorTest.LONG_REPLY, stopChunk);
        assertThat(stopB.get(0).getStopOffset()).isEqualTo(boundary);
        GuardrailModel.Incremental inc = model.incremental().orElseThrow();
        String text =
                model.pairText(PROMPT, String.join("", ReplyStreamProcessorTest.LONG_REPLY.subList(0, stopChunk + 1)));
        int promptChars = text.length() - boundary;
        var spans = inc.tokenize(text);
        int want = boundary;
        try (IncrementalDecoder.Reply r = inc.open()) {
            float[][] rows = r.append(spans.ids());
            for (int t = 0; t < rows.length; t++) {
                int end = spans.ends()[t] - promptChars;
                float unsafe = 0;
                for (float p : inc.probabilities(rows[t])) {
                    unsafe = Math.max(unsafe, p);
                }
                if (end > before && unsafe >= block) {
                    want = end;
                    break;
                }
            }
        }
        assertThat(stopA.get(0).getStopOffset())
                .isEqualTo(want)
                .isGreaterThan(before)
                .isLessThanOrEqualTo(boundary);
        assertThat(finalA.get(0).getStopOffset()).isEqualTo(want);
    }

    @Test
    void evictedCachesAreRebuiltFromTheStoredTextWithTheSameScores() throws Exception {
        GuardrailModel model = load(bundle("b", "1", 512));
        // one cache for two interleaved replies: every chunk finds the other reply's cache and rebuilds its own
        Run cached = new Run("cached", moderator(model, 1f), replies(true, 1));
        Run rescored = new Run("rescored", moderator(model, 1f), replies(false, 16));
        List<ReplyChunk> r1 = reply("r1", ReplyStreamProcessorTest.LONG_REPLY);
        List<ReplyChunk> r2 = reply("r2", recut(ReplyStreamProcessorTest.LONG_REPLY, 3));
        for (int i = 0; i < Math.max(r1.size(), r2.size()) - 1; i++) {
            for (List<ReplyChunk> r : List.of(r1, r2)) {
                if (i < r.size() - 1) {
                    String id = r.get(i).getReplyId();
                    cached.send(r.get(i));
                    rescored.send(r.get(i));
                    assertSameScores(cached.last(id), rescored.last(id), id + " chunk " + i);
                }
            }
        }
    }

    ChatMessage message(String id, String reply) {
        return ChatMessage.newBuilder()
                .setMessageId(id)
                .setConversationId("c")
                .setTenant("acme")
                .setRole(Role.ASSISTANT)
                .setText(reply)
                .setPrompt(PROMPT)
                .setTimestamp(Instant.EPOCH)
                .build();
    }

    @Test
    void aRestartedProcessorRebuildsItsCachesFromTheReplyTextAndScoresTheSame() throws Exception {
        GuardrailModel model = load(bundle("b", "1", 512));
        Moderator moderator = moderator(ModelSlot.fixed(model), 1f);
        List<String> deltas = recut(ReplyStreamProcessorTest.LONG_REPLY, 5);
        int half = deltas.size() / 2;
        String text = "";
        try (ReplyCaches before = new ReplyCaches(4, Duration.ofSeconds(30))) {
            for (int i = 0; i < half; i++) {
                text += deltas.get(i);
                before.score(moderator, "r1", message("r1", text)).orElseThrow();
            }
            assertThat(before.rebuilds()).isEqualTo(1);
        }
        // a new processor (restart, rebalance): no cache, the reply text from the store
        try (ReplyCaches after = new ReplyCaches(4, Duration.ofSeconds(30))) {
            for (int i = half; i < deltas.size(); i++) {
                text += deltas.get(i);
                float[] got = after.score(moderator, "r1", message("r1", text))
                        .orElseThrow()
                        .probabilities();
                float[] want = model.score(List.of(model.pairText(PROMPT, text)))
                        .get(0)
                        .probabilities();
                for (int c = 0; c < want.length; c++) {
                    assertThat(Math.abs(got[c] - want[c]))
                            .as("chunk %d category %d", i, c)
                            .isLessThan(1e-4f);
                }
            }
            assertThat(after.rebuilds())
                    .as("one pass over the stored text, then chunk by chunk")
                    .isEqualTo(1);
        }
    }

    /**
     * A model call on a cache that does not come back within the timeout fails that reply's scoring (MODEL_TIMEOUT
     * upstream) instead of holding the stream thread, and the processor stops using caches: the next scoring is
     * left to rescoring (empty), whose batcher bounds its own waits.
     */
    @Test
    void aCacheCallPastTheTimeoutFailsTheScoringAndRetiresTheCaches() throws Exception {
        GuardrailModel model = load(bundle("b", "1", 512));
        Moderator moderator = moderator(ModelSlot.fixed(model), 1f);
        ExecutorService worker = Executors.newSingleThreadExecutor();
        CountDownLatch release = new CountDownLatch(1);
        try (ReplyCaches caches = new ReplyCaches(4, Duration.ofMillis(200), worker)) {
            assertThat(caches.score(moderator, "r1", message("r1", "Sure. Here is")))
                    .isPresent();
            // the model's thread is busy: the next call cannot run
            worker.submit(() -> {
                release.await();
                return null;
            });
            long start = System.nanoTime();
            assertThatThrownBy(() -> caches.score(moderator, "r1", message("r1", "Sure. Here is a short")))
                    .isInstanceOf(ScoringTimeoutException.class)
                    .hasMessageContaining("200 ms");
            assertThat(Duration.ofNanos(System.nanoTime() - start))
                    .as("the stream thread waited about the timeout, not for the call")
                    .isLessThan(Duration.ofSeconds(10));
            assertThat(caches.score(moderator, "r2", message("r2", "Another reply")))
                    .isEmpty();
            assertThat(caches.size()).isZero();
        } finally {
            release.countDown();
        }
        // the late call still runs on the model's thread, then the clean-up retire() queued behind it: wait for both
        // before @AfterEach closes the model (closing a session under a running call aborts the JVM)
        worker.shutdown();
        assertThat(worker.awaitTermination(30, TimeUnit.SECONDS))
                .as("the late call and the clean-up queued behind it finish")
                .isTrue();
    }

    @Test
    void aModelSwapDropsTheCachesAndReleasesTheOldModel() throws Exception {
        GuardrailModel v1 = GuardrailModel.load(bundle("v1", "1", 512), ExecutionDevice.CPU, 1, 8);
        GuardrailModel v2 = load(bundle("v2", "2", 512));
        AtomicBoolean v1Closed = new AtomicBoolean();
        ModelSlot slot = new ModelSlot(
                v1,
                () -> {
                    v1.close();
                    v1Closed.set(true);
                },
                Runnable::run);
        Moderator moderator = moderator(slot, 1f);
        try (ReplyCaches caches = new ReplyCaches(4, Duration.ofSeconds(30))) {
            assertThat(caches.score(moderator, "r1", message("r1", "Sure. Here is"))
                            .orElseThrow()
                            .model()
                            .version())
                    .isEqualTo("1");
            slot.swap(v2, () -> {});
            assertThat(v1Closed).as("its caches still hold v1").isFalse();
            var after = caches.score(moderator, "r1", message("r1", "Sure. Here is a short"))
                    .orElseThrow();
            assertThat(after.model().version()).isEqualTo("2");
            assertThat(caches.rebuilds())
                    .as("the reply's cache was rebuilt for v2")
                    .isEqualTo(2);
            assertThat(v1Closed).as("dropped with its caches").isTrue();
            float[] want = v2.score(List.of(v2.pairText(PROMPT, "Sure. Here is a short")))
                    .get(0)
                    .probabilities();
            for (int c = 0; c < want.length; c++) {
                assertThat(Math.abs(after.probabilities()[c] - want[c])).isLessThan(1e-4f);
            }
        }
    }

    @Test
    void aReplyBeyondTheWindowFallsBackToRescoring() throws Exception {
        GuardrailModel model = load(bundle("small", "1", 48));
        Run cached = new Run("cached", moderator(model, 1f), replies(true, 16));
        Run rescored = new Run("rescored", moderator(model, 1f), replies(false, 16));
        List<ReplyChunk> chunks = reply("r1", ReplyStreamProcessorTest.LONG_REPLY);
        Verdict a = null;
        Verdict b = null;
        for (ReplyChunk c : chunks) {
            List<Verdict> va = cached.send(c);
            List<Verdict> vb = rescored.send(c);
            if (!va.isEmpty()) {
                a = va.get(0);
                b = vb.get(0);
            }
        }
        assertThat(a.getReplyStage()).isEqualTo(ReplyStage.FINAL);
        assertThat(a.getWindows()).as("scored in windows, by the bundle scorer").isGreaterThan(1);
        assertSameScores(a, b, "FINAL");
    }

    @Test
    void aModelFailureOnTheCachePathFailsTheReplyClosedAsRescoringDoes() throws Exception {
        Path bundle = bundle("failing", "1", 512);
        BundleManifest manifest = ModelBundle.open(bundle).manifest();
        // the tokenizer gives "bomb" an id past the model's vocabulary: both graphs fail on a text holding it
        ObjectMapper json = new ObjectMapper();
        Path tokenizer = bundle.resolve(BundleManifest.TOKENIZER_FILE);
        ObjectNode tok = (ObjectNode) json.readTree(tokenizer.toFile());
        ((ObjectNode) tok.get("model").get("vocab")).put("bomb", 100_000);
        json.writeValue(tokenizer.toFile(), tok);
        ModelBundle.writeManifest(bundle, manifest.withFiles(null));
        GuardrailModel model = load(bundle);
        Run cached = new Run("cached", moderator(model, 1f), replies(true, 16));
        Run rescored = new Run("rescored", moderator(model, 1f), replies(false, 16));
        List<Verdict> a = new ArrayList<>();
        List<Verdict> b = new ArrayList<>();
        for (ReplyChunk c : reply("r1", ReplyStreamProcessorTest.LONG_REPLY)) {
            a.addAll(cached.send(c));
            b.addAll(rescored.send(c));
        }
        assertThat(a).hasSize(1);
        assertThat(b).hasSize(1);
        for (Verdict v : List.of(a.get(0), b.get(0))) {
            assertThat(v.getReplyStage()).isEqualTo(ReplyStage.FINAL);
            assertThat(v.getRejectionReason()).isEqualTo("MODEL_FAILURE");
            assertThat(v.getDecision()).isEqualTo(Decision.REVIEW);
            assertThat(v.getIncomplete()).isTrue();
            assertThat(v.getChunksSeen()).isEqualTo(ReplyStreamProcessorTest.HARMFUL + 1);
        }
        String detail = new String(
                cached.dlq.readRecord().headers().lastHeader(DeadLetter.DETAIL).value(), StandardCharsets.UTF_8);
        assertThat(detail).as("the cache failed, not the batcher").contains("r1's cache");
    }

    @Test
    void aCorruptIncrementalGraphFailsTheBundleLoad() throws Exception {
        Path bundle = bundle("corrupt", "1", 512);
        BundleManifest manifest = ModelBundle.open(bundle).manifest();
        Files.write(bundle.resolve(IncrementalDecoder.MODEL_FILE), "not onnx".getBytes(StandardCharsets.UTF_8));
        ModelBundle.writeManifest(bundle, manifest.withFiles(null)); // published that way: hashes match
        assertThatThrownBy(() -> GuardrailModel.load(bundle, ExecutionDevice.CPU, 1, 8))
                .isInstanceOf(InvalidBundleException.class)
                .hasMessageContaining("lists " + IncrementalDecoder.MODEL_FILE)
                .hasMessageContaining("cannot be used");
    }
}
