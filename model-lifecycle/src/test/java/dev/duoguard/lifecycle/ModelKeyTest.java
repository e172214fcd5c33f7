package dev.duoguard.lifecycle;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.duoguard.schemas.ModelStatus;
import dev.duoguard.schemas.ModelVersion;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

class ModelKeyTest {

    static ModelVersion record(String name, String version, ModelStatus status) {
        return ModelVersion.newBuilder()
                .setModelName(name)
                .setVersion(version)
                .setArtifactUri("file:/nowhere")
                .setSha256("0")
                .setCategories(List.of())
                .setThresholds(List.of())
                .setStatus(status)
                .setCreatedAt(Instant.EPOCH)
                .build();
    }

    @Test
    void aVersionIsKeyedNameAtVersionAndTheKeyParsesBack() {
        ModelKey key = ModelKey.of(record("duoguard-default", "2", ModelStatus.CANDIDATE));
        assertThat(key.toString()).isEqualTo("duoguard-default@2");
        assertThat(ModelKey.parse("duoguard-default@2")).isEqualTo(key);
        assertThat(ModelKey.parse("team@example-model@chaos-3"))
                .as("split at the last @")
                .isEqualTo(new ModelKey("team@example-model", "chaos-3"));
    }

    @Test
    void somethingThatIsNotAKeyIsRefusedWithWhatItWas() {
        for (String bad : List.of("duoguard-default", "@2", "duoguard-default@")) {
            assertThatThrownBy(() -> ModelKey.parse(bad))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("'" + bad + "'");
        }
    }

    @Test
    void theActivePointerIsKeyedByTheNameAloneAndNamesThatModel() {
        ModelVersion active = record("m", "2", ModelStatus.ACTIVE);
        assertThat(ModelsTopic.isActivePointer("m", active, "m")).isTrue();
        assertThat(ModelsTopic.isActivePointer("m@2", active, "m"))
                .as("a version's own record")
                .isFalse();
        assertThat(ModelsTopic.isActivePointer("m", record("m", "2", ModelStatus.CANDIDATE), "m"))
                .isFalse();
        assertThat(ModelsTopic.isActivePointer("m", active, "other")).isFalse();
        assertThat(ModelsTopic.isActivePointer("m", null, "m"))
                .as("a tombstone")
                .isFalse();
    }
}
