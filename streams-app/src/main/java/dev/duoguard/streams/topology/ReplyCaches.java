package dev.duoguard.streams.topology;

import dev.duoguard.runtime.onnx.IncrementalDecoder;
import dev.duoguard.runtime.scoring.GuardrailModel;
import dev.duoguard.runtime.scoring.Scorer;
import dev.duoguard.runtime.scoring.ScoringException;
import dev.duoguard.runtime.scoring.ScoringTimeoutException;
import dev.duoguard.runtime.tokenizer.GuardrailTokenizer;
import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.streams.model.ModelSlot;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The key/value caches of one reply processor's open replies (docs/reply-moderation-decoder.md), for a serving model
 * whose bundle has an incremental decoder graph. A scoring appends only the text that arrived since the reply's last
 * one and returns the probabilities of the whole scoring text (what a rescoring of it gives) and of every new prefix.
 *
 * <ul>
 *   <li><b>Tokens.</b> Tokenizing chunk by chunk must give the tokens of the whole text. Text is committed to the
 *       cache only up to its last word boundary (a space after a non-space: no pre-tokenizer of the supported
 *       tokenizers joins across it, and the tokens after it depend only on what follows); the rest (a word that may
 *       still grow) is scored with {@link IncrementalDecoder.Reply#peek} and tokenized again with the next text. A
 *       model whose tokenizer does not split that way on a probe text is not used with caches (rescoring).</li>
 *   <li><b>Bounds.</b> At most {@code maxReplies} caches, least recently used evicted; a reply holds at most the
 *       model window's tokens ({@link GuardrailModel.Incremental#maxTokens}); past it the reply is rescored (windows)
 *       from then on. A reply with no cache (evicted, or after a restart or rebalance: caches live in memory only) is
 *       rebuilt in one pass over its text, which the changelogged reply store keeps.</li>
 *   <li><b>Model swaps.</b> Caches belong to one model. This class holds a lease on it while it has caches (so a
 *       retired model is not closed under them), and drops them all when another model serves.</li>
 *   <li><b>Bounded waits.</b> The model runs on a thread of this class's own, and the stream thread waits for it at
 *       most {@code scoring.timeout-ms}, as the batcher's callers do. A call past it (or a wait interrupted) fails
 *       its reply closed (MODEL_TIMEOUT) and retires the caches for good: every reply is rescored through the
 *       batcher, whose own timeouts then apply; the caches and the model lease are closed on the model's thread
 *       after the late call (so never under it), or never if it never returns.</li>
 *   <li><b>Failures.</b> Whatever fails in a scoring (the model, the tokenizer, opening a cache) is a
 *       {@link ScoringException}: the reply fails closed and the stream thread goes on.</li>
 * </ul>
 * Used by one stream thread (its processor's).
 */
final class ReplyCaches implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ReplyCaches.class);

    /** Text to check a tokenizer against: split at every word boundary, it must give the tokens of the whole. */
    static final String PROBE = "Hello, world! It's 2026: a  test,\nnew line — ünïcödé, 東京 tower; x=1.5 (ok) \"done\"."
            + " Ça va? Да, конечно. 42nd street";

    /**
     * One scoring: {@code probabilities} of the whole scoring text; {@code positions[i]} those of its prefix ending
     * at UTF-16 index {@code ends[i]}, for every token scored now (the text appended since the last scoring);
     * {@code textLength}: the scoring text's length (prompt, separator and reply).
     */
    record Result(Scorer.ModelIdentity model, float[] probabilities, float[][] positions, int[] ends, int textLength) {}

    private static final class Entry {
        IncrementalDecoder.Reply reply; // null: the reply is past the bound, rescored
        String committed = ""; // the scoring text whose tokens are in the cache
        float[] lastLogits; // of the committed text

        Entry(IncrementalDecoder.Reply reply) {
            this.reply = reply;
        }

        void close() {
            if (reply != null) {
                reply.close();
            }
        }
    }

    private final int maxReplies;
    private final Map<String, Entry> entries = new LinkedHashMap<>(16, 0.75f, true);
    private ModelSlot.Lease lease;
    private GuardrailModel.Incremental model;
    /** The last model found unsuitable (no incremental graph or its tokenizer fails the probe): not probed again. */
    private GuardrailModel.Incremental refused;

    private int rebuilds;
    private final Duration timeout;
    private final ExecutorService worker;
    /** A model call timed out: caches are no longer used, and nothing the call may hold is closed. */
    private boolean retired;

    ReplyCaches(int maxReplies, Duration timeout) {
        this(maxReplies, timeout, Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "duoguard-reply-cache");
            t.setDaemon(true);
            return t;
        }));
    }

    /** @param worker where the model calls run (tests pass one they can hold up) */
    ReplyCaches(int maxReplies, Duration timeout, ExecutorService worker) {
        this.maxReplies = maxReplies;
        this.timeout = timeout;
        this.worker = worker;
    }

    /**
     * Scores {@code message} (a reply: prompt + reply text) with its cache; empty when the serving model has no
     * usable incremental graph or the reply is past its bound, and the caller rescores.
     *
     * @throws ScoringException when the model fails (the reply's cache is dropped)
     */
    Optional<Result> score(Moderator moderator, String id, ChatMessage message) {
        if (retired) {
            return Optional.empty();
        }
        try {
            return scoreWithCache(moderator, id, message);
        } catch (ScoringException e) {
            throw e;
        } catch (RuntimeException e) {
            drop(id);
            throw new ScoringException("reply " + id + "'s cache failed: " + e, e);
        }
    }

    private Optional<Result> scoreWithCache(Moderator moderator, String id, ChatMessage message) {
        Optional<GuardrailModel.Incremental> current = adopt(moderator);
        if (current.isEmpty()) {
            return Optional.empty();
        }
        GuardrailModel.Incremental m = current.get();
        String text = Moderator.scoringText(lease.scorer(), message);
        Entry e = entries.get(id);
        if (e != null && e.reply == null) {
            return Optional.empty();
        }
        if (e == null || !text.startsWith(e.committed)) {
            if (e != null) {
                e.close();
            }
            e = new Entry(m.open());
            entries.put(id, e);
            rebuilds++;
            evict();
        }
        int from = e.committed.length();
        int cut = cut(text, from);
        GuardrailTokenizer.Spans head;
        GuardrailTokenizer.Spans tail;
        float[][] appended;
        float[][] peeked;
        try {
            head = m.tokenize(text.substring(from, cut));
            tail = m.tokenize(text.substring(cut));
            float[][][] out = call(e.reply, head.ids(), tail.ids());
            appended = out[0];
            peeked = out[1];
        } catch (ScoringTimeoutException late) {
            retire();
            log.error(
                    "model {}@{} did not answer within {} ms on reply {}'s cache; reply caches are retired for this"
                            + " processor (closed once the late call returns), replies are rescored from now on",
                    m.model().name(),
                    m.model().version(),
                    timeout.toMillis(),
                    id);
            throw late;
        } catch (IncrementalDecoder.ContextFullException full) {
            log.debug("reply {} is past the cache's bound of {} tokens; rescored from now on", id, m.maxTokens());
            e.close();
            e.reply = null;
            return Optional.empty();
        } catch (RuntimeException failed) {
            drop(id);
            throw new ScoringException(
                    "model " + m.model().name() + "@" + m.model().version() + " failed on reply " + id + "'s cache: "
                            + failed.getMessage(),
                    failed);
        }
        e.committed = text.substring(0, cut);
        if (appended.length > 0) {
            e.lastLogits = appended[appended.length - 1];
        }
        float[] last = peeked.length > 0 ? peeked[peeked.length - 1] : e.lastLogits;
        if (last == null) {
            return Optional.empty(); // no token at all (blank text): rescoring decides as it does today
        }
        int n = appended.length + peeked.length;
        float[][] positions = new float[n][];
        int[] ends = new int[n];
        for (int i = 0; i < appended.length; i++) {
            positions[i] = m.probabilities(appended[i]);
            ends[i] = from + head.ends()[i];
        }
        for (int i = 0; i < peeked.length; i++) {
            positions[appended.length + i] = m.probabilities(peeked[i]);
            ends[appended.length + i] = cut + tail.ends()[i];
        }
        return Optional.of(new Result(m.model(), m.probabilities(last), positions, ends, text.length()));
    }

    /** {@code reply.append(head)} and {@code reply.peek(tail)} on the worker, waited for at most {@link #timeout}. */
    private float[][][] call(IncrementalDecoder.Reply reply, long[] head, long[] tail) {
        Future<float[][][]> f = worker.submit(() -> new float[][][] {reply.append(head), reply.peek(tail)});
        try {
            return f.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            throw new ScoringTimeoutException(
                    "the model did not answer within " + timeout.toMillis() + " ms on a reply cache", e);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            // the call may still be running: as late as a timed-out one
            throw new ScoringTimeoutException("interrupted while waiting for a reply cache's model call", e);
        }
    }

    /**
     * After a late model call: no cache is used any more, and what the call may still hold (the caches, the model
     * lease) is closed on the model's own thread once it returns (the worker runs one task at a time, in order).
     */
    private void retire() {
        retired = true;
        List<Entry> all = new ArrayList<>(entries.values());
        entries.clear();
        ModelSlot.Lease held = lease;
        lease = null;
        model = null;
        worker.execute(() -> {
            all.forEach(Entry::close);
            if (held != null) {
                held.close();
            }
        });
    }

    /**
     * The last word boundary in {@code text} after {@code from}: an index i where a space follows a non-whitespace
     * character; {@code from} when there is none.
     */
    static int cut(String text, int from) {
        for (int i = text.length() - 1; i > from; i--) {
            if (text.charAt(i) == ' ' && !Character.isWhitespace(text.charAt(i - 1))) {
                return i;
            }
        }
        return from;
    }

    /** Whether {@code m}'s tokenizer, split at each word boundary of {@link #PROBE}, gives the tokens of the whole. */
    static boolean splitsAtWordBoundaries(GuardrailModel.Incremental m) {
        long[] whole = m.tokenize(PROBE).ids();
        for (int end = PROBE.length(); end > 0; ) {
            int cut = cut(PROBE.substring(0, end), 0);
            if (cut == 0) {
                break;
            }
            long[] head = m.tokenize(PROBE.substring(0, cut)).ids();
            long[] rest = m.tokenize(PROBE.substring(cut)).ids();
            long[] joined = Arrays.copyOf(head, head.length + rest.length);
            System.arraycopy(rest, 0, joined, head.length, rest.length);
            if (!Arrays.equals(whole, joined)) {
                return false;
            }
            end = cut;
        }
        return true;
    }

    /** The serving model's incremental graph, dropping the caches of another; empty when it has none usable. */
    private Optional<GuardrailModel.Incremental> adopt(Moderator moderator) {
        ModelSlot.Lease l = moderator.lease();
        Optional<GuardrailModel.Incremental> inc = l.scorer().incremental();
        if (inc.isPresent() && inc.get() == model) {
            l.close(); // this class already holds one on it
            return inc;
        }
        dropAll();
        if (inc.isEmpty() || inc.get() == refused) {
            l.close();
            return Optional.empty();
        }
        boolean splits;
        try {
            splits = splitsAtWordBoundaries(inc.get());
        } catch (RuntimeException e) {
            log.warn(
                    "model {}@{}: its tokenizer failed the reply cache's probe ({}); replies are rescored",
                    inc.get().model().name(),
                    inc.get().model().version(),
                    e.toString());
            splits = false;
        }
        if (!splits) {
            log.warn(
                    "model {}@{}: its tokenizer joins tokens across word boundaries, so reply caches cannot be"
                            + " appended chunk by chunk; replies are rescored",
                    inc.get().model().name(),
                    inc.get().model().version());
            refused = inc.get();
            l.close();
            return Optional.empty();
        }
        lease = l;
        model = inc.get();
        return inc;
    }

    /** Drops every cache when the serving model is no longer the one they belong to (call it now and then). */
    void dropIfSwapped(Scorer.ModelIdentity serving) {
        if (model != null
                && !(model.model().name().equals(serving.name())
                        && model.model().version().equals(serving.version()))) {
            dropAll();
        }
    }

    /** Drops {@code id}'s cache (its reply is over). */
    void drop(String id) {
        Entry e = entries.remove(id);
        if (e != null) {
            e.close();
        }
    }

    private void evict() {
        Iterator<Entry> it = entries.values().iterator();
        while (entries.size() > maxReplies && it.hasNext()) {
            it.next().close();
            it.remove();
        }
    }

    private void dropAll() {
        List<Entry> all = new ArrayList<>(entries.values());
        entries.clear();
        all.forEach(Entry::close);
        if (lease != null) {
            lease.close();
            lease = null;
        }
        model = null;
    }

    /** Caches held now. */
    int size() {
        return entries.size();
    }

    /** Caches built from a reply's text (a reply's first scoring, or after eviction, restart, swap). */
    int rebuilds() {
        return rebuilds;
    }

    @Override
    public void close() {
        dropAll();
        worker.shutdown(); // after a late call, its clean-up (see retire) still runs
    }
}
