package dev.duoguard.lifecycle;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.duoguard.runtime.baseline.LexiconBaseline;
import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.schemas.ModelStatus;
import dev.duoguard.schemas.ModelVersion;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelArtifactsTest {

    @Test
    void aRecordVerifiesOnlyAgainstTheBundleItDescribes(@TempDir Path tmp) throws Exception {
        Path dir = tmp.resolve("bundle");
        LexiconBaseline.build(dir);
        ModelBundle bundle = ModelBundle.open(dir);
        ModelVersion mv = ModelVersion.newBuilder(ModelKeyTest.record(
                        bundle.manifest().name(), bundle.manifest().version(), ModelStatus.CANDIDATE))
                .setArtifactUri(dir.toUri().toString())
                .setSha256(bundle.manifestSha256())
                .build();

        assertThat(ModelArtifacts.verify(mv)).isEqualTo(dir);
        assertThat(ModelArtifacts.verify(ModelVersion.newBuilder(mv)
                        .setArtifactUri(dir.toString())
                        .build()))
                .as("a plain path")
                .isEqualTo(dir);
        assertThatThrownBy(() -> ModelArtifacts.verify(
                        ModelVersion.newBuilder(mv).setSha256("f00").build()))
                .hasMessageContaining("checksum mismatch");
        assertThatThrownBy(() -> ModelArtifacts.verify(
                        ModelVersion.newBuilder(mv).setVersion("99").build()))
                .hasMessageContaining(
                        "the bundle is version " + bundle.manifest().version())
                .hasMessageContaining("the record says 99");
        assertThatThrownBy(() -> ModelArtifacts.verify(ModelVersion.newBuilder(mv)
                        .setArtifactUri("https://example.org/bundle")
                        .build()))
                .hasMessageContaining("only file: URIs");
    }
}
