package dev.duoguard.streams.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.common.packaging.RunnableJar;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The packaged streams-app jar, as the image runs it (the jar and the {@code lib/} jars its manifest names), holds
 * no Kafka broker, Raft, Scala, embedded harness or registry application: those are the dev module's, and
 * streams-app uses {@code embedded} in its tests only. Runs after {@code package} (failsafe), on the real jar.
 */
class ProductionJarIT {

    static final Path JAR = Path.of("target", "duoguard-streams-app.jar");

    @Test
    void theStreamsAppJarShipsNoBrokerAndNoRegistry() {
        assertThat(RunnableJar.classPath(JAR))
                .as("the check reads the libraries the jar runs with")
                .anySatisfy(p -> assertThat(p.getFileName().toString()).startsWith("kafka-streams-"));
        assertThat(RunnableJar.entriesUnder(JAR, RunnableJar.BROKER_AND_REGISTRY))
                .as("broker or registry classes on the production class path of " + JAR)
                .isEmpty();
    }
}
