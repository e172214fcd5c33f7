package dev.duoguard.common.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SecretValueTest {

    static final Map<String, String> DEFAULTS = Map.of("x.token", "", "x.token.file", "");

    @TempDir
    Path dir;

    static LayeredConfig config(Map<String, String> env) {
        return LayeredConfig.load(DEFAULTS, null, env, Set.of());
    }

    @Test
    void aSecretComesFromItsKeyOrFromTheFileItsFileKeyNames() throws Exception {
        assertThat(SecretValue.read(config(Map.of()), "x.token"))
                .as("neither set")
                .isNull();

        SecretValue inline = SecretValue.read(config(Map.of("DUOGUARD_X_TOKEN", "from-the-environment")), "x.token");
        assertThat(inline.value()).isEqualTo("from-the-environment");
        assertThat(inline.toString()).doesNotContain("from-the-environment");

        Path file = Files.writeString(dir.resolve("token"), "from-a-mounted-secret\n");
        SecretValue fromFile = SecretValue.read(config(Map.of("DUOGUARD_X_TOKEN_FILE", file.toString())), "x.token");
        assertThat(fromFile.value()).as("the Secret file's newline dropped").isEqualTo("from-a-mounted-secret");
    }

    @Test
    void bothSetAMissingFileOrAnEmptyFileStopTheStart() throws Exception {
        Path file = Files.writeString(dir.resolve("token"), "from-a-mounted-secret");
        assertThatThrownBy(() -> SecretValue.read(
                        config(Map.of("DUOGUARD_X_TOKEN", "inline-token", "DUOGUARD_X_TOKEN_FILE", file.toString())),
                        "x.token"))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("'x.token'")
                .hasMessageContaining("'x.token.file'")
                .hasMessageNotContaining("inline-token");
        assertThatThrownBy(() -> SecretValue.read(
                        config(Map.of(
                                "DUOGUARD_X_TOKEN_FILE", dir.resolve("missing").toString())),
                        "x.token"))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("cannot read")
                .hasMessageContaining("DUOGUARD_X_TOKEN_FILE");
        Path empty = Files.writeString(dir.resolve("empty"), "\n");
        assertThatThrownBy(() -> SecretValue.read(config(Map.of("DUOGUARD_X_TOKEN_FILE", empty.toString())), "x.token"))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("is empty");
    }
}
