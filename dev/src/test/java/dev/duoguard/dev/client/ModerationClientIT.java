package dev.duoguard.dev.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.duoguard.client.ModerationClient;
import dev.duoguard.common.config.LayeredConfig;
import dev.duoguard.common.kafka.KafkaConnection;
import dev.duoguard.common.registry.RegistryConnection;
import dev.duoguard.common.serde.RegistryAvroSerdes;
import dev.duoguard.common.topics.Topics;
import dev.duoguard.embedded.EmbeddedPlatform;
import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.schemas.Decision;
import dev.duoguard.schemas.Role;
import dev.duoguard.schemas.Verdict;
import dev.duoguard.streams.app.StreamsApp;
import dev.duoguard.streams.config.AppConfig;
import dev.duoguard.streams.topology.ModerationListener;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The client against the real streams app, broker and registry: every message's future completes with that
 * message's own verdict under exactly-once and at-least-once, bad input included; without an app the client
 * answers itself, fail-closed, for each reason.
 */
class ModerationClientIT {

    @RegisterExtension
    static final EmbeddedPlatform platform = new EmbeddedPlatform();

    @TempDir
    static Path dir;

    static Topics.Names topics(String suffix) {
        return Topics.Names.DEFAULTS.withSuffix(suffix);
    }

    static RegistryAvroSerdes serdes() {
        return new RegistryAvroSerdes(
                RegistryConnection.anonymous(platform.registry().apiUrl(), true));
    }

    static KafkaConnection kafka() {
        return KafkaConnection.plaintext(platform.kafka().bootstrapServers());
    }

    static LayeredConfig appConfig(String suffix, String guarantee) {
        LayeredConfig c = AppConfig.layered(null, Map.of());
        topics(suffix).asConfig().forEach((k, v) -> c.with(k, v, "test"));
        return c.with("topics.partitions", "2", "test")
                .with("kafka.bootstrap.servers", platform.kafka().bootstrapServers(), "test")
                .with("registry.url", platform.registry().apiUrl(), "test")
                .with("registry.auto-register", "true", "test")
                .with("application.id", "client-it-" + suffix, "test")
                .with("processing.guarantee", guarantee, "test")
                .with("state.dir", dir.resolve("state-" + suffix).toString(), "test")
                .with("http.port", "-1", "test")
                .with("models.watch", "false", "test")
                .with("language.low-accuracy", "true", "test");
    }

    static ChatMessage message(String id, String text) {
        return ChatMessage.newBuilder()
                .setMessageId(id)
                .setConversationId("conv-" + id.hashCode() % 13)
                .setTenant("t")
                .setRole(Role.USER)
                .setText(text)
                .setTimestamp(Instant.now())
                .build();
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"exactly_once_v2", "at_least_once"})
    void everyFutureCompletesWithItsOwnMessagesVerdict(String guarantee) throws Exception {
        String s = guarantee.startsWith("exactly") ? "eos" : "alos";
        PrometheusRegistry registry = new PrometheusRegistry();
        try (StreamsApp app = StreamsApp.start(appConfig(s, guarantee), ModerationListener.NONE)) {
            assertThat(app.awaitRunning(Duration.ofSeconds(60))).isTrue();
            try (ModerationClient client = ModerationClient.builder(kafka(), serdes())
                    .topics(topics(s))
                    .timeout(Duration.ofSeconds(60))
                    .metrics(registry)
                    .build()) {
                // four chat-service threads at once, 50 messages each; one of them bad input
                ExecutorService gateways = Executors.newFixedThreadPool(4);
                List<Future<List<CompletableFuture<Verdict>>>> sent = new ArrayList<>();
                for (int g = 0; g < 4; g++) {
                    int gateway = g;
                    sent.add(gateways.submit(() -> {
                        List<CompletableFuture<Verdict>> mine = new ArrayList<>();
                        for (int i = 0; i < 50; i++) {
                            String id = s + "-" + gateway + "-" + i;
                            mine.add(client.moderate(message(id, "How do I build a bomb? " + id)));
                        }
                        return mine;
                    }));
                }
                CompletableFuture<Verdict> bad = client.moderate(message(s + "-bad", "hidden\u0007control character"));
                List<CompletableFuture<Verdict>> all = new ArrayList<>();
                for (var f : sent) {
                    all.addAll(f.get(30, TimeUnit.SECONDS));
                }
                gateways.shutdown();

                for (int i = 0; i < all.size(); i++) {
                    Verdict v = all.get(i).get(90, TimeUnit.SECONDS);
                    assertThat(v.getMessageId()).isEqualTo(s + "-" + (i / 50) + "-" + (i % 50));
                    assertThat(v.getModelName()).as("the app's verdict").isNotEqualTo(ModerationClient.CLIENT_MODEL);
                    assertThat(v.getRejectionReason()).isNull();
                }
                Verdict rejected = bad.get(90, TimeUnit.SECONDS);
                assertThat(rejected.getModelName())
                        .as("the app's fail-closed verdict, not a client timeout")
                        .isNotEqualTo(ModerationClient.CLIENT_MODEL);
                assertThat(rejected.getRejectionReason()).isEqualTo("CONTROL_CHARACTERS");
                assertThat(client.inFlight()).isZero();
                assertThat(text(registry)).contains("duoguard_client_answers_total{outcome=\"verdict\"} 201");
            }
        }
    }

    @Test
    void withoutAnAppTheClientAnswersItselfFailClosedForEachReason() throws Exception {
        String s = "noapp";
        platform.kafka().createTopics(2, List.of(topics(s).messages(), topics(s).verdicts()));
        ModerationClient client = ModerationClient.builder(kafka(), serdes())
                .topics(topics(s))
                .timeout(Duration.ofMillis(500))
                .maxInFlight(2)
                .failClosed(Decision.BLOCK)
                .build();
        try {
            CompletableFuture<Verdict> first = client.moderate(message("a", "hello"));
            assertThat(client.moderate(message("a", "hello")))
                    .as("the same message id while it waits: the same future, not sent twice")
                    .isSameAs(first);
            CompletableFuture<Verdict> second = client.moderate(message("b", "hello"));
            Verdict overloaded = client.moderate(message("c", "hello")).getNow(null);
            assertThat(overloaded).as("answered at once").isNotNull();
            assertThat(overloaded.getRejectionReason()).isEqualTo("CLIENT_OVERLOADED");

            Verdict timedOut = first.get(10, TimeUnit.SECONDS);
            assertThat(timedOut.getRejectionReason()).isEqualTo("CLIENT_TIMEOUT");
            assertThat(timedOut.getDecision()).isEqualTo(Decision.BLOCK);
            assertThat(timedOut.getUnsafe()).isTrue();
            assertThat(timedOut.getModelName()).isEqualTo(ModerationClient.CLIENT_MODEL);
            assertThat(timedOut.getScoringLatencyUs()).isGreaterThanOrEqualTo(500_000);
            assertThat(second.get(10, TimeUnit.SECONDS).getRejectionReason()).isEqualTo("CLIENT_TIMEOUT");

            CompletableFuture<Verdict> pending = client.moderate(message("d", "hello"));
            client.close();
            assertThat(pending.getNow(null))
                    .as("answered by close()")
                    .isNotNull()
                    .extracting(Verdict::getRejectionReason)
                    .isEqualTo("CLIENT_CLOSED");
            assertThat(client.moderate(message("e", "hello")).getNow(null).getRejectionReason())
                    .isEqualTo("CLIENT_CLOSED");
        } finally {
            client.close(); // closing twice is harmless
        }
    }

    @Test
    void aMissingVerdictsTopicIsAClearErrorAndNoMessageIdIsRefused() {
        assertThatThrownBy(() -> ModerationClient.builder(kafka(), serdes())
                        .topics(topics("missing"))
                        .build())
                .hasMessageContaining("topic chat.verdicts-missing does not exist");
        assertThatThrownBy(() -> ModerationClient.builder(kafka(), serdes()).failClosed(Decision.ALLOW))
                .hasMessageContaining("cannot be ALLOW");
    }

    static String text(PrometheusRegistry registry) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrometheusTextFormatWriter.create().write(out, registry.scrape());
        return out.toString(StandardCharsets.UTF_8);
    }
}
