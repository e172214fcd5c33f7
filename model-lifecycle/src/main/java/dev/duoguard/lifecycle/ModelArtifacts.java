package dev.duoguard.lifecycle;

import java.net.URI;
import java.nio.file.Path;

/**
 * Where a published version's bundle is. Whether it may be served is {@link TrustedArtifacts}' question
 * (signature, artifact roots, a verified private copy), for the streams apps and the trainer's yardstick alike.
 */
public final class ModelArtifacts {

    private ModelArtifacts() {}

    /** The local path of an artifact URI: a plain path or a {@code file:} URI (a local or shared volume). */
    static Path path(String uri) {
        URI u = URI.create(uri);
        if (u.getScheme() == null) {
            return Path.of(uri);
        }
        if (!u.getScheme().equals("file")) {
            throw new IllegalArgumentException(
                    "artifact " + uri + ": only file: URIs (a local or shared volume) are supported");
        }
        return Path.of(u);
    }
}
