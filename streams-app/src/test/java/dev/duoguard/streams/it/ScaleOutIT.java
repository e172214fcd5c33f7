package dev.duoguard.streams.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.common.config.LayeredConfig;
import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.schemas.Verdict;
import dev.duoguard.streams.app.StreamsApp;
import dev.duoguard.streams.topology.ModerationListener;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Scale-out: two instances of the app (one stream thread each) on four partitions split the input between them,
 * and every message still gets exactly one verdict. The bench's SCALE part measures the same set-up's capacity.
 */
class ScaleOutIT {

    @RegisterExtension
    static final Platform platform = new Platform();

    @TempDir
    static Path dir;

    @Test
    void twoInstancesOnFourPartitionsShareTheMessagesAndEachGetsOneVerdict() throws Exception {
        String s = "scale";
        List<ChatMessage> messages = Platform.messages(s, 800);
        AtomicInteger scoredByA = new AtomicInteger();
        AtomicInteger scoredByB = new AtomicInteger();
        try (StreamsApp a = StreamsApp.start(config(s, "a"), counting(scoredByA));
                StreamsApp b = StreamsApp.start(config(s, "b"), counting(scoredByB));
                var consumer = platform.verdictConsumer(Platform.topics(s).verdicts())) {
            // both members hold input partitions before any message is sent, so neither can take all of them
            platform.kafka()
                    .awaitAssignment("it-" + s, Platform.topics(s).messages(), List.of(2, 2), Duration.ofSeconds(90));
            assertThat(a.awaitRunning(Duration.ofSeconds(60))).isTrue();
            assertThat(b.awaitRunning(Duration.ofSeconds(60))).isTrue();
            platform.produce(Platform.topics(s).messages(), messages);
            List<String> ids =
                    Platform.readVerdicts(consumer, new ArrayList<>(), messages.size(), Duration.ofSeconds(120));
            platform.awaitConsumed(s);
            platform.readToEnd(consumer, r -> ids.add(r.value().getMessageId()));
            assertThat(new HashSet<>(ids)).hasSize(messages.size());
            assertThat(ids).as("no duplicates").hasSize(messages.size());
            assertThat(scoredByA.get() + scoredByB.get()).isEqualTo(messages.size());
            assertThat(scoredByA.get()).as("instance a's share").isPositive();
            assertThat(scoredByB.get()).as("instance b's share").isPositive();
        }
    }

    private static LayeredConfig config(String suffix, String instance) {
        return platform.appConfig(suffix, dir.resolve("state-" + instance))
                .with("topics.partitions", "4", "test")
                .with("http.port", "-1", "test");
    }

    private static ModerationListener counting(AtomicInteger verdicts) {
        return new ModerationListener() {
            @Override
            public void verdict(Verdict verdict) {
                verdicts.incrementAndGet();
            }
        };
    }
}
