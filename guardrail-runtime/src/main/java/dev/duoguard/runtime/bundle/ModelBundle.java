package dev.duoguard.runtime.bundle;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * A verified model bundle directory: {@code manifest.json}, {@code model.onnx} (plus any external-data files it
 * names) and {@code tokenizer.json}. {@link #open} refuses a bundle whose manifest is missing or malformed, whose
 * files fail their sha256, or whose categories are not DuoGuard's 12 in order.
 */
public final class ModelBundle {

    static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false)
            .enable(SerializationFeature.INDENT_OUTPUT)
            .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS);

    /** In {@code language_thresholds}: every category of that language. */
    public static final String ALL_CATEGORIES = "*";

    private final Path directory;
    private final BundleManifest manifest;
    private final String manifestSha256;

    private ModelBundle(Path directory, BundleManifest manifest, String manifestSha256) {
        this.directory = directory;
        this.manifest = manifest;
        this.manifestSha256 = manifestSha256;
    }

    public static ModelBundle open(Path directory) {
        Path dir = directory.toAbsolutePath().normalize();
        if (!Files.isDirectory(dir)) {
            throw new InvalidBundleException("model bundle " + dir + " is not a directory");
        }
        Path manifestFile = dir.resolve(BundleManifest.FILE_NAME);
        if (!Files.isRegularFile(manifestFile)) {
            throw new InvalidBundleException("model bundle " + dir + " has no " + BundleManifest.FILE_NAME);
        }
        BundleManifest manifest;
        try {
            manifest = JSON.readValue(manifestFile.toFile(), BundleManifest.class);
        } catch (IOException e) {
            throw new InvalidBundleException(manifestFile + " is not a valid manifest: " + e.getMessage(), e);
        }
        validateFields(manifestFile, manifest);
        verifyChecksums(dir, manifest);
        return new ModelBundle(dir, manifest, sha256(manifestFile));
    }

    private static void validateFields(Path manifestFile, BundleManifest m) {
        if (m.name() == null || m.name().isBlank()) {
            throw new InvalidBundleException(manifestFile + ": 'name' is required");
        }
        if (m.version() == null || m.version().isBlank()) {
            throw new InvalidBundleException(manifestFile + ": 'version' is required");
        }
        if (m.format() != null && !BundleManifest.FORMAT.equals(m.format())) {
            throw new InvalidBundleException(manifestFile + ": format '" + m.format() + "' is not supported; expected '"
                    + BundleManifest.FORMAT + "'");
        }
        List<String> expected = SafetyCategory.displayNames();
        if (m.categories() == null || !m.categories().equals(expected)) {
            throw new InvalidBundleException(manifestFile + ": categories must be DuoGuard's " + expected.size()
                    + " in order " + expected + " but the manifest has " + m.categories());
        }
        for (Map.Entry<String, Double> t : m.thresholdsOrEmpty().entrySet()) {
            SafetyCategory.parse(t.getKey());
            if (t.getValue() == null || !(t.getValue() > 0 && t.getValue() < 1)) {
                throw new InvalidBundleException(
                        manifestFile + ": threshold for '" + t.getKey() + "' must be in (0, 1) but is " + t.getValue());
            }
        }
        validateLanguageThresholds(manifestFile, m);
        if (m.maxTokensOrDefault() < 2) {
            throw new InvalidBundleException(manifestFile + ": max_tokens must be at least 2 but is " + m.maxTokens());
        }
        int specials =
                m.prefixTokenIdsOrEmpty().size() + m.suffixTokenIdsOrEmpty().size();
        if (m.maxTokensOrDefault() <= specials) {
            throw new InvalidBundleException(manifestFile + ": max_tokens " + m.maxTokensOrDefault()
                    + " leaves no room for text next to the " + specials + " prefix/suffix special tokens of every"
                    + " window; raise max_tokens above " + specials);
        }
        int overlap = m.windowOverlapOrDefault();
        int content = m.maxTokensOrDefault() - specials; // text tokens per window: the overlap must leave a stride
        if (overlap < 0 || overlap >= content) {
            throw new InvalidBundleException(manifestFile + ": window_overlap must be in [0, " + content
                    + ") (max_tokens " + m.maxTokensOrDefault() + " less " + specials
                    + " special tokens per window) but is " + overlap);
        }
        if (m.files() == null
                || !m.files().containsKey(BundleManifest.MODEL_FILE)
                || !m.files().containsKey(BundleManifest.TOKENIZER_FILE)) {
            throw new InvalidBundleException(manifestFile + ": 'files' must list the sha256 of "
                    + BundleManifest.MODEL_FILE + " and " + BundleManifest.TOKENIZER_FILE + " but lists "
                    + (m.files() == null ? "nothing" : m.files().keySet()));
        }
    }

    /** Language keys as the scorer reports them (ISO 639-1, some 639-3) or "und"; category keys or "*". */
    private static void validateLanguageThresholds(Path manifestFile, BundleManifest m) {
        for (Map.Entry<String, Map<String, Double>> lang :
                m.languageThresholdsOrEmpty().entrySet()) {
            String code = lang.getKey();
            if (code == null || !code.matches("[a-z]{2,3}")) {
                throw new InvalidBundleException(manifestFile + ": language_thresholds key '" + code
                        + "' must be a 2-3 letter lower-case language code or 'und'");
            }
            if (lang.getValue() == null || lang.getValue().isEmpty()) {
                throw new InvalidBundleException(manifestFile + ": language_thresholds of '" + code + "' is empty");
            }
            for (Map.Entry<String, Double> t : lang.getValue().entrySet()) {
                if (!ALL_CATEGORIES.equals(t.getKey())) {
                    try {
                        SafetyCategory.parse(t.getKey());
                    } catch (IllegalArgumentException e) {
                        throw new InvalidBundleException(
                                manifestFile + ": language_thresholds of '" + code + "': " + e.getMessage());
                    }
                }
                if (t.getValue() == null || !(t.getValue() > 0 && t.getValue() < 1)) {
                    throw new InvalidBundleException(manifestFile + ": language_thresholds of '" + code + "' for '"
                            + t.getKey() + "' must be in (0, 1) but is " + t.getValue());
                }
            }
        }
    }

    private static void verifyChecksums(Path dir, BundleManifest m) {
        for (Map.Entry<String, String> f : m.files().entrySet()) {
            Path file = dir.resolve(f.getKey()).normalize();
            if (!file.startsWith(dir)) {
                throw new InvalidBundleException("bundle file '" + f.getKey() + "' points outside the bundle " + dir);
            }
            if (!Files.isRegularFile(file)) {
                throw new InvalidBundleException("bundle " + dir + " lists " + f.getKey() + " but the file is missing");
            }
            String actual = sha256(file);
            if (!actual.equalsIgnoreCase(f.getValue())) {
                throw new InvalidBundleException("checksum mismatch for " + file + ": manifest says sha256 "
                        + f.getValue() + " but the file has " + actual + " (corrupt or replaced file)");
            }
        }
    }

    /**
     * Writes {@code manifest.json} into {@code dir}, filling {@code files} with the sha256 of every regular file
     * in the directory (except the manifest itself). Returns the written manifest.
     */
    public static BundleManifest writeManifest(Path dir, BundleManifest manifest) throws IOException {
        Map<String, String> files = new TreeMap<>();
        try (var paths = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) paths::iterator) {
                if (Files.isRegularFile(p) && !p.getFileName().toString().equals(BundleManifest.FILE_NAME)) {
                    files.put(dir.relativize(p).toString().replace('\\', '/'), sha256(p));
                }
            }
        }
        BundleManifest complete = manifest.withFiles(new LinkedHashMap<>(files));
        if (complete.format() == null) {
            complete = new BundleManifest(
                    BundleManifest.FORMAT,
                    complete.name(),
                    complete.version(),
                    complete.categories(),
                    complete.defaultThreshold(),
                    complete.thresholds(),
                    complete.maxTokens(),
                    complete.windowOverlap(),
                    complete.padTokenId(),
                    complete.pairSeparator(),
                    complete.files(),
                    complete.provenance(),
                    complete.metrics(),
                    complete.languageThresholds(),
                    complete.prefixTokenIds(),
                    complete.suffixTokenIds());
        }
        JSON.writeValue(dir.resolve(BundleManifest.FILE_NAME).toFile(), complete);
        return complete;
    }

    public static String sha256(Path file) {
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), MessageDigest.getInstance("SHA-256"))) {
            byte[] buf = new byte[1 << 16];
            while (in.read(buf) >= 0) {
                // reading feeds the digest
            }
            return HexFormat.of()
                    .formatHex(((DigestInputStream) in).getMessageDigest().digest());
        } catch (IOException e) {
            throw new InvalidBundleException("cannot read " + file + ": " + e.getMessage(), e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    public Path directory() {
        return directory;
    }

    public BundleManifest manifest() {
        return manifest;
    }

    /** sha256 of manifest.json, which pins the sha256 of every other file: the bundle's identity. */
    public String manifestSha256() {
        return manifestSha256;
    }

    public Path modelFile() {
        return directory.resolve(BundleManifest.MODEL_FILE);
    }

    public Path tokenizerFile() {
        return directory.resolve(BundleManifest.TOKENIZER_FILE);
    }

    /** Effective global threshold of each category in logit order: {@code thresholds}, else the default. */
    public float[] thresholds() {
        float[] t = new float[SafetyCategory.COUNT];
        Arrays.fill(t, (float) manifest.defaultThresholdOrDefault());
        manifest.thresholdsOrEmpty().forEach((k, v) -> t[SafetyCategory.parse(k).ordinal()] = v.floatValue());
        return t;
    }

    /**
     * Effective thresholds for a text in {@code language}: the language's entry for a category, else its
     * {@code "*"}, else the global {@link #thresholds()}. A language without an entry (or null) gets the global ones.
     */
    public float[] thresholds(String language) {
        float[] t = thresholds();
        Map<String, Double> forLanguage =
                language == null ? null : manifest.languageThresholdsOrEmpty().get(language.toLowerCase(Locale.ROOT));
        if (forLanguage != null) {
            Double all = forLanguage.get(ALL_CATEGORIES);
            if (all != null) {
                Arrays.fill(t, all.floatValue());
            }
            forLanguage.forEach((k, v) -> {
                if (!ALL_CATEGORIES.equals(k)) {
                    t[SafetyCategory.parse(k).ordinal()] = v.floatValue();
                }
            });
        }
        return t;
    }

    /** Effective thresholds of every language the manifest names, by language code. */
    public Map<String, float[]> languageThresholds() {
        Map<String, float[]> out = new TreeMap<>();
        manifest.languageThresholdsOrEmpty().keySet().forEach(lang -> out.put(lang, thresholds(lang)));
        return out;
    }

    @Override
    public String toString() {
        return manifest.name() + "@" + manifest.version() + " (" + directory + ")";
    }
}
