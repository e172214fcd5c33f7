package dev.duoguard.streams.it;

import dev.duoguard.runtime.baseline.LexiconBaseline;
import dev.duoguard.runtime.bundle.BundleManifest;
import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.schemas.Category;
import dev.duoguard.schemas.CategoryThreshold;
import dev.duoguard.schemas.ModelStatus;
import dev.duoguard.schemas.ModelVersion;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/** Model versions for tests: copies of the lexicon baseline under other versions, and their models-topic records. */
final class Bundles {

    private Bundles() {}

    /** The baseline bundle itself (built once under {@code dir}). */
    static Path baseline(Path dir) {
        return LexiconBaseline.ensureBuilt(dir.resolve("models"));
    }

    /** A copy of the baseline bundle under another version: a verified bundle that is a different model version. */
    static Path version(Path dir, String version) throws IOException {
        return copy(dir, version, false);
    }

    /**
     * A bundle of {@code version} that verifies (its manifest pins the sha256 of the files it has) but does not
     * load: its model file is not ONNX, as if a corrupt file had been exported and published.
     */
    static Path unloadable(Path dir, String version) throws IOException {
        return copy(dir, version, true);
    }

    private static Path copy(Path dir, String version, boolean corruptModel) throws IOException {
        Path v1 = baseline(dir);
        Path copy = Files.createDirectories(dir.resolve("bundle-" + version));
        try (var files = Files.list(v1)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                Files.copy(f, copy.resolve(f.getFileName()), StandardCopyOption.REPLACE_EXISTING);
            }
        }
        if (corruptModel) {
            Files.write(copy.resolve(BundleManifest.MODEL_FILE), new byte[] {1, 2, 3, 4, 5, 6, 7, 8});
        }
        BundleManifest m = ModelBundle.open(v1).manifest();
        ModelBundle.writeManifest(copy, m.withFiles(null).withIdentity(m.name(), version));
        return copy;
    }

    /** The record the trainer (CANDIDATE) or a promotion (ACTIVE) writes for {@code bundle}. */
    static ModelVersion record(Path bundle, ModelStatus status) {
        ModelBundle b = ModelBundle.open(bundle);
        List<Category> cats = new ArrayList<>();
        List<CategoryThreshold> ts = new ArrayList<>();
        for (Category c : Category.values()) {
            cats.add(c);
            ts.add(new CategoryThreshold(c, 0.5f));
        }
        return ModelVersion.newBuilder()
                .setModelName(b.manifest().name())
                .setVersion(b.manifest().version())
                .setArtifactUri(bundle.toUri().toString())
                .setSha256(b.manifestSha256())
                .setCategories(cats)
                .setThresholds(ts)
                .setStatus(status)
                .setCreatedAt(Instant.now())
                .build();
    }
}
