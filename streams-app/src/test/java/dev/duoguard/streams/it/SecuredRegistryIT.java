package dev.duoguard.streams.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.common.config.LayeredConfig;
import dev.duoguard.common.registry.RegistryConnection;
import dev.duoguard.common.serde.RegistryAvroSerdes;
import dev.duoguard.common.serde.SchemaIds;
import dev.duoguard.common.topics.Topic;
import dev.duoguard.common.topics.Topics;
import dev.duoguard.embedded.EmbeddedKafka;
import dev.duoguard.embedded.EmbeddedRegistry;
import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.schemas.Verdict;
import dev.duoguard.streams.app.RegistrySchemas;
import dev.duoguard.streams.app.StreamsApp;
import dev.duoguard.streams.cli.DuoGuardCli;
import dev.duoguard.streams.config.AppConfig;
import dev.duoguard.streams.topology.ModerationListener;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The streams app and {@code ./duoguard schemas} against a registry as production runs it: https only, HTTP basic
 * auth, a reader principal for the app (registry.auto-register=false) and a writer principal that registers the
 * schemas once. Anonymous and wrong-password requests are refused; the reader cannot register; the app refuses to
 * start, in one line, until the schemas are registered; then it scores end to end with the reader's credentials and
 * the test CA's truststore.
 */
class SecuredRegistryIT {

    @TempDir
    static Path dir;

    private static EmbeddedKafka kafka;
    private static EmbeddedRegistry registry;

    private static final String S = "secured-registry";
    private static final Topics.Names TOPICS = Platform.topics(S);
    private static final String READER = "guardrail";
    private static final String READER_PW = "guardrail-registry-pw";
    private static final String WRITER = "schema-admin";
    private static final String WRITER_PW = "schema-admin-pw";

    @BeforeAll
    static void start() {
        kafka = new EmbeddedKafka(dir.resolve("kafka")).start();
        kafka.createTopics(
                2, TOPICS.all().stream().filter(t -> !t.equals(TOPICS.models())).toList());
        kafka.createTopics(1, List.of(TOPICS.models()));
        registry = EmbeddedRegistry.secured(dir.resolve("registry"))
                .user(READER, READER_PW, EmbeddedRegistry.Role.READER)
                .user(WRITER, WRITER_PW, EmbeddedRegistry.Role.WRITER)
                .start();
    }

    @AfterAll
    static void stop() {
        try {
            if (registry != null) {
                registry.close();
            }
        } finally {
            if (kafka != null) {
                kafka.close();
            }
        }
    }

    /**
     * The registry.* keys as an operator writes them: the https URL, the user, the password in a file of its own
     * (a mounted Secret), the test CA's truststore.
     */
    private static Map<String, String> registryKeys(String user, String password) throws Exception {
        Path secret = Files.writeString(dir.resolve(user + "-" + password.hashCode() + ".password"), password + "\n");
        Map<String, String> keys = new LinkedHashMap<>();
        keys.put("registry.url", registry.apiUrl());
        keys.put("registry.username", user);
        keys.put("registry.password.file", secret.toString());
        keys.put("registry.ssl.truststore.location", registry.truststore().toString());
        keys.put("registry.ssl.truststore.password", registry.truststorePassword());
        return keys;
    }

    /** The streams app's whole config file for {@code user}. */
    private static Path configFile(String user, String password) throws Exception {
        Map<String, String> keys = new LinkedHashMap<>(registryKeys(user, password));
        keys.putAll(TOPICS.asConfig());
        keys.put("kafka.bootstrap.servers", kafka.bootstrapServers());
        keys.put("application.id", "it-" + S);
        keys.put("topics.partitions", "2");
        keys.put("state.dir", dir.resolve("state").toString());
        keys.put("http.port", "-1");
        keys.put("scoring.max-batch", "16");
        keys.put("models.allow-unsigned", "true");
        keys.put("models.artifact-roots", System.getProperty("java.io.tmpdir"));
        keys.put("language.low-accuracy", "true");
        String text = keys.entrySet().stream()
                .map(e -> e.getKey() + "=" + e.getValue().replace("\\", "\\\\"))
                .collect(Collectors.joining("\n", "", "\n"));
        return Files.writeString(dir.resolve(user + "-" + password.hashCode() + ".properties"), text);
    }

    private static RegistryAvroSerdes serdes(String user, String password) throws Exception {
        return new RegistryAvroSerdes(RegistryConnection.from(AppConfig.layered(configFile(user, password), Map.of())));
    }

    private record Run(int exitCode, String out, String err) {}

    private static Run cli(String... args) {
        CommandLine cli = DuoGuardCli.commandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        int code = cli.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    private static int status(HttpRequest.Builder request) throws Exception {
        HttpClient http = RegistryConnection.from(AppConfig.layered(configFile(READER, READER_PW), Map.of()))
                .httpClient();
        return http.send(request.timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.discarding())
                .statusCode();
    }

    private static String basic(String user, String password) {
        return "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void theAppReadsWithItsReaderPrincipalAfterTheWriterRegisteredTheSchemas() throws Exception {
        URI info = URI.create(registry.apiUrl() + "/system/info");
        URI artifacts = URI.create(registry.apiUrl() + "/groups/default/artifacts");
        String artifact = "{\"artifactId\":\"probe\",\"artifactType\":\"AVRO\",\"firstVersion\":{\"content\":"
                + "{\"content\":\"{\\\"type\\\":\\\"string\\\"}\",\"contentType\":\"application/json\"}}}";
        assertThat(registry.apiUrl()).startsWith("https://");
        assertThat(status(HttpRequest.newBuilder(info))).as("anonymous").isEqualTo(401);
        assertThat(status(HttpRequest.newBuilder(info).header("Authorization", basic(READER, "wrong"))))
                .as("wrong password")
                .isEqualTo(401);
        assertThat(status(HttpRequest.newBuilder(info).header("Authorization", basic(READER, READER_PW))))
                .as("the reader reads")
                .isEqualTo(200);
        assertThat(status(HttpRequest.newBuilder(artifacts)
                        .header("Authorization", basic(READER, READER_PW))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(artifact))))
                .as("the reader may not write")
                .isEqualTo(403);

        // wrong credentials, then no schemas yet: serve stops at once with one line that says what to do
        Run wrong = cli("serve", "--config", configFile(READER, "wrong").toString());
        assertThat(wrong.exitCode()).as(wrong.err()).isEqualTo(1);
        assertThat(wrong.err().strip().lines()).hasSize(1);
        assertThat(wrong.err()).contains("refused the credentials (401)", "registry.password");

        Path appConfig = configFile(READER, READER_PW);
        Run missing = cli("serve", "--config", appConfig.toString());
        assertThat(missing.exitCode()).as(missing.err()).isEqualTo(1);
        assertThat(missing.err().strip().lines()).as(missing.err()).hasSize(1);
        assertThat(missing.err())
                .contains("topic " + TOPICS.messages() + " (ChatMessage)")
                .contains("registry.auto-register is false")
                .contains(RegistrySchemas.REGISTER_COMMAND)
                .doesNotContain(READER_PW);

        // the app's reader principal may not register; check lists every schema as missing
        Run readerRegisters = cli("schemas", "register", "--config", appConfig.toString());
        assertThat(readerRegisters.exitCode()).isEqualTo(1);
        assertThat(readerRegisters.err()).contains("refused to register", "(403)");
        Run check = cli("schemas", "check", "--config", appConfig.toString());
        assertThat(check.exitCode()).isEqualTo(1);
        assertThat(check.out().lines().filter(l -> l.startsWith("MISSING"))).hasSize(10);

        // the writer registers them all; a second run finds them all
        Path writerConfig = configFile(WRITER, WRITER_PW);
        Run registered = cli("schemas", "register", "--config", writerConfig.toString());
        assertThat(registered.exitCode())
                .as(registered.out() + registered.err())
                .isZero();
        assertThat(registered.out().lines().filter(l -> l.startsWith("registered")))
                .as(registered.out())
                .hasSize(10);
        assertThat(registered.out())
                .contains(
                        TOPICS.verdicts() + "-value",
                        TOPICS.replyChunks() + "-value",
                        "dev.duoguard.schemas.internal.PendingMessage",
                        "dev.duoguard.schemas.internal.OpenReply");
        Run again = cli("schemas", "register", "--config", writerConfig.toString());
        assertThat(again.exitCode()).isZero();
        assertThat(again.out().lines().filter(l -> l.startsWith("found")))
                .as(again.out())
                .hasSize(10);
        Run checked = cli("schemas", "check", "--config", appConfig.toString());
        assertThat(checked.exitCode()).as(checked.out()).isZero();

        // the app, a producer and a reader, all with the reader principal: scored end to end, verdicts decode
        RegistryAvroSerdes reader = serdes(READER, READER_PW);
        List<ChatMessage> messages = Platform.messages(S, 30);
        LayeredConfig app = AppConfig.layered(appConfig, Map.of());
        try (StreamsApp a = StreamsApp.start(app, ModerationListener.NONE)) {
            assertThat(a.awaitRunning(Duration.ofSeconds(60))).isTrue();
            Topic<String, ChatMessage> in = Topics.messages(TOPICS.messages(), reader);
            try (var producer =
                    new KafkaProducer<>(kafka.clientProperties(), in.keySerializer(), in.valueSerializer())) {
                for (ChatMessage m : messages) {
                    producer.send(new ProducerRecord<>(in.name(), m.getConversationId(), m));
                }
                producer.flush();
            }
            List<byte[]> raw = readVerdicts(messages.size());
            Topic<String, Verdict> out = Topics.verdicts(TOPICS.verdicts(), reader);
            Set<String> ids = new HashSet<>();
            for (byte[] bytes : raw) {
                ids.add(out.valueDeserializer().deserialize(out.name(), bytes).getMessageId());
            }
            assertThat(ids).hasSize(messages.size());

            // the registry lookup the topology uses on a record that does not decode, with the reader's credentials
            int id = ByteBuffer.wrap(raw.get(0), 1, 4).getInt();
            assertThat(reader.schemaIds().lookup(id)).isEqualTo(SchemaIds.Presence.FOUND);
            assertThat(reader.schemaIds().lookup(999_999)).isEqualTo(SchemaIds.Presence.NOT_FOUND);
            assertThat(serdes(READER, "wrong").schemaIds().lookup(id))
                    .as("refused credentials are not a missing schema")
                    .isEqualTo(SchemaIds.Presence.UNREACHABLE);
        }
    }

    /** Reads the raw verdict values (read_committed, from the start) until {@code n} arrived or 90 s passed. */
    private static List<byte[]> readVerdicts(int n) {
        Map<String, Object> config = kafka.clientProperties();
        config.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        List<byte[]> values = new ArrayList<>();
        try (var consumer = new KafkaConsumer<>(config, new StringDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> partitions = consumer.partitionsFor(TOPICS.verdicts()).stream()
                    .map(p -> new TopicPartition(p.topic(), p.partition()))
                    .toList();
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
            while (values.size() < n && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    values.add(r.value());
                }
            }
        }
        return values;
    }
}
