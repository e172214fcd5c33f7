package dev.duoguard.common.packaging;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RunnableJarTest {

    static void jar(Path file, String classPath, String... entries) throws IOException {
        Manifest m = new Manifest();
        m.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        if (classPath != null) {
            m.getMainAttributes().put(Attributes.Name.CLASS_PATH, classPath);
        }
        Files.createDirectories(file.getParent());
        try (OutputStream out = Files.newOutputStream(file);
                JarOutputStream j = new JarOutputStream(out, m)) {
            for (String e : entries) {
                j.putNextEntry(new JarEntry(e));
                j.closeEntry();
            }
        }
    }

    @Test
    void aBrokerThatComesInThroughTheClassPathIsFoundInItsLibraryJar(@TempDir Path dir) throws IOException {
        jar(dir.resolve("lib/kafka-clients.jar"), null, "org/apache/kafka/clients/KafkaClient.class");
        jar(dir.resolve("lib/kafka_2.13.jar"), null, "kafka/Kafka.class", "kafka/server/KafkaConfig.class");
        jar(dir.resolve("lib/scala-library.jar"), null, "scala/Option.class");
        jar(
                dir.resolve("app.jar"),
                "lib/kafka-clients.jar lib/kafka_2.13.jar lib/scala-library.jar",
                "dev/duoguard/App.class");

        assertThat(RunnableJar.classPath(dir.resolve("app.jar"))).hasSize(4);
        assertThat(RunnableJar.entriesUnder(dir.resolve("app.jar"), RunnableJar.BROKER_AND_REGISTRY))
                .containsExactly(
                        "lib/kafka_2.13.jar!kafka/server/KafkaConfig.class",
                        "lib/scala-library.jar!scala/Option.class");
    }

    @Test
    void aJarWithoutThemPassesAndOneNamingAMissingLibraryIsRefused(@TempDir Path dir) throws IOException {
        jar(dir.resolve("lib/kafka-clients.jar"), null, "org/apache/kafka/clients/KafkaClient.class");
        jar(dir.resolve("app.jar"), "lib/kafka-clients.jar", "dev/duoguard/App.class");
        assertThat(RunnableJar.entriesUnder(dir.resolve("app.jar"), RunnableJar.BROKER_AND_REGISTRY))
                .isEmpty();

        jar(dir.resolve("broken.jar"), "lib/kafka-clients.jar lib/gone.jar", "dev/duoguard/App.class");
        assertThatThrownBy(() -> RunnableJar.classPath(dir.resolve("broken.jar")))
                .hasMessageContaining("lib/gone.jar")
                .hasMessageContaining("does not exist");
    }
}
