package dev.duoguard.lifecycle;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelArtifactsTest {

    @Test
    void anArtifactIsAPlainPathOrAFileUriNothingElse(@TempDir Path tmp) {
        Path dir = tmp.resolve("bundle");

        assertThat(ModelArtifacts.path(dir.toUri().toString())).isEqualTo(dir);
        assertThat(ModelArtifacts.path(dir.toString())).as("a plain path").isEqualTo(dir);
        assertThatThrownBy(() -> ModelArtifacts.path("https://example.org/bundle"))
                .hasMessageContaining("only file: URIs");
    }
}
