package dev.duoguard.common.topics;

import dev.duoguard.common.config.LayeredConfig;
import dev.duoguard.common.serde.AvroSerdes;
import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.schemas.Feedback;
import dev.duoguard.schemas.ModelVersion;
import dev.duoguard.schemas.ReplyChunk;
import dev.duoguard.schemas.Seed;
import dev.duoguard.schemas.Verdict;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.apache.kafka.common.serialization.Serdes;

/**
 * The seven DuoGuard topics with their key and value types. Values are Avro on the Confluent wire format (the
 * {@link AvroSerdes} given); keys are UTF-8 strings; the dead-letter topic keeps the original records' bytes as they
 * came. Each static factory builds one topic with fresh serdes, for a component that uses only that topic.
 *
 * @param messages chat messages to moderate, keyed by conversation id
 * @param verdicts the verdict of each message, keyed by conversation id
 * @param feedback human labels of scored messages
 * @param seeds    training seeds for the trainer (uncertain and misclassified messages)
 * @param dlq      records that could not be read or scored, byte for byte
 * @param models   model versions and ACTIVE pointers (compacted), keyed by model key or model name
 * @param replyChunks pieces of LLM replies while they stream, keyed by reply id: producers must key each chunk by
 *                 its reply id, so that one reply's chunks land in one partition (a chunk whose key is not its reply
 *                 id is dead-lettered); their verdicts go to {@code verdicts}
 */
public record Topics(
        Topic<String, ChatMessage> messages,
        Topic<String, Verdict> verdicts,
        Topic<String, Feedback> feedback,
        Topic<String, Seed> seeds,
        Topic<byte[], byte[]> dlq,
        Topic<String, ModelVersion> models,
        Topic<String, ReplyChunk> replyChunks) {

    public static Topics of(Names names, AvroSerdes serdes) {
        return new Topics(
                messages(names.messages(), serdes),
                verdicts(names.verdicts(), serdes),
                feedback(names.feedback(), serdes),
                seeds(names.seeds(), serdes),
                dlq(names.dlq()),
                models(names.models(), serdes),
                replyChunks(names.replyChunks(), serdes));
    }

    public static Topic<String, ChatMessage> messages(String name, AvroSerdes serdes) {
        return new Topic<>(name, Serdes.String(), serdes.value(ChatMessage.class));
    }

    public static Topic<String, Verdict> verdicts(String name, AvroSerdes serdes) {
        return new Topic<>(name, Serdes.String(), serdes.value(Verdict.class));
    }

    public static Topic<String, Feedback> feedback(String name, AvroSerdes serdes) {
        return new Topic<>(name, Serdes.String(), serdes.value(Feedback.class));
    }

    public static Topic<String, Seed> seeds(String name, AvroSerdes serdes) {
        return new Topic<>(name, Serdes.String(), serdes.value(Seed.class));
    }

    public static Topic<byte[], byte[]> dlq(String name) {
        return new Topic<>(name, Serdes.ByteArray(), Serdes.ByteArray());
    }

    public static Topic<String, ModelVersion> models(String name, AvroSerdes serdes) {
        return new Topic<>(name, Serdes.String(), serdes.value(ModelVersion.class));
    }

    public static Topic<String, ReplyChunk> replyChunks(String name, AvroSerdes serdes) {
        return new Topic<>(name, Serdes.String(), serdes.value(ReplyChunk.class));
    }

    /**
     * The topics' names. Each has a default, a config key (streams-app's config file) and the environment variable
     * {@link LayeredConfig#envName} reads for that key; the constants exist because picocli's option defaults must
     * be compile-time constants.
     */
    public record Names(
            String messages,
            String verdicts,
            String feedback,
            String seeds,
            String dlq,
            String models,
            String replyChunks) {

        public static final String MESSAGES = "chat.messages";
        public static final String VERDICTS = "chat.verdicts";
        public static final String FEEDBACK = "chat.feedback";
        public static final String SEEDS = "guardrail.seeds";
        public static final String DLQ = "guardrail.dlq";
        public static final String MODELS = "guardrail.models";
        public static final String REPLY_CHUNKS = "chat.reply-chunks";

        public static final String MESSAGES_KEY = "topics.messages";
        public static final String VERDICTS_KEY = "topics.verdicts";
        public static final String FEEDBACK_KEY = "topics.feedback";
        public static final String SEEDS_KEY = "topics.seeds";
        public static final String DLQ_KEY = "topics.dlq";
        public static final String MODELS_KEY = "topics.models";
        public static final String REPLY_CHUNKS_KEY = "topics.reply-chunks";

        public static final String MESSAGES_ENV = "DUOGUARD_TOPICS_MESSAGES";
        public static final String VERDICTS_ENV = "DUOGUARD_TOPICS_VERDICTS";
        public static final String FEEDBACK_ENV = "DUOGUARD_TOPICS_FEEDBACK";
        public static final String SEEDS_ENV = "DUOGUARD_TOPICS_SEEDS";
        public static final String DLQ_ENV = "DUOGUARD_TOPICS_DLQ";
        public static final String MODELS_ENV = "DUOGUARD_TOPICS_MODELS";
        public static final String REPLY_CHUNKS_ENV = "DUOGUARD_TOPICS_REPLY_CHUNKS";

        public static final Names DEFAULTS = new Names(MESSAGES, VERDICTS, FEEDBACK, SEEDS, DLQ, MODELS, REPLY_CHUNKS);

        /** The names under the config keys, as {@code valueOfKey} gives them (e.g. {@code config::required}). */
        public static Names from(UnaryOperator<String> valueOfKey) {
            return new Names(
                    valueOfKey.apply(MESSAGES_KEY),
                    valueOfKey.apply(VERDICTS_KEY),
                    valueOfKey.apply(FEEDBACK_KEY),
                    valueOfKey.apply(SEEDS_KEY),
                    valueOfKey.apply(DLQ_KEY),
                    valueOfKey.apply(MODELS_KEY),
                    valueOfKey.apply(REPLY_CHUNKS_KEY));
        }

        /** The names a layered config holds; a blank one is a {@link dev.duoguard.common.config.ConfigException}. */
        public static Names from(LayeredConfig config) {
            return from(config::required);
        }

        /** Config key to name, in the order of the record: defaults for a config, or values to layer onto one. */
        public Map<String, String> asConfig() {
            Map<String, String> m = new LinkedHashMap<>();
            m.put(MESSAGES_KEY, messages);
            m.put(VERDICTS_KEY, verdicts);
            m.put(FEEDBACK_KEY, feedback);
            m.put(SEEDS_KEY, seeds);
            m.put(DLQ_KEY, dlq);
            m.put(MODELS_KEY, models);
            m.put(REPLY_CHUNKS_KEY, replyChunks);
            return m;
        }

        /** Every name with {@code -suffix} appended: topics of their own for one test or bench run. */
        public Names withSuffix(String suffix) {
            return from(key -> asConfig().get(key) + "-" + suffix);
        }

        public List<String> all() {
            return List.of(messages, verdicts, feedback, seeds, dlq, models, replyChunks);
        }
    }
}
