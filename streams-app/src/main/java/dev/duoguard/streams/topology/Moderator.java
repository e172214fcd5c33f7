package dev.duoguard.streams.topology;

import dev.duoguard.runtime.language.LanguageDetection;
import dev.duoguard.runtime.language.LanguageIdentifier.Detection;
import dev.duoguard.runtime.policy.DecisionPolicy;
import dev.duoguard.runtime.scoring.Scorer;
import dev.duoguard.runtime.scoring.TextScores;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import dev.duoguard.schemas.Category;
import dev.duoguard.schemas.CategoryScore;
import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.schemas.Decision;
import dev.duoguard.schemas.Role;
import dev.duoguard.schemas.Verdict;
import dev.duoguard.streams.model.ModelSlot;
import dev.duoguard.streams.model.Shadow;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Scores messages and applies the policy: the model-facing half of the streams app, free of Kafka types so it
 * is easy to test. A reply is scored as prompt + separator + reply (DuoGuard's input for pairs); its language is
 * the reply's.
 */
public final class Moderator {

    private static final Logger log = LoggerFactory.getLogger(Moderator.class);

    static {
        for (SafetyCategory c : SafetyCategory.ordered()) {
            if (!Category.values()[c.ordinal()].name().equals(c.name())) {
                throw new IllegalStateException("Avro Category and runtime SafetyCategory disagree at " + c);
            }
        }
    }

    private final ModelSlot slot;
    private final LanguageDetection languages;
    private final DecisionPolicy policy;

    /** A moderator whose model never changes. */
    public Moderator(Scorer scorer, LanguageDetection languages, DecisionPolicy policy) {
        this(ModelSlot.fixed(scorer), languages, policy);
    }

    /** A moderator serving whatever model {@code slot} holds; each batch uses one model from start to end. */
    public Moderator(ModelSlot slot, LanguageDetection languages, DecisionPolicy policy) {
        this.slot = slot;
        this.languages = languages;
        this.policy = policy;
    }

    /**
     * @param modelThresholds the thresholds that decided: those of the model that scored the batch, for the
     *                        message's language
     */
    public record Moderated(
            ChatMessage message,
            Verdict verdict,
            DecisionPolicy.Result result,
            TextScores scores,
            float[] modelThresholds) {}

    /** Scores {@code messages} in one call; {@code receivedAtMicros[i]} is when message i reached the processor. */
    public List<Moderated> moderate(List<ChatMessage> messages, long[] receivedAtMicros) {
        return moderate(messages, receivedAtMicros, null);
    }

    /**
     * As {@link #moderate(List, long[])}, waiting at most {@code timeout} for the model (null: the scorer's own
     * bound); past it throws {@link dev.duoguard.runtime.scoring.ScoringTimeoutException}.
     */
    public List<Moderated> moderate(List<ChatMessage> messages, long[] receivedAtMicros, Duration timeout) {
        List<Moderated> out;
        try (ModelSlot.Lease lease = slot.acquire()) {
            out = moderate(lease.scorer(), messages, receivedAtMicros, timeout);
        }
        Shadow shadow = slot.shadow();
        if (shadow != null && ThreadLocalRandom.current().nextDouble() < slot.shadowShare()) {
            List<String> texts = new ArrayList<>(out.size());
            List<String> langs = new ArrayList<>(out.size());
            boolean[] unsafe = new boolean[out.size()];
            boolean[][] fired = new boolean[out.size()][SafetyCategory.COUNT];
            for (int i = 0; i < out.size(); i++) {
                Moderated m = out.get(i);
                texts.add(scoringText(shadow.candidate(), m.message()));
                langs.add(m.verdict().getLanguage());
                unsafe[i] = m.verdict().getUnsafe();
                float[] p = m.scores().probabilities();
                for (int c = 0; c < SafetyCategory.COUNT; c++) {
                    fired[i][c] = p[c] > m.modelThresholds()[c];
                }
            }
            shadow.observe(texts, unsafe, fired, langs);
        }
        return out;
    }

    /** As {@link #moderate(List, long[], Duration)} with {@code scorer} (a leased model), without shadow scoring. */
    List<Moderated> moderate(Scorer scorer, List<ChatMessage> messages, long[] receivedAtMicros, Duration timeout) {
        List<String> texts = new ArrayList<>(messages.size());
        for (ChatMessage m : messages) {
            texts.add(scoringText(scorer, m));
        }
        // the model runs on the batcher's thread (or the GPU) while the languages are identified (on this thread
        // or on the detection's own, see LanguageDetection); a client's hint is taken as it is
        var pending = scorer.submit(texts);
        List<String> unhinted = new ArrayList<>();
        for (ChatMessage m : messages) {
            if (m.getLanguageHint() == null) {
                unhinted.add(m.getText());
            }
        }
        List<Detection> found = unhinted.isEmpty() ? List.of() : detectOrUndetermined(unhinted);
        List<Detection> detected = new ArrayList<>(messages.size());
        int next = 0;
        for (ChatMessage m : messages) {
            detected.add(m.getLanguageHint() != null ? new Detection(m.getLanguageHint(), 1f) : found.get(next++));
        }
        List<TextScores> scores = timeout == null ? scorer.await(pending) : scorer.await(pending, timeout);
        Scorer.ModelIdentity model = scorer.model();
        long now = nowMicros();
        List<Moderated> out = new ArrayList<>(messages.size());
        for (int i = 0; i < messages.size(); i++) {
            ChatMessage m = messages.get(i);
            TextScores s = scores.get(i);
            Detection lang = detected.get(i);
            // the scoring model's own thresholds for this language: after a swap, the new model's
            float[] thresholds = model.thresholds(lang.language());
            DecisionPolicy.Result r = policy.decide(m.getTenant(), s.probabilities(), thresholds);
            Verdict v = Verdict.newBuilder()
                    .setMessageId(m.getMessageId())
                    .setConversationId(m.getConversationId())
                    .setTenant(m.getTenant())
                    .setRole(m.getRole())
                    .setDecision(Decision.valueOf(r.decision().name()))
                    .setUnsafe(r.unsafe())
                    .setUnsafeScore(r.unsafeScore())
                    .setCategoryScores(categoryScores(s.probabilities()))
                    .setFiredCategories(r.fired().stream()
                            .map(c -> Category.values()[c.ordinal()])
                            .toList())
                    .setLanguage(lang.language())
                    .setLanguageConfidence(lang.confidence())
                    .setLanguageFromHint(m.getLanguageHint() != null)
                    .setModelName(model.name())
                    .setModelVersion(model.version())
                    .setWindows(s.windows())
                    .setScoringLatencyUs(Math.max(0, now - receivedAtMicros[i]))
                    .setScoredAt(Instant.ofEpochMilli(now / 1000))
                    .build();
            out.add(new Moderated(m, v, r, s, thresholds));
        }
        return out;
    }

    /**
     * The verdict for a message that was not scored (bad input, or the model failed or timed out on it): the
     * tenant's fail-closed decision, {@code unsafe} true and score 1 so that a reader of either field holds the
     * message, no category scores, and the reason. Fields the message lacks are left empty.
     */
    public Verdict failClosed(ChatMessage m, String reason, long receivedAtMicros) {
        Scorer.ModelIdentity model = slot.model();
        String hint = m.getLanguageHint();
        long now = nowMicros();
        return Verdict.newBuilder()
                .setMessageId(m.getMessageId())
                .setConversationId(m.getConversationId() == null ? "" : m.getConversationId())
                .setTenant(m.getTenant() == null ? "" : m.getTenant())
                .setRole(m.getRole())
                .setDecision(Decision.valueOf(policy.failClosed(m.getTenant()).name()))
                .setUnsafe(true)
                .setUnsafeScore(1f)
                .setCategoryScores(List.of())
                .setFiredCategories(List.of())
                .setLanguage(hint != null && hint.matches("[a-z]{2}") ? hint : "und")
                .setLanguageConfidence(0f)
                .setLanguageFromHint(hint != null && hint.matches("[a-z]{2}"))
                .setModelName(model.name())
                .setModelVersion(model.version())
                .setWindows(0)
                .setScoringLatencyUs(Math.max(0, now - receivedAtMicros))
                .setScoredAt(Instant.ofEpochMilli(now / 1000))
                .setRejectionReason(reason)
                .build();
    }

    static String scoringText(Scorer scorer, ChatMessage m) {
        if (m.getRole() == Role.ASSISTANT
                && m.getPrompt() != null
                && !m.getPrompt().isBlank()) {
            return scorer.pairText(m.getPrompt(), m.getText());
        }
        return m.getText();
    }

    /**
     * The languages of {@code texts}, or "und" for all of them when detection fails: the language only selects
     * thresholds (and labels the verdict), so the batch is scored with the model's global thresholds rather than
     * failing the flush and stalling the partition on a text that breaks the detector.
     */
    private List<Detection> detectOrUndetermined(List<String> texts) {
        try {
            return languages.detect(texts);
        } catch (RuntimeException e) {
            log.warn("language detection failed on a batch of {}; scoring it as undetermined", texts.size(), e);
            return LanguageDetection.off().detect(texts);
        }
    }

    /** Whether the tenant's own policy applies (see {@link DecisionPolicy#knows}); else the strictest one did. */
    public boolean knowsTenant(String tenant) {
        return policy.knows(tenant);
    }

    /** The model serving now. */
    public Scorer.ModelIdentity model() {
        return slot.model();
    }

    /** The model serving now, kept open until the lease is closed (see {@link ModelSlot#acquire}). */
    ModelSlot.Lease lease() {
        return slot.acquire();
    }

    static List<CategoryScore> categoryScores(float[] p) {
        List<CategoryScore> out = new ArrayList<>(p.length);
        for (int i = 0; i < p.length; i++) {
            out.add(new CategoryScore(Category.values()[i], p[i]));
        }
        return out;
    }

    public static long nowMicros() {
        return ChronoUnit.MICROS.between(Instant.EPOCH, Instant.now());
    }
}
