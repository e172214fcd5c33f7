package dev.duoguard.streams.app;

import dev.duoguard.common.config.ConfigException;
import dev.duoguard.common.registry.RegistryConnection;
import dev.duoguard.common.serde.RegistryAvroSerdes;
import dev.duoguard.common.serde.RegistryErrors;
import dev.duoguard.common.topics.Topics;
import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.schemas.Feedback;
import dev.duoguard.schemas.ModelVersion;
import dev.duoguard.schemas.ReplyChunk;
import dev.duoguard.schemas.Seed;
import dev.duoguard.schemas.Verdict;
import dev.duoguard.schemas.internal.JoinableVerdict;
import dev.duoguard.schemas.internal.OpenReply;
import dev.duoguard.schemas.internal.PendingMessage;
import java.util.List;
import org.apache.avro.specific.SpecificRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Every schema the product writes, as the serdes file them in the registry: each topic's value (artifact
 * {@code <topic>-value}; keys are plain strings) and the streams app's internal records (artifact = the record's
 * full name, see {@link RegistryAvroSerdes#internal}). {@code ./duoguard schemas register} registers them; the
 * streams app checks at start that it finds each one, so a registry without them stops it with one line instead of
 * failing on the first record.
 */
public final class RegistrySchemas {

    private static final Logger log = LoggerFactory.getLogger(RegistrySchemas.class);

    /** The command that registers them, as the errors name it. */
    public static final String REGISTER_COMMAND = "./duoguard schemas register --config FILE";

    /**
     * One schema: written to {@code topic} as {@code type}, or ({@code internal}) to the app's own changelog and
     * repartition topics.
     */
    public record Schema(String topic, Class<? extends SpecificRecord> type, boolean internal) {

        /** Where the serde files it: the artifact id. */
        public String artifact() {
            return internal ? type.getName() : topic + "-value";
        }

        /** What the errors call it: {@code topic chat.verdicts (Verdict)}, {@code internal record PendingMessage}. */
        public String describe() {
            return internal
                    ? "internal record " + type.getSimpleName()
                    : "topic " + topic + " (" + type.getSimpleName() + ")";
        }
    }

    private RegistrySchemas() {}

    /** The schemas of the topics named {@code names} and of the app's internal records. */
    public static List<Schema> of(Topics.Names names) {
        return List.of(
                new Schema(names.messages(), ChatMessage.class, false),
                new Schema(names.verdicts(), Verdict.class, false),
                new Schema(names.feedback(), Feedback.class, false),
                new Schema(names.seeds(), Seed.class, false),
                new Schema(names.models(), ModelVersion.class, false),
                new Schema(names.replyChunks(), ReplyChunk.class, false),
                // the scoring buffer's changelog; the feedback join's repartition topics and window stores; the
                // reply store's changelog
                new Schema("internal", PendingMessage.class, true),
                new Schema("internal", JoinableVerdict.class, true),
                new Schema("internal", Feedback.class, true),
                new Schema("internal", OpenReply.class, true));
    }

    /**
     * Resolves {@code schema} through its serde (registering it when the connection auto-registers) and returns
     * the id the serializer writes.
     */
    public static int resolve(RegistryAvroSerdes serdes, Schema schema) {
        return serdes.resolve(schema.topic(), schema.type(), schema.internal());
    }

    /**
     * The start-up check: each schema resolves as the serializer will resolve it. A missing schema, refused
     * credentials or a refused write is a {@link ConfigException} with the topic and the fix; a registry that does
     * not answer is only logged: records wait for it, as they do whenever it is down.
     */
    static void check(RegistryAvroSerdes serdes, Topics.Names names) {
        for (Schema schema : of(names)) {
            try {
                resolve(serdes, schema);
            } catch (RuntimeException e) {
                if (RegistryErrors.isUnreachable(e)) {
                    log.warn(
                            "the schema registry {} does not answer ({}); records wait for it",
                            serdes.connection(),
                            e.toString());
                    return;
                }
                throw new ConfigException(failure(e, serdes.connection(), schema));
            }
        }
    }

    /** Why resolving {@code schema} through {@code c} failed, with the fix, in one line. */
    public static String failure(RuntimeException e, RegistryConnection c, Schema schema) {
        int status = RegistryErrors.status(e);
        if (status == 401) {
            return "the schema registry " + c + " refused the credentials (401): check " + RegistryConnection.USERNAME
                    + " and " + RegistryConnection.PASSWORD;
        }
        if (status == 403) {
            return "the schema registry " + c + " refused " + (c.autoRegister() ? "to register" : "to look up")
                    + " the schema of " + schema.describe() + " (403): "
                    + (c.autoRegister()
                            ? "this principal may not write; register with one that may (" + REGISTER_COMMAND
                                    + "), and keep " + RegistryConnection.AUTO_REGISTER + "=false elsewhere"
                            : "the principal needs read access, searching by content (POST /search/versions)"
                                    + " included");
        }
        if (RegistryErrors.isUnreachable(e)) {
            return "the schema registry " + c + " does not answer: " + RegistryErrors.describe(e);
        }
        if (status != 0) {
            return "the schema registry " + c + " answered " + status + " for the schema of " + schema.describe() + ": "
                    + RegistryErrors.describe(e);
        }
        // Apicurio's lookup by content fails without an HTTP error when no version has this content
        return "the schema of " + schema.describe() + " is not in the schema registry " + c + " and "
                + RegistryConnection.AUTO_REGISTER + " is false: run " + REGISTER_COMMAND
                + " once (registry.* credentials that may write)";
    }
}
