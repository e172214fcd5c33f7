package dev.duoguard.runtime.baseline;

import ai.onnx.proto.OnnxMl.TensorProto;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.duoguard.runtime.bundle.BundleManifest;
import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.runtime.onnx.OnnxGraphBuilder;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * A fast, deterministic model for tests, benches and the pipeline's cost: a multilingual <b>keyword lexicon</b>
 * (en/fr/es/de, {@code lexicon.tsv}) compiled into a real model bundle, so that every part of the serving path
 * (tokenizer.json, ONNX Runtime, batching, windowing, manifest checks) runs for real.
 *
 * <p>It is not a trained classifier and says so in its name. The graph:
 * {@code logits[b, c] = max over real tokens t of E[input_ids[b, t], c]}, where E [vocab, 12] holds +3.0 for
 * strong lexicon terms, -0.2 for weak ones and -6.0 elsewhere. The tokenizer is a standard Hugging Face
 * WordPiece {@code tokenizer.json} (lowercase, accents stripped) whose vocabulary is the lexicon plus single
 * characters, so a term also matches its inflections ("kill" in "killing") but not words that merely contain it.
 */
public final class LexiconBaseline {

    public static final String NAME = "duoguard-lexicon-baseline";
    static final float STRONG = 3.0f;
    static final float WEAK = -0.2f;
    static final float BACKGROUND = -6.0f;
    static final int MAX_TOKENS = 128;
    static final int WINDOW_OVERLAP = 32;
    private static final String LEXICON = "lexicon.tsv";
    private static final String PAD = "[PAD]";
    private static final String UNK = "[UNK]";

    private LexiconBaseline() {}

    /** Version = builder revision + hash of the lexicon, so a changed lexicon is a new model version. */
    public static String version() {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(lexiconBytes());
            return "1." + HexFormat.of().formatHex(digest, 0, 6);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Returns a verified bundle of the baseline under {@code cacheRoot/<name>-<version>}, building it first if
     * it is not there (building takes milliseconds; the directory is replaced atomically).
     */
    public static Path ensureBuilt(Path cacheRoot) {
        Path dir = cacheRoot.resolve(NAME + "-" + version());
        try {
            if (Files.isRegularFile(dir.resolve(BundleManifest.FILE_NAME))) {
                ModelBundle.open(dir);
                return dir;
            }
        } catch (IllegalArgumentException corrupt) {
            // rebuild below
        }
        try {
            Files.createDirectories(cacheRoot);
            Path tmp = Files.createTempDirectory(cacheRoot, ".building-");
            build(tmp);
            if (Files.exists(dir)) {
                deleteRecursively(dir);
            }
            try {
                Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException raced) {
                // another process built the same version at the same moment: use its copy if it is valid
                deleteRecursively(tmp);
                ModelBundle.open(dir);
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot build the baseline model under " + cacheRoot, e);
        }
    }

    /** Writes tokenizer.json, model.onnx and manifest.json into {@code dir}. */
    public static void build(Path dir) throws IOException {
        build(dir, 0, 0);
    }

    /**
     * For benchmarks only: the same scores, plus {@code costLayers} dense ReLU layers of width {@code costWidth}
     * over every token whose result is multiplied by zero before it is added to the logits. The model then costs
     * about what a small transformer of that width and depth costs, so a benchmark can show the pipeline when the
     * model, not Kafka, dominates. Named {@code <name>+cost<L>x<W>}.
     */
    public static void build(Path dir, int costLayers, int costWidth) throws IOException {
        Map<String, float[]> terms = parseLexicon();
        List<String> vocab = vocabulary(terms);
        float[] embedding = new float[vocab.size() * SafetyCategory.COUNT];
        Arrays.fill(embedding, BACKGROUND);
        for (int id = 0; id < vocab.size(); id++) {
            float[] row = terms.get(vocab.get(id));
            if (row != null) {
                System.arraycopy(row, 0, embedding, id * SafetyCategory.COUNT, SafetyCategory.COUNT);
            }
        }
        Files.createDirectories(dir);
        writeTokenizer(dir.resolve(BundleManifest.TOKENIZER_FILE), vocab);
        writeModel(dir.resolve(BundleManifest.MODEL_FILE), embedding, vocab.size(), costLayers, costWidth);

        ObjectNode provenance = JsonNodeFactory.instance.objectNode();
        provenance.put("kind", "keyword lexicon compiled to ONNX; NOT a trained classifier");
        provenance.put("builder", LexiconBaseline.class.getName());
        provenance.put("lexicon_terms", terms.size());
        provenance.put("languages", "en, fr, es, de");
        if (costLayers > 0) {
            provenance.put(
                    "benchmark_cost",
                    costLayers + " dense layers of width " + costWidth + " per token, multiplied by 0");
        }
        String name = costLayers > 0 ? NAME + "+cost" + costLayers + "x" + costWidth : NAME;
        ModelBundle.writeManifest(
                dir,
                new BundleManifest(
                        BundleManifest.FORMAT,
                        name,
                        version(),
                        SafetyCategory.displayNames(),
                        0.5,
                        null,
                        MAX_TOKENS,
                        WINDOW_OVERLAP,
                        0L,
                        " ",
                        null,
                        provenance,
                        null));
    }

    /** term → 12 logits (background except the term's categories). */
    static Map<String, float[]> parseLexicon() {
        String text = new String(lexiconBytes(), StandardCharsets.UTF_8);
        Map<String, float[]> terms = new LinkedHashMap<>();
        int lineNo = 0;
        for (String line : text.split("\n")) {
            lineNo++;
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            String[] f = line.split("\t");
            if (f.length != 4) {
                throw new IllegalStateException(
                        LEXICON + " line " + lineNo + ": expected 4 tab-separated fields but found " + f.length);
            }
            SafetyCategory category = SafetyCategory.parse(f[0]);
            float logit = switch (f[1]) {
                case "strong" -> STRONG;
                case "weak" -> WEAK;
                default ->
                    throw new IllegalStateException(
                            LEXICON + " line " + lineNo + ": strength must be strong or weak but is " + f[1]);
            };
            for (String term : f[3].split(",")) {
                String t = term.trim();
                if (!t.matches("[a-z0-9]+")) {
                    throw new IllegalStateException(LEXICON + " line " + lineNo + ": term '" + t
                            + "' must be lowercase ASCII letters/digits (accents are stripped by the tokenizer)");
                }
                float[] row = terms.computeIfAbsent(t, k -> {
                    float[] r = new float[SafetyCategory.COUNT];
                    Arrays.fill(r, BACKGROUND);
                    return r;
                });
                row[category.ordinal()] = Math.max(row[category.ordinal()], logit);
            }
        }
        return terms;
    }

    private static List<String> vocabulary(Map<String, float[]> terms) {
        LinkedHashSet<String> vocab = new LinkedHashSet<>();
        vocab.add(PAD);
        vocab.add(UNK);
        for (char c = 'a'; c <= 'z'; c++) {
            vocab.add(String.valueOf(c));
        }
        for (char c = '0'; c <= '9'; c++) {
            vocab.add(String.valueOf(c));
        }
        for (char c = 'a'; c <= 'z'; c++) {
            vocab.add("##" + c);
        }
        for (char c = '0'; c <= '9'; c++) {
            vocab.add("##" + c);
        }
        vocab.addAll(terms.keySet());
        return List.copyOf(vocab);
    }

    private static void writeTokenizer(Path file, List<String> vocab) throws IOException {
        JsonNodeFactory f = JsonNodeFactory.instance;
        ObjectNode root = f.objectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        for (String special : List.of(PAD, UNK)) {
            ObjectNode t = added.addObject();
            t.put("id", vocab.indexOf(special));
            t.put("content", special);
            t.put("single_word", false);
            t.put("lstrip", false);
            t.put("rstrip", false);
            t.put("normalized", false);
            t.put("special", true);
        }
        ObjectNode normalizer = root.putObject("normalizer");
        normalizer.put("type", "BertNormalizer");
        normalizer.put("clean_text", true);
        normalizer.put("handle_chinese_chars", true);
        normalizer.put("strip_accents", true);
        normalizer.put("lowercase", true);
        root.putObject("pre_tokenizer").put("type", "BertPreTokenizer");
        root.putNull("post_processor");
        ObjectNode decoder = root.putObject("decoder");
        decoder.put("type", "WordPiece");
        decoder.put("prefix", "##");
        decoder.put("cleanup", true);
        ObjectNode model = root.putObject("model");
        model.put("type", "WordPiece");
        model.put("unk_token", UNK);
        model.put("continuing_subword_prefix", "##");
        model.put("max_input_chars_per_word", 100);
        ObjectNode v = model.putObject("vocab");
        for (int i = 0; i < vocab.size(); i++) {
            v.put(vocab.get(i), i);
        }
        new ObjectMapper().writerWithDefaultPrettyPrinter().writeValue(file.toFile(), root);
    }

    private static void writeModel(Path file, float[] embedding, int vocabSize, int costLayers, int costWidth)
            throws IOException {
        OnnxGraphBuilder g = new OnnxGraphBuilder("lexicon_max_pool");
        g.input("input_ids", TensorProto.DataType.INT64, "batch", "tokens");
        g.input("attention_mask", TensorProto.DataType.INT64, "batch", "tokens");
        g.output("logits", TensorProto.DataType.FLOAT, "batch", (long) SafetyCategory.COUNT);
        g.floatInitializer("term_logits", embedding, vocabSize, SafetyCategory.COUNT); // (vocab, 12)
        g.floatInitializer("one", new float[] {1f});
        g.floatInitializer("minus_big", new float[] {-1e4f});
        g.longInitializer("axis_last", new long[] {2}, 1);
        g.node("Gather", "token_logits", Map.of("axis", 0L), "term_logits", "input_ids"); // (B, T, 12)
        g.node(
                "Cast",
                "mask_f",
                Map.of("to", (long) TensorProto.DataType.FLOAT.getNumber()),
                "attention_mask"); // (B, T)
        g.node("Unsqueeze", "mask_3d", "mask_f", "axis_last"); // (B, T, 1)
        g.node("Sub", "pad_flag", "one", "mask_3d"); // 1 on padding
        g.node("Mul", "pad_penalty", "pad_flag", "minus_big"); // -1e4 on padding
        g.node("Add", "masked_logits", "token_logits", "pad_penalty"); // (B, T, 12)
        String pooled = costLayers > 0 ? "lexicon_logits" : "logits";
        g.node("ReduceMax", pooled, Map.of("axes", new long[] {1}, "keepdims", 0L), "masked_logits"); // (B, 12)
        if (costLayers > 0) {
            Random rnd = new Random(42);
            float scale = (float) (1 / Math.sqrt(costWidth));
            String h = g.node(
                    "MatMul",
                    "cost_h0",
                    "token_logits",
                    g.floatInitializer(
                            "cost_w0",
                            randomMatrix(rnd, SafetyCategory.COUNT, costWidth, scale),
                            SafetyCategory.COUNT,
                            costWidth));
            for (int l = 1; l <= costLayers; l++) { // (B, T, W)
                String mm = g.node(
                        "MatMul",
                        "cost_mm" + l,
                        h,
                        g.floatInitializer(
                                "cost_w" + l, randomMatrix(rnd, costWidth, costWidth, scale), costWidth, costWidth));
                h = g.node("Relu", "cost_h" + l, mm);
            }
            g.node("ReduceMean", "cost_pooled", Map.of("axes", new long[] {1}, "keepdims", 0L), h); // (B, W)
            g.node(
                    "MatMul",
                    "cost_out",
                    "cost_pooled",
                    g.floatInitializer(
                            "cost_wout",
                            randomMatrix(rnd, costWidth, SafetyCategory.COUNT, scale),
                            costWidth,
                            SafetyCategory.COUNT));
            g.node("Mul", "cost_zero", "cost_out", g.floatInitializer("zero", new float[] {0f})); // (B, 12) of zeros
            g.node("Add", "logits", "lexicon_logits", "cost_zero");
        }
        OnnxGraphBuilder.write(
                g.build(
                        "duoguard " + LexiconBaseline.class.getSimpleName(),
                        Map.of("model_name", NAME, "model_version", version())),
                file);
    }

    private static float[] randomMatrix(Random rnd, int rows, int cols, float scale) {
        float[] m = new float[rows * cols];
        for (int i = 0; i < m.length; i++) {
            m[i] = (rnd.nextFloat() * 2 - 1) * scale;
        }
        return m;
    }

    private static byte[] lexiconBytes() {
        try (InputStream in = LexiconBaseline.class.getResourceAsStream(LEXICON)) {
            if (in == null) {
                throw new IllegalStateException(LEXICON + " is missing from the classpath");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void deleteRecursively(Path dir) throws IOException {
        try (var paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
