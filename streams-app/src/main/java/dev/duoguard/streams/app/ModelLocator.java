package dev.duoguard.streams.app;

import dev.duoguard.runtime.baseline.LexiconBaseline;
import java.nio.file.Files;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Which bundle to serve when none is configured: the project's committed default bundle ({@code models/default}
 * under the install directory, shipped by the trainer issues) if present, else the lexicon baseline, built on the
 * fly into a cache directory.
 */
public final class ModelLocator {

    private static final Logger log = LoggerFactory.getLogger(ModelLocator.class);

    private ModelLocator() {}

    public static Path resolve(Path configured) {
        if (configured != null) {
            return configured;
        }
        String home = System.getenv().getOrDefault("DUOGUARD_HOME", ".");
        Path committed = Path.of(home, "models", "default");
        if (Files.isRegularFile(committed.resolve("manifest.json"))) {
            return committed;
        }
        Path cache = Path.of(System.getProperty("java.io.tmpdir"), "duoguard-models");
        Path baseline = LexiconBaseline.ensureBuilt(cache);
        log.info(
                "no model configured and no trained default bundle at {}: serving the lexicon baseline "
                        + "(a keyword list compiled to ONNX, not a trained classifier) from {}",
                committed,
                baseline);
        return baseline;
    }
}
