package dev.duoguard.lifecycle;

import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.schemas.ModelVersion;
import java.net.URI;
import java.nio.file.Path;

/**
 * Where a published version's bundle is and whether it is the one its record describes, checked in place. The
 * trainer uses it before it takes an ACTIVE version from its own artifact store as its gate's yardstick; the
 * streams apps, which serve what they load, use {@link TrustedArtifacts} instead (signature, artifact roots, a
 * verified private copy).
 */
public final class ModelArtifacts {

    private ModelArtifacts() {}

    /**
     * The bundle directory of {@code mv} after checking it: every file against the manifest, the manifest against
     * the record's sha256, the version against the record's. Throws with the reason otherwise.
     */
    public static Path verify(ModelVersion mv) {
        Path bundle = path(mv.getArtifactUri());
        ModelBundle opened = ModelBundle.open(bundle);
        if (!opened.manifestSha256().equals(mv.getSha256())) {
            throw new IllegalStateException("checksum mismatch: the manifest's sha256 is " + opened.manifestSha256()
                    + " but the record says " + mv.getSha256());
        }
        if (!opened.manifest().version().equals(mv.getVersion())) {
            throw new IllegalStateException(
                    "the bundle is version " + opened.manifest().version() + " but the record says " + mv.getVersion());
        }
        return bundle;
    }

    /** The local path of an artifact URI: a plain path or a {@code file:} URI (a local or shared volume). */
    static Path path(String uri) {
        URI u = URI.create(uri);
        if (u.getScheme() == null) {
            return Path.of(uri);
        }
        if (!u.getScheme().equals("file")) {
            throw new IllegalArgumentException(
                    "artifact " + uri + ": only file: URIs (a local or shared volume) are " + "supported");
        }
        return Path.of(u);
    }
}
