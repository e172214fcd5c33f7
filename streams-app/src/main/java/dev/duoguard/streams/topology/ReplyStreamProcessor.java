package dev.duoguard.streams.topology;

import dev.duoguard.common.serde.AvroSerdes;
import dev.duoguard.common.topics.Topics;
import dev.duoguard.runtime.scoring.Scorer;
import dev.duoguard.runtime.scoring.ScoringException;
import dev.duoguard.runtime.scoring.ScoringTimeoutException;
import dev.duoguard.runtime.scoring.TextScores;
import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.schemas.Decision;
import dev.duoguard.schemas.ReplyChunk;
import dev.duoguard.schemas.ReplyStage;
import dev.duoguard.schemas.Role;
import dev.duoguard.schemas.Verdict;
import dev.duoguard.schemas.internal.HeldChunk;
import dev.duoguard.schemas.internal.OpenReply;
import dev.duoguard.streams.config.AppConfig;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.kstream.Branched;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Moderates LLM replies while they stream: assembles each reply's {@link ReplyChunk}s by sequence number, scores the
 * growing reply (prompt + reply, as {@link Moderator} scores any reply, through the same scorer and so the same
 * shared batches) at chunk boundaries, gives an early STOP verdict as soon as the policy trips and exactly one FINAL
 * verdict per reply. Both go to {@code chat.verdicts} as {@link Verdict}s with the reply fields set.
 *
 * <ul>
 *   <li><b>Assembly.</b> Only the gap-free prefix (chunks 0 .. n-1) is scored. A chunk past a gap is held until
 *       the gap is filled; a chunk whose sequence number is already there is ignored (counted).</li>
 *   <li><b>When to score.</b> When {@code replies.score-every-chars} characters arrived since the last scoring, or
 *       (if {@code replies.score-at-sentence-end}) when the prefix ends a sentence. Once a scoring reaches
 *       {@code replies.stop-at}, a STOP verdict is given with {@code stop_offset} (the prefix length: the chunk
 *       boundary where it tripped) and the reply is not scored again: its FINAL carries the STOP's decision. The
 *       chunk that completes a reply is scored for the FINAL only (nothing is left to stop).</li>
 *   <li><b>Exactly one FINAL</b>: when every chunk up to the final one is there; or, incomplete, after
 *       {@code replies.idle-timeout-ms} without a chunk (wall clock), when a bound is exceeded ({@code max-open},
 *       {@code max-chars}, {@code max-held-chunks}), on a bad chunk, or when the model fails or times out. An
 *       incomplete FINAL is decided on what arrived, and at least the tenant's fail-closed decision: nothing is
 *       silently dropped and nothing unchecked is let through.</li>
 *   <li><b>Exactly-once.</b> The store is the state: under exactly_once_v2 a verdict and the store change that
 *       records it commit with the input offsets, so a replay after a crash starts from the restored store and
 *       cannot give a second FINAL. What the store must still remember is that a reply is over: a late chunk (a
 *       producer's retry, or one after the idle timeout) would otherwise open the reply again and earn it a second
 *       FINAL. So a finalised reply leaves a marker without its text, ignored chunks are counted ({@code late}), and
 *       the marker goes after {@code replies.finalised-retention-ms}.</li>
 * </ul>
 * Bad input: what cannot be decoded goes to the DLQ as {@link WireDecoder} decides; a chunk that fails the checks
 * goes to the DLQ and its reply gets its FINAL now, fail-closed. A chunk whose key is not its reply id goes to the
 * DLQ only: its reply may live in another partition, whose processor then finalises it as incomplete.
 *
 * <p>Scoring runs on the stream thread, one reply at a time: a STOP must not wait for a batch to fill, and the
 * scorer's batcher still merges these calls with the other threads' and the HTTP API's.
 *
 * <p><b>Key/value caches.</b> When the serving model's bundle has an incremental decoder graph and
 * {@code replies.decoder-cache} is on, a scoring appends only the reply's new text to its cache ({@link ReplyCaches})
 * instead of rescoring the whole reply through the batcher. The scores are those of a rescoring (the whole text, one
 * window), decided by the same {@link Moderator} and policy; what changes is the STOP's offset: the cache scores every
 * new prefix, so {@code stop_offset} is where the first new token whose prefix trips the policy ends, not the chunk
 * boundary. The cache is not consulted for whether to STOP (the whole text's verdict decides, as when rescoring), so
 * both paths stop the same replies. A reply past the model window, an encoder bundle, or the setting off: rescoring.
 * A failure of the cache fails the reply closed like a failure of the batcher; the stream thread waits for a cache's
 * model call at most {@code scoring.timeout-ms} (see {@link ReplyCaches}). The caches are created in {@link #init}
 * and closed in {@link #close}: Kafka Streams closes and initialises the same processor again when it suspends and
 * resumes a task.
 */
final class ReplyStreamProcessor implements Processor<byte[], byte[], byte[], Outcome> {

    private static final Logger log = LoggerFactory.getLogger(ReplyStreamProcessor.class);

    static final String STORE = "reply-buffer";

    /** The rejection reason of a FINAL given on a reply of which nothing could be scored. */
    static final String INCOMPLETE = "REPLY_INCOMPLETE";

    /** A sentence ends: terminal punctuation, maybe closing quotes or brackets, then only whitespace; or a newline. */
    private static final Pattern SENTENCE_END = Pattern.compile("(?:[.!?…。！？]['\"”’»)\\]]*|\\n)\\s*$");

    private final AppConfig.Replies limits;
    private final Duration timeout;
    private final Decision stopAt;
    private final Moderator moderator;
    private final WireDecoder<ReplyChunk> decoder;
    private final ModerationListener listener;

    private ProcessorContext<byte[], Outcome> context;
    private KeyValueStore<String, OpenReply> store;
    /**
     * Wall clock (ms) of each open reply's last chunk, and of each marker's finalisation: an index of the store,
     * rebuilt at init, so that the idle sweep reads no reply text.
     */
    private final Map<String, Long> open = new HashMap<>();

    private final Map<String, Long> finalised = new HashMap<>();

    /** Null when {@code replies.decoder-cache} is off. */
    private ReplyCaches caches; // per init: see the class javadoc

    ReplyStreamProcessor(
            GuardrailTopology.Settings settings,
            Moderator moderator,
            WireDecoder<ReplyChunk> decoder,
            ModerationListener listener) {
        this.limits = settings.replies();
        this.timeout = settings.timeout();
        this.stopAt = Decision.valueOf(limits.stopAt().name());
        this.moderator = moderator;
        this.decoder = decoder;
        this.listener = listener;
    }

    /** Adds the reply stream: {@code chat.reply-chunks} → this processor → {@code chat.verdicts}, DLQ. */
    static void addTo(
            StreamsBuilder builder,
            GuardrailTopology.Settings settings,
            Topics topics,
            AvroSerdes serdes,
            Moderator moderator,
            ModerationListener listener) {
        builder.addStateStore(Stores.keyValueStoreBuilder(
                Stores.inMemoryKeyValueStore(STORE), Serdes.String(), serdes.internal(OpenReply.class)));
        WireDecoder<ReplyChunk> decoder = new WireDecoder<>(
                topics.replyChunks().valueSerde().deserializer(),
                ReplyChunk.class,
                serdes.schemaIds(),
                settings.registryRetryBudget());
        Map<String, KStream<byte[], Outcome>> out = builder.stream(
                        topics.replyChunks().name(),
                        Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()).withName("reply-chunks"))
                .process(
                        () -> new ReplyStreamProcessor(settings, moderator, decoder, listener),
                        Named.as("moderate-replies"),
                        STORE)
                .split(Named.as("replies-"))
                .branch((k, v) -> v instanceof Outcome.VerdictOut, Branched.as("verdict"))
                .branch((k, v) -> v instanceof Outcome.DeadLetterOut, Branched.as("dlq"))
                .noDefaultBranch();
        out.get("replies-verdict")
                .mapValues(v -> ((Outcome.VerdictOut) v).verdict(), Named.as("reply-verdicts"))
                .to(
                        topics.verdicts().name(),
                        Produced.with(Serdes.ByteArray(), topics.verdicts().valueSerde())
                                .withName("to-verdicts-replies"));
        out.get("replies-dlq")
                .mapValues(v -> ((Outcome.DeadLetterOut) v).value(), Named.as("reply-dead-letters"))
                .to(
                        topics.dlq().name(),
                        Produced.with(topics.dlq().keySerde(), topics.dlq().valueSerde())
                                .withName("to-dlq-replies"));
    }

    @Override
    public void init(ProcessorContext<byte[], Outcome> context) {
        this.context = context;
        this.store = context.getStateStore(STORE);
        try (KeyValueIterator<String, OpenReply> it = store.all()) {
            it.forEachRemaining(
                    kv -> (kv.value.getFinalised() ? finalised : open).put(kv.key, kv.value.getLastSeenMs()));
        }
        listener.openReplies(open.size());
        long every = Math.max(100, Math.min(1_000, limits.idleTimeout().toMillis() / 4));
        context.schedule(Duration.ofMillis(every), PunctuationType.WALL_CLOCK_TIME, this::sweep);
        this.caches = limits.decoderCache() ? new ReplyCaches(limits.decoderCacheReplies(), timeout) : null;
    }

    @Override
    public void close() {
        // the task moves away (or the app stops): its open replies are counted where it is restored
        listener.openReplies(-open.size());
        if (caches != null) {
            caches.close();
            caches = null;
        }
    }

    @Override
    public void process(Record<byte[], byte[]> record) {
        RecordMetadata meta = context.recordMetadata().orElseThrow();
        long receivedUs = Moderator.nowMicros();
        ReplyChunk chunk;
        try {
            chunk = decoder.decode(meta.topic(), record.value());
        } catch (WireDecoder.Rejected r) {
            deadLetter(record, meta, r.reason, r.getMessage());
            return;
        }
        String id = chunk.getReplyId();
        if (blank(id)) {
            deadLetter(record, meta, DeadLetter.MISSING_FIELD, "reply_id is empty");
            return;
        }
        String key = record.key() == null ? null : new String(record.key(), StandardCharsets.UTF_8);
        if (!id.equals(key)) {
            deadLetter(
                    record,
                    meta,
                    DeadLetter.INVALID_FIELD,
                    "the record key " + (key == null ? "is null" : "'" + key + "'") + " but reply_id is '" + id
                            + "': producers must key every chunk by its reply id, so that one reply's chunks share"
                            + " a partition; this chunk is not part of its reply, which will end incomplete");
            return;
        }
        long now = context.currentSystemTimeMs();
        OpenReply reply = store.get(id);
        if (reply != null && reply.getFinalised()) {
            listener.replyChunk("late");
            log.debug("chunk {} of reply {} came after its FINAL verdict; ignored", chunk.getSequence(), id);
            return;
        }
        InputValidator.Problem problem = check(chunk, reply);
        if (problem != null) {
            deadLetter(record, meta, problem.reason(), problem.detail());
            if (reply == null && !blank(chunk.getConversationId()) && !blank(chunk.getTenant())) {
                reply = opened(id, chunk, now, record.timestamp());
            }
            if (reply != null) {
                finalise(id, reply, true, problem.reason(), receivedUs);
            }
            return;
        }
        if (reply == null) {
            reply = opened(id, chunk, now, record.timestamp());
        }
        int sequence = chunk.getSequence();
        if (sequence < reply.getNextSequence() || reply.getHeld().stream().anyMatch(h -> h.getSequence() == sequence)) {
            listener.replyChunk("duplicate");
            return;
        }
        int scoredBefore = reply.getText().length();
        assemble(reply, chunk, now, record.timestamp());
        if (open.size() > limits.maxOpen()) {
            log.warn(
                    "reply {}: more than replies.max-open = {} replies open; FINAL now, incomplete",
                    id,
                    limits.maxOpen());
            finalise(id, reply, true, null, receivedUs);
            return;
        }
        if (heldChars(reply) > limits.maxChars() || reply.getHeld().size() > limits.maxHeldChunks()) {
            log.warn(
                    "reply {} is over replies.max-chars = {} or replies.max-held-chunks = {}; FINAL now, incomplete",
                    id,
                    limits.maxChars(),
                    limits.maxHeldChunks());
            finalise(id, reply, true, null, receivedUs);
            return;
        }
        boolean complete = reply.getFinalSequence() != null && reply.getNextSequence() > reply.getFinalSequence();
        if (!complete && !reply.getStopped() && reply.getText().length() > scoredBefore && boundary(reply)) {
            Scored scored;
            try {
                scored = score(id, reply, receivedUs);
            } catch (ScoringException e) {
                DeadLetter reason = reason(e);
                deadLetter(record, meta, reason, "scoring reply " + id + " failed: " + e.getMessage());
                finalise(id, reply, true, reason, receivedUs);
                return;
            }
            Verdict v = scored.verdict();
            if (v.getDecision().ordinal() >= stopAt.ordinal()) {
                v = Verdict.newBuilder(v)
                        .setReplyStage(ReplyStage.STOP)
                        .setStopOffset(scored.tripOffset())
                        .build();
                reply.setStopped(true);
                emit(reply, v);
                listener.replyStop();
            }
            reply.setLast(v);
        }
        if (complete) {
            finalise(id, reply, false, null, receivedUs);
        } else {
            store.put(id, reply);
        }
    }

    /** A new reply, from its first chunk to arrive (not necessarily chunk 0). */
    private OpenReply opened(String id, ReplyChunk chunk, long now, long timestamp) {
        open.put(id, now);
        listener.openReplies(1);
        return OpenReply.newBuilder()
                .setConversationId(chunk.getConversationId())
                .setTenant(chunk.getTenant())
                .setText("")
                .setNextSequence(0)
                .setChunksSeen(0)
                .setScoredChars(0)
                .setLastSeenMs(now)
                .setRecordTimestamp(timestamp)
                .build();
    }

    /** Adds a chunk that is not a duplicate: to the text if it is next (then the held chunks it unblocks), else held. */
    private void assemble(OpenReply reply, ReplyChunk chunk, long now, long timestamp) {
        reply.setChunksSeen(reply.getChunksSeen() + 1);
        reply.setLastSeenMs(now);
        reply.setRecordTimestamp(timestamp);
        open.put(chunk.getReplyId(), now);
        if (reply.getPrompt() == null) {
            reply.setPrompt(chunk.getPrompt());
        }
        if (reply.getLanguageHint() == null) {
            reply.setLanguageHint(chunk.getLanguageHint());
        }
        if (chunk.getFinalChunk()) {
            reply.setFinalSequence(chunk.getSequence());
        }
        List<HeldChunk> held = new ArrayList<>(reply.getHeld());
        if (chunk.getSequence() != reply.getNextSequence()) {
            held.add(new HeldChunk(chunk.getSequence(), chunk.getTextDelta()));
            held.sort(Comparator.comparingInt(HeldChunk::getSequence));
            reply.setHeld(held);
            listener.replyChunk("out_of_order");
            return;
        }
        StringBuilder text = new StringBuilder(reply.getText()).append(chunk.getTextDelta());
        int next = chunk.getSequence() + 1;
        while (!held.isEmpty() && held.get(0).getSequence() == next) {
            text.append(held.remove(0).getTextDelta());
            next++;
        }
        reply.setText(text.toString());
        reply.setNextSequence(next);
        reply.setHeld(held);
    }

    /** Prompt, gap-free text and held chunks: what the reply holds in the store. */
    private static int heldChars(OpenReply reply) {
        int n = reply.getText().length()
                + (reply.getPrompt() == null ? 0 : reply.getPrompt().length());
        for (HeldChunk h : reply.getHeld()) {
            n += h.getTextDelta().length();
        }
        return n;
    }

    private boolean boundary(OpenReply reply) {
        String text = reply.getText();
        if (text.length() - reply.getScoredChars() >= limits.scoreEveryChars()) {
            return true;
        }
        // only the tail can end a sentence: no need to match against the whole reply
        return limits.scoreAtSentenceEnd()
                && SENTENCE_END
                        .matcher(text.substring(Math.max(0, text.length() - 16)))
                        .find();
    }

    /** A scoring's verdict and where in the reply text the policy tripped (when the verdict trips it). */
    private record Scored(Verdict verdict, int tripOffset) {}

    /**
     * Scores prompt + gap-free text, with the reply's cache when there is one, else by rescoring it; the verdict
     * carries the reply fields, no stage.
     */
    private Scored score(String id, OpenReply reply, long receivedUs) {
        ChatMessage message = message(id, reply);
        int length = reply.getText().length();
        Optional<ReplyCaches.Result> cached = caches == null ? Optional.empty() : caches.score(moderator, id, message);
        Moderator.Moderated m;
        int trip = length;
        if (cached.isPresent()) {
            ReplyCaches.Result r = cached.get();
            m = moderator
                    .moderate(
                            new Precomputed(r.model(), List.of(new TextScores(r.probabilities(), 1))),
                            List.of(message),
                            new long[] {receivedUs},
                            timeout)
                    .get(0);
            if (m.verdict().getDecision().ordinal() >= stopAt.ordinal()) {
                trip = firstTrip(message, r, m.verdict().getLanguage(), reply.getScoredChars(), receivedUs);
            }
        } else {
            m = moderator
                    .moderate(List.of(message), new long[] {receivedUs}, timeout)
                    .get(0);
        }
        reply.setScoredChars(length);
        Verdict v = Verdict.newBuilder(m.verdict())
                .setReplyId(id)
                .setChunksSeen(reply.getChunksSeen())
                .build();
        return new Scored(v, trip);
    }

    /**
     * Where in the reply text the first prefix scored now (ending after the last scoring's {@code scoredBefore}
     * characters) trips the policy: the end of its last token. Each prefix is decided like the whole text, with the
     * whole text's language (its thresholds).
     */
    private int firstTrip(
            ChatMessage message, ReplyCaches.Result r, String language, int scoredBefore, long receivedUs) {
        int promptChars = r.textLength() - message.getText().length();
        List<Integer> candidates = new ArrayList<>();
        List<TextScores> scores = new ArrayList<>();
        for (int i = 0; i < r.ends().length; i++) {
            if (r.ends()[i] - promptChars > scoredBefore) {
                candidates.add(i);
                scores.add(new TextScores(r.positions()[i], 1));
            }
        }
        ChatMessage hinted =
                ChatMessage.newBuilder(message).setLanguageHint(language).build();
        List<Moderator.Moderated> decided = moderator.moderate(
                new Precomputed(r.model(), scores),
                Collections.nCopies(candidates.size(), hinted),
                new long[candidates.size()],
                timeout);
        for (int k = 0; k < decided.size(); k++) {
            if (decided.get(k).verdict().getDecision().ordinal() >= stopAt.ordinal()) {
                return Math.min(message.getText().length(), r.ends()[candidates.get(k)] - promptChars);
            }
        }
        return message.getText().length();
    }

    /** Scores computed already (by a reply's cache), handed to the {@link Moderator} to decide as any scoring. */
    private record Precomputed(Scorer.ModelIdentity model, List<TextScores> scores) implements Scorer {
        @Override
        public List<TextScores> score(List<String> texts) {
            if (texts.size() != scores.size()) {
                throw new IllegalStateException(texts.size() + " texts for " + scores.size() + " scores");
            }
            return scores;
        }
    }

    /**
     * Gives the reply its one FINAL verdict and leaves a marker in its place. {@code reason}: why it could not be
     * scored (a bad chunk, the model), or null to decide on what arrived.
     */
    private void finalise(String id, OpenReply reply, boolean incomplete, DeadLetter reason, long receivedUs) {
        Verdict v = reply.getStopped() ? reply.getLast() : null;
        DeadLetter unscored = reason;
        if (v == null && reason == null && !reply.getText().isBlank()) {
            try {
                v = reply.getScoredChars() == reply.getText().length()
                        ? reply.getLast()
                        : score(id, reply, receivedUs).verdict();
            } catch (ScoringException e) {
                unscored = reason(e);
                log.warn("scoring reply {} for its FINAL verdict failed; failing it closed: {}", id, e.getMessage());
            }
        }
        boolean failedClosed = v == null;
        if (failedClosed) {
            v = moderator.failClosed(message(id, reply), unscored == null ? INCOMPLETE : unscored.name(), receivedUs);
        }
        Verdict.Builder b = Verdict.newBuilder(v)
                .setReplyId(id)
                .setReplyStage(ReplyStage.FINAL)
                .setChunksSeen(reply.getChunksSeen())
                .setIncomplete(incomplete);
        if (incomplete && !failedClosed) {
            Decision floor = moderator
                    .failClosed(message(id, reply), INCOMPLETE, receivedUs)
                    .getDecision();
            if (floor.ordinal() > v.getDecision().ordinal()) {
                b.setDecision(floor);
            }
        }
        emit(reply, b.build());
        listener.replyFinal(incomplete);
        if (failedClosed && unscored != null) {
            listener.failClosed(unscored);
        }
        open.remove(id);
        listener.openReplies(-1);
        if (caches != null) {
            caches.drop(id);
        }
        long now = context.currentSystemTimeMs();
        if (limits.finalisedRetention().isZero()) {
            store.delete(id);
            return;
        }
        store.put(
                id,
                OpenReply.newBuilder()
                        .setConversationId(reply.getConversationId())
                        .setTenant(reply.getTenant())
                        .setText("")
                        .setNextSequence(reply.getNextSequence())
                        .setChunksSeen(reply.getChunksSeen())
                        .setScoredChars(0)
                        .setFinalised(true)
                        .setLastSeenMs(now)
                        .setRecordTimestamp(reply.getRecordTimestamp())
                        .build());
        finalised.put(id, now);
    }

    /** Idle replies get their FINAL on what arrived; markers past their retention go. */
    private void sweep(long now) {
        if (caches != null) {
            caches.dropIfSwapped(moderator.model());
        }
        long idle = limits.idleTimeout().toMillis();
        for (Map.Entry<String, Long> e : List.copyOf(open.entrySet())) {
            if (now - e.getValue() >= idle) {
                OpenReply reply = store.get(e.getKey());
                log.info(
                        "reply {}: no chunk for {} ms (replies.idle-timeout-ms); FINAL on the {} chunk(s) that arrived",
                        e.getKey(),
                        now - e.getValue(),
                        reply.getChunksSeen());
                finalise(e.getKey(), reply, true, null, Moderator.nowMicros());
            }
        }
        long keep = limits.finalisedRetention().toMillis();
        finalised.entrySet().removeIf(e -> {
            if (now - e.getValue() < keep) {
                return false;
            }
            store.delete(e.getKey());
            return true;
        });
    }

    /** Problems that make a chunk unusable (its reply then ends, fail-closed); null when it is fine. */
    private static InputValidator.Problem check(ReplyChunk c, OpenReply reply) {
        String id = c.getReplyId();
        if (blank(c.getConversationId())) {
            return new InputValidator.Problem(DeadLetter.MISSING_FIELD, "conversation_id is empty (reply " + id + ")");
        }
        if (blank(c.getTenant())) {
            return new InputValidator.Problem(DeadLetter.MISSING_FIELD, "tenant is empty (reply " + id + ")");
        }
        if (c.getSequence() < 0) {
            return new InputValidator.Problem(
                    DeadLetter.INVALID_FIELD,
                    "sequence is " + c.getSequence() + " (reply " + id + "); it counts from 0");
        }
        if (reply != null
                && (!reply.getTenant().equals(c.getTenant())
                        || !reply.getConversationId().equals(c.getConversationId()))) {
            return new InputValidator.Problem(
                    DeadLetter.INVALID_FIELD,
                    "chunk " + c.getSequence() + " of reply " + id + " names another tenant or conversation than"
                            + " the reply's first chunk");
        }
        Integer last = reply == null ? null : reply.getFinalSequence();
        if (last != null && (c.getSequence() > last || c.getFinalChunk() && c.getSequence() != last)) {
            return new InputValidator.Problem(
                    DeadLetter.INVALID_FIELD,
                    "chunk " + c.getSequence() + " of reply " + id + " contradicts its final chunk, " + last);
        }
        InputValidator.Problem p = InputValidator.characters("text_delta", c.getTextDelta());
        if (p == null) {
            p = InputValidator.characters("prompt", c.getPrompt());
        }
        if (p == null && c.getLanguageHint() != null && !c.getLanguageHint().matches("[a-z]{2}")) {
            p = new InputValidator.Problem(
                    DeadLetter.INVALID_FIELD,
                    "language_hint must be a lowercase ISO 639-1 code but is '" + c.getLanguageHint() + "'");
        }
        return p;
    }

    private static ChatMessage message(String id, OpenReply reply) {
        return ChatMessage.newBuilder()
                .setMessageId(id)
                .setConversationId(reply.getConversationId())
                .setTenant(reply.getTenant())
                .setRole(Role.ASSISTANT)
                .setText(reply.getText())
                .setPrompt(reply.getPrompt())
                .setLanguageHint(reply.getLanguageHint())
                .setTimestamp(Instant.ofEpochMilli(reply.getRecordTimestamp()))
                .build();
    }

    private void emit(OpenReply reply, Verdict v) {
        context.forward(new Record<>(
                reply.getConversationId().getBytes(StandardCharsets.UTF_8),
                new Outcome.VerdictOut(v),
                reply.getRecordTimestamp(),
                new RecordHeaders()));
        listener.verdict(v);
    }

    private void deadLetter(Record<byte[], byte[]> record, RecordMetadata meta, DeadLetter reason, String detail) {
        Headers headers = new RecordHeaders(record.headers().toArray());
        reason.addTo(headers, detail, meta.topic(), meta.partition(), meta.offset());
        context.forward(new Record<>(
                record.key(), new Outcome.DeadLetterOut(record.value(), reason), record.timestamp(), headers));
        listener.deadLetter(reason, meta.topic());
    }

    private static DeadLetter reason(ScoringException e) {
        return e instanceof ScoringTimeoutException ? DeadLetter.MODEL_TIMEOUT : DeadLetter.MODEL_FAILURE;
    }

    private static boolean blank(String s) {
        return s == null || s.isBlank();
    }
}
