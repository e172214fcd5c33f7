package dev.duoguard.streams.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.streams.app.StreamsApp;
import dev.duoguard.streams.cli.DuoGuardCli;
import dev.duoguard.streams.topology.ModerationListener;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Exactly-once under failure: the streams app killed with SIGKILL mid-stream and restarted, and the broker stopped
 * and restarted mid-stream. Every message gets exactly one committed verdict.
 */
class FailureRecoveryIT {

    @RegisterExtension
    static final Platform platform = new Platform();

    @TempDir
    static Path dir;

    @Test
    void appKilledWithSigkillMidStreamAndRestartedEmitsEachVerdictExactlyOnce() throws Exception {
        String s = "crash";
        int n = 4000;
        platform.createTopics(s);
        platform.produce(Platform.topics(s).messages(), Platform.messages(s, n));
        Path config = writeConfig(s);
        List<String> seen = new ArrayList<>();
        try (var consumer = platform.verdictConsumer(Platform.topics(s).verdicts())) {
            Process first = startApp(config, dir.resolve("app-1.log"));
            try {
                Platform.readVerdicts(consumer, seen, 200, Duration.ofSeconds(120));
            } finally {
                first.destroyForcibly().waitFor();
            }
            int beforeKill = new HashSet<>(seen).size();
            assertThat(beforeKill)
                    .as("the kill must land mid-stream (see app-1.log)")
                    .isBetween(200, n - 1);

            Process second = startApp(config, dir.resolve("app-2.log"));
            try {
                Platform.readVerdicts(consumer, seen, n, Duration.ofSeconds(180));
                platform.awaitConsumed(s);
                platform.readToEnd(consumer, r -> seen.add(r.value().getMessageId()));
            } finally {
                second.destroy();
                second.waitFor();
            }
        }
        assertThat(new HashSet<>(seen)).as("no message lost").hasSize(n);
        assertThat(seen).as("no verdict committed twice").hasSize(n);
    }

    @Test
    void brokerRestartMidStreamLosesAndDuplicatesNothing() throws Exception {
        String s = "broker";
        List<ChatMessage> firstHalf = Platform.messages(s + "-a", 500);
        List<ChatMessage> secondHalf = Platform.messages(s + "-b", 500);
        List<String> seen = new ArrayList<>();
        var config = platform.appConfig(s, dir.resolve("state-" + s))
                .with("streams.producer.delivery.timeout.ms", "300000", "test");
        try (StreamsApp app = StreamsApp.start(config, ModerationListener.NONE);
                var consumer = platform.verdictConsumer(Platform.topics(s).verdicts())) {
            assertThat(app.awaitRunning(Duration.ofSeconds(60))).isTrue();
            platform.produce(Platform.topics(s).messages(), firstHalf);
            Platform.readVerdicts(consumer, seen, 100, Duration.ofSeconds(60));

            platform.kafka().stop();
            Thread.sleep(2000); // the outage under test: the broker is down for 2 s
            platform.kafka().start();

            platform.produce(Platform.topics(s).messages(), secondHalf);
            Platform.readVerdicts(consumer, seen, 1000, Duration.ofSeconds(180));
            platform.awaitConsumed(s);
            platform.readToEnd(consumer, r -> seen.add(r.value().getMessageId()));
        }
        assertThat(new HashSet<>(seen)).as("no message lost").hasSize(1000);
        assertThat(seen).as("no verdict committed twice").hasSize(1000);
    }

    private static Path writeConfig(String suffix) throws IOException {
        Properties p = new Properties();
        Map<String, String> all =
                platform.appConfig(suffix, dir.resolve("state-" + suffix)).asMap();
        all.forEach((k, v) -> {
            if (!v.isEmpty()) {
                p.setProperty(k, v);
            }
        });
        p.setProperty("http.port", "-1");
        Path file = dir.resolve(suffix + ".properties");
        try (var out = Files.newBufferedWriter(file)) {
            p.store(out, "FailureRecoveryIT");
        }
        return file;
    }

    private static Process startApp(Path config, Path log) throws IOException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        return new ProcessBuilder(
                        java,
                        "-Xmx768m",
                        "-cp",
                        System.getProperty("java.class.path"),
                        DuoGuardCli.class.getName(),
                        "serve",
                        "--config",
                        config.toString())
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .start();
    }
}
