package dev.duoguard.dev.bench;

import dev.duoguard.common.topics.Topics;
import dev.duoguard.runtime.scoring.GuardrailModel;
import dev.duoguard.runtime.scoring.Scorer;
import dev.duoguard.runtime.scoring.TextScores;
import dev.duoguard.schemas.Category;
import dev.duoguard.schemas.CategoryScore;
import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.schemas.Decision;
import dev.duoguard.schemas.Role;
import dev.duoguard.schemas.Verdict;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Produced;

/**
 * The bench's yardsticks for the pipeline: Kafka Streams apps on the pipeline's input and output topics with its
 * settings (the bench runs them with the pipeline's streams properties), minus its work. Like the pipeline they
 * keep the input's key bytes.
 * <ul>
 *   <li>{@link #avroPassthrough}: each ChatMessage read through the registry serde becomes a Verdict-shaped record
 *       with fixed scores, written through the registry serde: no model, no language detection, no store, no join;
 *       what Kafka Streams with these serdes can do on this machine, the pipeline's limit;</li>
 *   <li>{@link #bytesPassthrough}: the input's bytes copied to the output topic, no serdes: Kafka Streams alone;</li>
 *   <li>{@link #naive}: the common design to beat, one model call per message on the stream thread (batch of 1,
 *       no batcher, no language detection, no buffer store, no join).</li>
 * </ul>
 */
final class Anchors {

    private static final List<CategoryScore> ZERO_SCORES = categoryScores(new float[Category.values().length]);

    private Anchors() {}

    static Topology avroPassthrough(Topics topics) {
        StreamsBuilder b = new StreamsBuilder();
        b.stream(
                        topics.messages().name(),
                        Consumed.with(Serdes.ByteArray(), topics.messages().valueSerde()))
                .mapValues(m -> verdict(m, ZERO_SCORES, false, 0f, "passthrough", "0", 1))
                .to(
                        topics.verdicts().name(),
                        Produced.with(Serdes.ByteArray(), topics.verdicts().valueSerde()));
        return b.build();
    }

    static Topology bytesPassthrough(Topics.Names names) {
        StreamsBuilder b = new StreamsBuilder();
        b.stream(names.messages(), Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()))
                .to(names.verdicts(), Produced.with(Serdes.ByteArray(), Serdes.ByteArray()));
        return b.build();
    }

    /** Scores each message alone with {@code model}; unsafe by the model's global thresholds. */
    static Topology naive(Topics topics, GuardrailModel model) {
        Scorer.ModelIdentity id = model.model();
        StreamsBuilder b = new StreamsBuilder();
        b.stream(
                        topics.messages().name(),
                        Consumed.with(Serdes.ByteArray(), topics.messages().valueSerde()))
                .mapValues(m -> {
                    TextScores s = model.score(List.of(text(model, m))).get(0);
                    float[] p = s.probabilities();
                    boolean unsafe = false;
                    for (int c = 0; c < p.length; c++) {
                        unsafe |= p[c] > id.thresholds()[c];
                    }
                    return verdict(m, categoryScores(p), unsafe, s.unsafeScore(), id.name(), id.version(), s.windows());
                })
                .to(
                        topics.verdicts().name(),
                        Produced.with(Serdes.ByteArray(), topics.verdicts().valueSerde()));
        return b.build();
    }

    /** As the pipeline scores it: a reply with its prompt as a pair. */
    private static String text(GuardrailModel model, ChatMessage m) {
        return m.getRole() == Role.ASSISTANT
                        && m.getPrompt() != null
                        && !m.getPrompt().isBlank()
                ? model.pairText(m.getPrompt(), m.getText())
                : m.getText();
    }

    private static Verdict verdict(
            ChatMessage m,
            List<CategoryScore> scores,
            boolean unsafe,
            float unsafeScore,
            String modelName,
            String modelVersion,
            int windows) {
        return Verdict.newBuilder()
                .setMessageId(m.getMessageId())
                .setConversationId(m.getConversationId())
                .setTenant(m.getTenant())
                .setRole(m.getRole())
                .setDecision(unsafe ? Decision.BLOCK : Decision.ALLOW)
                .setUnsafe(unsafe)
                .setUnsafeScore(unsafeScore)
                .setCategoryScores(scores)
                .setFiredCategories(List.of())
                .setLanguage("und")
                .setLanguageConfidence(0f)
                .setModelName(modelName)
                .setModelVersion(modelVersion)
                .setWindows(windows)
                .setScoringLatencyUs(0)
                .setScoredAt(Instant.now())
                .build();
    }

    private static List<CategoryScore> categoryScores(float[] p) {
        List<CategoryScore> out = new ArrayList<>(p.length);
        for (int i = 0; i < p.length; i++) {
            out.add(new CategoryScore(Category.values()[i], p[i]));
        }
        return out;
    }
}
