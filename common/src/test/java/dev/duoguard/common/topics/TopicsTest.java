package dev.duoguard.common.topics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.duoguard.common.config.ConfigException;
import dev.duoguard.common.config.LayeredConfig;
import dev.duoguard.common.serde.AvroSerdes;
import dev.duoguard.common.serde.SchemaIds;
import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.schemas.Role;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Map;
import java.util.Set;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificDatumReader;
import org.apache.avro.specific.SpecificDatumWriter;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.junit.jupiter.api.Test;

class TopicsTest {

    @Test
    void defaultsAreTheDocumentedNames() {
        assertThat(Topics.Names.DEFAULTS.all())
                .containsExactly(
                        "chat.messages",
                        "chat.verdicts",
                        "chat.feedback",
                        "guardrail.seeds",
                        "guardrail.dlq",
                        "guardrail.models",
                        "chat.reply-chunks");
    }

    @Test
    void environmentNamesAreTheOnesLayeredConfigReads() {
        assertThat(Map.of(
                        Topics.Names.MESSAGES_KEY,
                        Topics.Names.MESSAGES_ENV,
                        Topics.Names.VERDICTS_KEY,
                        Topics.Names.VERDICTS_ENV,
                        Topics.Names.FEEDBACK_KEY,
                        Topics.Names.FEEDBACK_ENV,
                        Topics.Names.SEEDS_KEY,
                        Topics.Names.SEEDS_ENV,
                        Topics.Names.DLQ_KEY,
                        Topics.Names.DLQ_ENV,
                        Topics.Names.MODELS_KEY,
                        Topics.Names.MODELS_ENV,
                        Topics.Names.REPLY_CHUNKS_KEY,
                        Topics.Names.REPLY_CHUNKS_ENV))
                .allSatisfy((key, env) -> assertThat(env).isEqualTo(LayeredConfig.envName(key)))
                .containsOnlyKeys(Topics.Names.DEFAULTS.asConfig().keySet());
    }

    @Test
    void namesComeFromTheConfigDefaultsThenTheEnvironment() {
        LayeredConfig config = LayeredConfig.load(
                Topics.Names.DEFAULTS.asConfig(),
                null,
                Map.of(Topics.Names.SEEDS_ENV, "my.seeds", Topics.Names.MODELS_ENV, "my.models"),
                Set.of());
        assertThat(Topics.Names.from(config))
                .isEqualTo(new Topics.Names(
                        "chat.messages",
                        "chat.verdicts",
                        "chat.feedback",
                        "my.seeds",
                        "guardrail.dlq",
                        "my.models",
                        "chat.reply-chunks"));
    }

    @Test
    void aBlankNameNamesItsKey() {
        LayeredConfig config =
                LayeredConfig.load(Topics.Names.DEFAULTS.asConfig(), null, Map.of(Topics.Names.DLQ_ENV, " "), Set.of());
        assertThatThrownBy(() -> Topics.Names.from(config))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("'topics.dlq' is required")
                .hasMessageContaining("DUOGUARD_TOPICS_DLQ");
    }

    @Test
    void suffixGivesEveryTopicItsOwnName() {
        Topics.Names names = Topics.Names.DEFAULTS.withSuffix("t1");
        assertThat(names.all())
                .containsExactly(
                        "chat.messages-t1",
                        "chat.verdicts-t1",
                        "chat.feedback-t1",
                        "guardrail.seeds-t1",
                        "guardrail.dlq-t1",
                        "guardrail.models-t1",
                        "chat.reply-chunks-t1");
        assertThat(Topics.Names.from(names.asConfig()::get)).isEqualTo(names);
    }

    @Test
    void eachTopicRoundTripsItsKeysAndValues() {
        Topics topics = Topics.of(Topics.Names.DEFAULTS, new PlainAvroSerdes());
        ChatMessage m = ChatMessage.newBuilder()
                .setMessageId("m-1")
                .setConversationId("c-1")
                .setTenant("t")
                .setRole(Role.USER)
                .setText("hello")
                .setTimestamp(Instant.now().truncatedTo(ChronoUnit.MILLIS))
                .build();
        Topic<String, ChatMessage> messages = topics.messages();
        assertThat(messages.name()).isEqualTo("chat.messages");
        byte[] key = messages.keySerializer().serialize(messages.name(), "c-1");
        byte[] value = messages.valueSerializer().serialize(messages.name(), m);
        assertThat(messages.keyDeserializer().deserialize(messages.name(), key)).isEqualTo("c-1");
        assertThat(messages.valueDeserializer().deserialize(messages.name(), value))
                .isEqualTo(m);

        byte[] raw = {0, 1, 2, (byte) 0xff};
        Topic<byte[], byte[]> dlq = topics.dlq();
        assertThat(dlq.valueDeserializer()
                        .deserialize(dlq.name(), dlq.valueSerializer().serialize(dlq.name(), raw)))
                .isEqualTo(raw);
        assertThat(topics.models().name()).isEqualTo("guardrail.models");
    }

    /** Plain Avro binary, no registry: enough to show that each topic carries the serde of its value type. */
    private static final class PlainAvroSerdes implements AvroSerdes {

        @Override
        public <T extends SpecificRecord> Serde<T> value(Class<T> type) {
            SpecificData data = SpecificData.getForClass(type);
            var schema = data.getSchema(type);
            return Serdes.serdeFrom(
                    (topic, v) -> {
                        ByteArrayOutputStream out = new ByteArrayOutputStream();
                        var encoder = EncoderFactory.get().binaryEncoder(out, null);
                        try {
                            new SpecificDatumWriter<T>(schema, data).write(v, encoder);
                            encoder.flush();
                        } catch (IOException e) {
                            throw new UncheckedIOException(e);
                        }
                        return out.toByteArray();
                    },
                    (topic, bytes) -> {
                        try {
                            return new SpecificDatumReader<T>(schema, schema, data)
                                    .read(null, DecoderFactory.get().binaryDecoder(bytes, null));
                        } catch (IOException e) {
                            throw new UncheckedIOException(e);
                        }
                    });
        }

        @Override
        public SchemaIds schemaIds() {
            return id -> SchemaIds.Presence.FOUND;
        }
    }
}
