package dev.duoguard.streams.it;

import dev.duoguard.runtime.baseline.LexiconBaseline;
import dev.duoguard.runtime.bundle.BundleManifest;
import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.schemas.Verdict;
import dev.duoguard.streams.app.StreamsApp;
import dev.duoguard.streams.topology.ModerationListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Swapping the served model while traffic flows (the mechanism rolling upgrades build on): no message is lost or
 * scored twice, each verdict names the model that scored it, everything sent after the swap is scored by the new
 * model, and a bundle that does not load leaves the old one serving.
 */
class ModelSwapIT {

    @TempDir
    static Path dir;
    static Platform platform;

    @BeforeAll
    static void start() {
        platform = new Platform(dir);
    }

    @AfterAll
    static void stop() {
        platform.close();
    }

    /** A copy of the baseline bundle under another version: a verified bundle that is a different model version. */
    static Path secondVersion() throws Exception {
        Path v1 = LexiconBaseline.ensureBuilt(dir.resolve("models"));
        Path v2 = Files.createDirectories(dir.resolve("v2"));
        try (var files = Files.list(v1)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                Files.copy(f, v2.resolve(f.getFileName()));
            }
        }
        BundleManifest m = ModelBundle.open(v1).manifest();
        ModelBundle.writeManifest(v2, new BundleManifest(m.format(), m.name(), "v2-test", m.categories(),
                m.defaultThreshold(), m.thresholds(), m.maxTokens(), m.windowOverlap(), m.padTokenId(),
                m.pairSeparator(), null, m.provenance(), m.metrics()));
        return v2;
    }

    static void read(KafkaConsumer<String, Verdict> consumer, Map<String, String> versionById, List<String> all,
                     int expected, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (versionById.size() < expected && System.nanoTime() < deadline) {
            for (ConsumerRecord<String, Verdict> r : consumer.poll(Duration.ofMillis(200))) {
                all.add(r.value().getMessageId());
                versionById.put(r.value().getMessageId(), r.value().getModelVersion());
            }
        }
    }

    @Test
    void swappingUnderTrafficLosesNothingAndEveryVerdictNamesItsModel() throws Exception {
        String s = "swap";
        Path v2 = secondVersion();
        List<ChatMessage> before = Platform.messages(s + "-a", 300);
        List<ChatMessage> after = Platform.messages(s + "-b", 300);
        Map<String, String> versionById = new HashMap<>();
        List<String> all = new java.util.ArrayList<>();
        try (StreamsApp app = StreamsApp.start(platform.appConfig(s, dir.resolve("state-" + s)), ModerationListener.NONE);
             var consumer = platform.verdictConsumer("verdicts-" + s)) {
            assertThat(app.awaitRunning(Duration.ofSeconds(60))).isTrue();
            String v1 = app.model().version();
            platform.produce("messages-" + s, before);
            read(consumer, versionById, all, 50, Duration.ofSeconds(60));   // traffic is flowing

            assertThatThrownBy(() -> app.swapModel(dir.resolve("no-such-bundle")))
                    .as("a bundle that does not load").isInstanceOf(RuntimeException.class);
            assertThat(app.model().version()).isEqualTo(v1);

            assertThat(app.swapModel(v2).version()).isEqualTo(v1);
            assertThat(app.model().version()).isEqualTo("v2-test");
            platform.produce("messages-" + s, after);
            read(consumer, versionById, all, before.size() + after.size(), Duration.ofSeconds(90));
            long settle = System.nanoTime() + Duration.ofSeconds(3).toNanos();
            while (System.nanoTime() < settle) {
                consumer.poll(Duration.ofMillis(200)).forEach(r -> all.add(r.value().getMessageId()));
            }

            assertThat(versionById).hasSize(before.size() + after.size());
            assertThat(all).as("no message scored twice").hasSize(before.size() + after.size());
            Set<String> versions = new HashSet<>(versionById.values());
            assertThat(versions).isSubsetOf(v1, "v2-test");
            for (ChatMessage m : after) {
                assertThat(versionById.get(m.getMessageId())).as(m.getMessageId()).isEqualTo("v2-test");
            }
        }
    }
}
