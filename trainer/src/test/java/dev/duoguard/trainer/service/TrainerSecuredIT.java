package dev.duoguard.trainer.service;

import static org.apache.kafka.common.acl.AclOperation.READ;
import static org.apache.kafka.common.acl.AclOperation.WRITE;
import static org.apache.kafka.common.resource.PatternType.LITERAL;
import static org.apache.kafka.common.resource.ResourceType.GROUP;
import static org.apache.kafka.common.resource.ResourceType.TOPIC;
import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.common.config.LayeredConfig;
import dev.duoguard.common.kafka.KafkaConnection;
import dev.duoguard.common.registry.RegistryConnection;
import dev.duoguard.common.serde.RegistryAvroSerdes;
import dev.duoguard.embedded.EmbeddedKafka;
import dev.duoguard.embedded.EmbeddedPlatform;
import dev.duoguard.lifecycle.ModelsTopic;
import dev.duoguard.schemas.ModelStatus;
import dev.duoguard.schemas.ModelVersion;
import dev.duoguard.schemas.Seed;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The trainer service against a broker whose only client listener is SASL_SSL, with ACLs, connecting as its own
 * least-privilege user through the {@code kafka.*} keys (as {@code --kafka-config} reads them): it consumes seeds
 * that the streams app's user wrote, reads the models topic for its yardstick and publishes a candidate there.
 */
class TrainerSecuredIT {

    /** The embedded platform with the secured broker ({@code EmbeddedKafka.secured}). */
    static final class Secured extends EmbeddedPlatform {
        Secured() {
            super(true);
        }
    }

    @RegisterExtension
    static final EmbeddedPlatform platform = new Secured();

    @TempDir
    static Path dir;

    private static final String GROUP_ID = "duoguard-trainer";

    @Test
    void theTrainerIngestsAndPublishesWithItsOwnUserOnly() throws Exception {
        EmbeddedKafka kafka = platform.kafka();
        kafka.createTopics(1, List.of("seeds", "models"));
        kafka.addUser("guardrail", "guardrail-pw");
        kafka.addUser("trainer", "trainer-pw");
        kafka.allow("guardrail", TOPIC, "seeds", LITERAL, WRITE);
        // the trainer: reads seeds in its own group, reads the models topic (yardstick) and writes candidates to it
        kafka.allow("trainer", TOPIC, "seeds", LITERAL, READ);
        kafka.allow("trainer", GROUP, GROUP_ID, LITERAL, READ);
        kafka.allow("trainer", TOPIC, "models", LITERAL, READ, WRITE);

        RegistryAvroSerdes serdes = new RegistryAvroSerdes(
                RegistryConnection.anonymous(platform.registry().apiUrl(), true));
        TrainerServiceIT.Toy toy = TrainerServiceIT.Toy.in(dir);
        try (var producer = new KafkaProducer<>(
                kafka.clientProperties("guardrail", "guardrail-pw"),
                new StringSerializer(),
                serdes.value(Seed.class).serializer())) {
            for (Seed s : toy.topicSeeds().stream().map(TrainerServiceIT::seed).toList()) {
                producer.send(new ProducerRecord<>("seeds", s.getOriginMessageId(), s))
                        .get();
            }
        }

        // what an operator writes into the trainer's --kafka-config file: the password in a file of its own
        Path password = Files.writeString(dir.resolve("trainer.password"), "trainer-pw\n");
        Path file = dir.resolve("trainer-kafka.properties");
        Files.writeString(
                file,
                String.join(
                                "\n",
                                "kafka.bootstrap.servers=" + kafka.bootstrapServers(),
                                "kafka.security.protocol=SASL_SSL",
                                "kafka.sasl.mechanism=SCRAM-SHA-512",
                                "kafka.sasl.username=trainer",
                                "kafka.sasl.password.file=" + password,
                                "kafka.ssl.truststore.location=" + kafka.truststore(),
                                "kafka.ssl.truststore.password=" + kafka.truststorePassword())
                        .replace("\\", "\\\\"));
        KafkaConnection trainer =
                KafkaConnection.from(LayeredConfig.load(KafkaConnection.DEFAULTS, file, Map.of(), Set.of()));
        assertThat(trainer.toString()).doesNotContain("trainer-pw");

        Path active = TrainerServiceIT.weakActive(dir, toy.train());
        try (TrainerService s = TrainerServiceIT.tinyService(
                trainer, serdes, dir, dir.resolve("home"), active, GROUP_ID, toy.train(), toy.dev())) {
            s.start();
            kafka.awaitConsumed(GROUP_ID, "seeds", Duration.ofSeconds(60));
            assertThat(s.store().count()).isEqualTo(toy.topicSeeds().size());

            assertThat(TrainerServiceIT.iterate(s, TrainerServiceIT.ADMIN_TOKEN).statusCode())
                    .isEqualTo(202);
            s.awaitIteration(Duration.ofMinutes(5));
        }
        IterationDecision decision = IterationDecision.read(dir.resolve("home/iterations/1/decision.json"));
        assertThat(decision.outcome()).as(decision.toString()).isEqualTo(IterationDecision.Outcome.PUBLISHED);

        List<ModelsTopic.Entry> models = new ModelsTopic(
                        trainer,
                        "models",
                        serdes.value(ModelVersion.class).deserializer(),
                        serdes.value(ModelVersion.class).serializer())
                .read();
        assertThat(models)
                .as("the candidate, written with the trainer's user and read back with it")
                .anyMatch(e -> e.value().getStatus() == ModelStatus.CANDIDATE
                        && e.value().getVersion().equals("2"));
    }
}
