package dev.duoguard.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.common.packaging.RunnableJar;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The packaged trainer jar, as the image runs it (the jar and the {@code lib/} jars its manifest names), holds no
 * Kafka broker, Raft, Scala, embedded harness or registry application, and not the streams app: the trainer
 * depends on common and model-lifecycle, and on {@code embedded} in its tests only. Runs after {@code package}
 * (failsafe), on the real jar.
 */
class ProductionJarIT {

    static final Path JAR = Path.of("target", "duoguard-trainer.jar");

    @Test
    void theTrainerJarShipsNoBrokerNoRegistryAndNoStreamsApp() {
        assertThat(RunnableJar.classPath(JAR))
                .as("the check reads the libraries the jar runs with")
                .anySatisfy(p -> assertThat(p.getFileName().toString()).startsWith("pytorch-engine-"))
                .noneSatisfy(p -> assertThat(p.getFileName().toString()).startsWith("streams-app-"));
        assertThat(RunnableJar.entriesUnder(JAR, RunnableJar.BROKER_AND_REGISTRY))
                .as("broker or registry classes on the production class path of " + JAR)
                .isEmpty();
    }
}
