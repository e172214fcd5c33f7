package dev.duoguard.streams.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.lifecycle.BundleSignature;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelsKeygenTest {

    @Test
    void keygenWritesAPairTheTrainerSignsWithAndInstancesTrustAndNeverOverwritesIt(@TempDir Path dir) throws Exception {
        String out = dir.resolve("keys").toString();

        assertThat(DuoGuardCli.commandLine().execute("models", "keygen", "--out", out, "--key-name", "t1"))
                .isZero();

        Path key = dir.resolve("keys/t1.key");
        assertThat(Files.readString(key)).startsWith("-----BEGIN PRIVATE KEY-----");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(key)))
                .isEqualTo("rw-------");
        BundleSignature.Signer signer = BundleSignature.Signer.load(key);
        assertThat(BundleSignature.trustedKeys(List.of(dir.resolve("keys/t1.pub"))))
                .containsOnlyKeys(signer.keyId());
        byte[] before = Files.readAllBytes(key);
        assertThat(DuoGuardCli.commandLine().execute("models", "keygen", "--out", out, "--key-name", "t1"))
                .as("an existing key is not overwritten")
                .isNotZero();
        assertThat(Files.readAllBytes(key)).isEqualTo(before);
    }
}
