package dev.duoguard.lifecycle;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.duoguard.runtime.baseline.LexiconBaseline;
import dev.duoguard.runtime.bundle.BundleManifest;
import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.schemas.ModelStatus;
import dev.duoguard.schemas.ModelVersion;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.PublicKey;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Issue 14, "Signatures": what an instance serves from the models topic, and what it refuses with which reason. */
class TrustedArtifactsTest {

    @TempDir
    Path tmp;

    Path roots;
    Path staging;
    BundleSignature.Signer trainer;
    Map<String, PublicKey> trusted;

    @BeforeEach
    void keys() throws IOException {
        roots = Files.createDirectories(tmp.resolve("artifacts"));
        staging = tmp.resolve("state/models");
        Path keys = tmp.resolve("keys");
        trainer = BundleSignature.Signer.load(BundleSignature.keygen(keys, "trainer"));
        trusted = BundleSignature.trustedKeys(List.of(keys.resolve("trainer.pub")));
    }

    TrustedArtifacts artifacts(boolean allowUnsigned) {
        return new TrustedArtifacts(trusted, List.of(roots), allowUnsigned, staging);
    }

    /** A real bundle (the lexicon baseline) in the artifact store, signed by {@code signer} unless null. */
    Path bundle(String name, BundleSignature.Signer signer) throws IOException {
        Path dir = roots.resolve(name);
        LexiconBaseline.build(dir);
        if (signer != null) {
            BundleSignature.sign(dir, signer);
        }
        return dir;
    }

    static ModelVersion record(Path dir) {
        ModelBundle b = ModelBundle.open(dir);
        return ModelVersion.newBuilder(
                        ModelKeyTest.record(b.manifest().name(), b.manifest().version(), ModelStatus.CANDIDATE))
                .setArtifactUri(dir.toUri().toString())
                .setSha256(b.manifestSha256())
                .build();
    }

    @Test
    void aSignedBundleIsServedFromAVerifiedPrivateCopy() throws IOException {
        Path dir = bundle("v2", trainer);

        Path copy = artifacts(false).fetch(record(dir));

        assertThat(copy).startsWith(staging.toAbsolutePath()).isNotEqualTo(dir);
        assertThat(ModelBundle.open(copy).manifestSha256())
                .isEqualTo(ModelBundle.open(dir).manifestSha256());
        assertThat(Files.readAllBytes(copy.resolve(BundleManifest.MODEL_FILE)))
                .isEqualTo(Files.readAllBytes(dir.resolve(BundleManifest.MODEL_FILE)));
        // the source changing afterwards does not change what was checked and is loaded
        Files.write(dir.resolve(BundleManifest.MODEL_FILE), new byte[] {1, 2, 3});
        assertThat(ModelBundle.open(copy).manifest().name()).isEqualTo(LexiconBaseline.NAME);
    }

    @Test
    void eachFetchIsItsOwnCopyAndDiscardRemovesOnlyCopies() throws IOException {
        Path dir = bundle("v2", trainer);
        TrustedArtifacts artifacts = artifacts(false);

        Path shadowed = artifacts.fetch(record(dir));
        Path served = artifacts.fetch(record(dir)); // the same version, promoted while its shadow still runs
        assertThat(served).isNotEqualTo(shadowed);

        artifacts.discard(shadowed); // the shadow is closed
        assertThat(shadowed).doesNotExist();
        assertThat(ModelBundle.open(served).manifestSha256())
                .isEqualTo(ModelBundle.open(dir).manifestSha256());

        artifacts.discard(dir); // not a copy: the operator's own bundle is never touched
        assertThat(dir.resolve(BundleManifest.FILE_NAME)).exists();
        Path notHandedOut = Files.createDirectories(staging.resolve("not-a-copy"));
        artifacts.discard(notHandedOut); // in the staging folder, but not one fetch handed out
        assertThat(notHandedOut).exists();
        Files.delete(notHandedOut);
        artifacts.discard(shadowed); // discarded twice: nothing happens
        assertThat(served).exists();
        artifacts.discard(served);
        assertThat(staging).isEmptyDirectory();
    }

    @Test
    void anUnsignedBundleIsRefusedUnlessUnsignedBundlesAreAllowed() throws IOException {
        Path dir = bundle("v2", null);

        assertThatThrownBy(() -> artifacts(false).fetch(record(dir)))
                .hasMessageContaining("unsigned: the bundle has no manifest.sig");
        assertThat(staging).isEmptyDirectory(); // the refused copy is removed
        assertThat(artifacts(true).fetch(record(dir))).exists();
    }

    @Test
    void aBundleSignedWithAnUntrustedKeyIsRefused() throws IOException {
        BundleSignature.Signer stranger =
                BundleSignature.Signer.load(BundleSignature.keygen(tmp.resolve("other"), "stranger"));
        Path dir = bundle("v2", stranger);

        assertThatThrownBy(() -> artifacts(false).fetch(record(dir)))
                .hasMessageContaining("signed with key " + stranger.keyId() + ", which is not a trusted key");
    }

    @Test
    void aManifestChangedAfterSigningIsRefusedEvenWhereUnsignedBundlesAreAllowed() throws IOException {
        Path dir = bundle("v2", trainer);
        Path manifest = dir.resolve(BundleManifest.FILE_NAME);
        String text = Files.readString(manifest, StandardCharsets.UTF_8);
        Files.writeString(manifest, text.replaceFirst("\"name\"", "\"default_threshold\" : 0.99,\n  \"name\""));
        ModelVersion mv = record(dir); // the record matches the tampered manifest: only the signature tells

        assertThatThrownBy(() -> artifacts(false).fetch(mv))
                .hasMessageContaining("bad signature: manifest.json does not verify with key " + trainer.keyId());
        assertThatThrownBy(() -> artifacts(true).fetch(mv)).hasMessageContaining("bad signature");
    }

    @Test
    void aFileTheManifestDoesNotListIsRefused() throws IOException {
        Path dir = bundle("v2", null);
        // ONNX Runtime would read external data named by model.onnx from beside it: it must be pinned too
        Files.write(dir.resolve("model.onnx.data"), new byte[] {42});
        BundleSignature.sign(dir, trainer);

        assertThatThrownBy(() -> artifacts(false).fetch(record(dir)))
                .hasMessageContaining("unlisted files [model.onnx.data]");
    }

    @Test
    void aSymbolicLinkInsideTheBundleIsRefused() throws IOException {
        Path dir = bundle("v2", trainer);
        Path tokenizer = dir.resolve(BundleManifest.TOKENIZER_FILE);
        Path elsewhere = Files.move(tokenizer, tmp.resolve("tokenizer.json"));
        Files.createSymbolicLink(tokenizer, elsewhere); // same bytes, so its sha256 matches: only the link tells

        assertThatThrownBy(() -> artifacts(false).fetch(record(dir)))
                .hasMessageContaining("bundle file tokenizer.json is a symbolic link: refused");
    }

    @Test
    void anArtifactOutsideTheRootsIsRefusedAlsoThroughALink() throws IOException {
        Path outside = tmp.resolve("elsewhere/v2");
        LexiconBaseline.build(outside);
        BundleSignature.sign(outside, trainer);

        assertThatThrownBy(() -> artifacts(false).fetch(record(outside)))
                .hasMessageContaining("is outside the artifact roots");
        Path link = Files.createSymbolicLink(roots.resolve("v2"), outside);
        assertThatThrownBy(() -> artifacts(false).fetch(record(link)))
                .as("the real path counts, not the lexical one")
                .hasMessageContaining("(" + outside.toRealPath() + ") is outside the artifact roots");
        assertThatThrownBy(() ->
                        new TrustedArtifacts(trusted, List.of(), false, staging).fetch(record(bundle("v3", trainer))))
                .as("no roots: nothing is served from the topic")
                .hasMessageContaining("outside the artifact roots []");
    }

    @Test
    void theRecordMustNameTheSignedManifest() throws IOException {
        Path dir = bundle("v2", trainer);
        ModelVersion mv = record(dir);

        assertThatThrownBy(() -> artifacts(false)
                        .fetch(ModelVersion.newBuilder(mv).setSha256("f00").build()))
                .hasMessageContaining("checksum mismatch");
        assertThatThrownBy(() -> artifacts(false)
                        .fetch(ModelVersion.newBuilder(mv).setVersion("99").build()))
                .hasMessageContaining("but the record says " + mv.getModelName() + "@99");
    }

    @Test
    void aSigningKeyNeedsItsOwnPublicKeyBesideIt() throws IOException {
        Path a = BundleSignature.keygen(tmp.resolve("a"), "k");
        Path b = BundleSignature.keygen(tmp.resolve("b"), "k");
        Files.copy(b.resolveSibling("k.pub"), a.resolveSibling("k.pub"), StandardCopyOption.REPLACE_EXISTING);

        assertThatThrownBy(() -> BundleSignature.Signer.load(a)).hasMessageContaining("are not a pair");
        assertThatThrownBy(() -> BundleSignature.keygen(tmp.resolve("a"), "k")).hasMessageContaining("not overwriting");
    }
}
