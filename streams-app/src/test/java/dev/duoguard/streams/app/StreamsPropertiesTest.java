package dev.duoguard.streams.app;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.streams.config.AppConfig;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.streams.StreamsConfig;
import org.junit.jupiter.api.Test;

class StreamsPropertiesTest {

    @Test
    void theStreamThreadPollsAtTheFlushIntervalUnlessOverridden() {
        Properties p = StreamsApp.streamsProperties(
                AppConfig.from(AppConfig.layered(null, Map.of("DUOGUARD_SCORING_MAX_WAIT_MS", "7"))));
        assertThat(p.get(StreamsConfig.POLL_MS_CONFIG)).isEqualTo(7L);
        assertThat(p.get(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG))
                .as("exactly-once")
                .isEqualTo(100L);
        Properties longWait = StreamsApp.streamsProperties(
                AppConfig.from(AppConfig.layered(null, Map.of("DUOGUARD_SCORING_MAX_WAIT_MS", "2000"))));
        assertThat(longWait.get(StreamsConfig.POLL_MS_CONFIG))
                .as("never longer than the commit interval")
                .isEqualTo(100L);
        Properties overridden = StreamsApp.streamsProperties(
                AppConfig.from(AppConfig.layered(null, Map.of("DUOGUARD_STREAMS_POLL_MS", "50"))));
        assertThat(overridden.get(StreamsConfig.POLL_MS_CONFIG)).isEqualTo("50");
    }
}
