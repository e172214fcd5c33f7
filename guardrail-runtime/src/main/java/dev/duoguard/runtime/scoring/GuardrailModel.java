package dev.duoguard.runtime.scoring;

import dev.duoguard.runtime.bundle.BundleManifest;
import dev.duoguard.runtime.bundle.InvalidBundleException;
import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.runtime.onnx.ExecutionDevice;
import dev.duoguard.runtime.onnx.IncrementalDecoder;
import dev.duoguard.runtime.onnx.OnnxClassifier;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import dev.duoguard.runtime.tokenizer.GuardrailTokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * A loaded, verified bundle that turns texts into category probabilities.
 *
 * <p>Each text is tokenized once. A text longer than the model window is cut into overlapping windows (stride
 * = window - overlap) that together cover every token: nothing is truncated away, and the text's score per
 * category is the maximum over its windows. Encoder bundles name special tokens ({@code prefix_token_ids},
 * {@code suffix_token_ids}, e.g. {@code [CLS]} and {@code [SEP]}): every row is then prefix + slice + suffix, the
 * slices are cut from the text's tokens with room for them (window - |prefix| - |suffix| tokens), and the overlap
 * is counted in text tokens (capped so windows always advance).
 *
 * <p>All windows of a call are sorted by length and cut into model batches
 * of at most {@code maxBatchRows}, each padded to its own longest row (right padding with the manifest's pad id).
 * A batch is also cut where padding would exceed {@value #MAX_PADDING_RATIO}x the real tokens: padded positions
 * cost as much compute as real ones, and on a CPU a long row padding many short ones is slower than two calls.
 *
 * <p>A decoder bundle whose manifest lists {@value IncrementalDecoder#MODEL_FILE} (so its sha256 is verified with
 * the others) also offers {@link #incremental()}: per-reply key/value caches for streamed replies. It is loaded with
 * the bundle, and a graph that does not load fails the whole load: a bundle is served as it was published or not at
 * all. Its bound is the window, so a cached score always covers what one rescoring window covers.
 */
public final class GuardrailModel implements Scorer, AutoCloseable {

    static final double MAX_PADDING_RATIO = 1.25;

    private final ModelBundle bundle;
    private final GuardrailTokenizer tokenizer;
    private final OnnxClassifier classifier;
    private final int window;
    /** Text tokens per window: the window less the special tokens around it. */
    private final int overlap;

    private final long[] prefix;
    private final long[] suffix;
    private final long padId;
    private final int maxBatchRows;
    private final ModelIdentity identity;
    /** Null when the bundle has no incremental graph. */
    private final Incremental incremental;

    private GuardrailModel(
            ModelBundle bundle,
            GuardrailTokenizer tokenizer,
            OnnxClassifier classifier,
            IncrementalDecoder decoder,
            int maxBatchRows) {
        this.bundle = bundle;
        this.tokenizer = tokenizer;
        this.classifier = classifier;
        BundleManifest m = bundle.manifest();
        this.window = m.maxTokensOrDefault();
        this.prefix =
                m.prefixTokenIdsOrEmpty().stream().mapToLong(Long::longValue).toArray();
        this.suffix =
                m.suffixTokenIdsOrEmpty().stream().mapToLong(Long::longValue).toArray();
        this.overlap = m.windowOverlapOrDefault(); // window > |prefix| + |suffix|: ModelBundle refuses other manifests
        this.padId = m.padTokenIdOrDefault();
        this.maxBatchRows = maxBatchRows;
        this.identity = new ModelIdentity(
                m.name(),
                m.version(),
                bundle.thresholds(),
                classifier.deviceDescription(),
                bundle.languageThresholds());
        this.incremental = decoder == null ? null : new Incremental(decoder);
    }

    /** Opens and verifies {@code bundleDir}; see {@link ModelBundle#open} and {@link OnnxClassifier}. */
    public static GuardrailModel load(Path bundleDir, ExecutionDevice device, int intraOpThreads, int maxBatchRows) {
        return load(bundleDir, device, intraOpThreads, maxBatchRows, true);
    }

    /**
     * As {@link #load(Path, ExecutionDevice, int, int)}; {@code incremental} false leaves a decoder bundle's
     * incremental graph unloaded (it is still verified with the bundle): a second ONNX session with its own copy of
     * the weights that nothing would use when reply caches are off.
     */
    public static GuardrailModel load(
            Path bundleDir, ExecutionDevice device, int intraOpThreads, int maxBatchRows, boolean incremental) {
        if (maxBatchRows < 1) {
            throw new IllegalArgumentException("maxBatchRows must be at least 1 but is " + maxBatchRows);
        }
        ModelBundle bundle = ModelBundle.open(bundleDir);
        GuardrailTokenizer tokenizer = GuardrailTokenizer.load(bundle.tokenizerFile());
        OnnxClassifier classifier = null;
        try {
            classifier = new OnnxClassifier(bundle.modelFile(), SafetyCategory.COUNT, device, intraOpThreads);
            IncrementalDecoder decoder = incremental ? loadIncremental(bundle, device, intraOpThreads) : null;
            return new GuardrailModel(bundle, tokenizer, classifier, decoder, maxBatchRows);
        } catch (RuntimeException e) {
            if (classifier != null) {
                classifier.close();
            }
            tokenizer.close();
            throw e;
        }
    }

    private static IncrementalDecoder loadIncremental(ModelBundle bundle, ExecutionDevice device, int threads) {
        BundleManifest m = bundle.manifest();
        if (!m.files().containsKey(IncrementalDecoder.MODEL_FILE)) {
            return null;
        }
        try {
            return new IncrementalDecoder(
                    bundle.directory().resolve(IncrementalDecoder.MODEL_FILE),
                    SafetyCategory.COUNT,
                    device,
                    threads,
                    m.maxTokensOrDefault());
        } catch (InvalidBundleException e) {
            throw new InvalidBundleException(
                    "bundle " + m.name() + "@" + m.version() + " lists " + IncrementalDecoder.MODEL_FILE
                            + " but that incremental decoder graph cannot be used: " + e.getMessage(),
                    e);
        }
    }

    @Override
    public String pairText(String prompt, String reply) {
        return prompt + bundle.manifest().pairSeparatorOrDefault() + reply;
    }

    @Override
    public List<TextScores> score(List<String> texts) {
        List<Row> rows = new ArrayList<>();
        int[] windowsPerText = new int[texts.size()];
        for (int i = 0; i < texts.size(); i++) {
            List<long[]> windows = windowRows(texts.get(i));
            for (long[] w : windows) {
                rows.add(new Row(i, w));
            }
            windowsPerText[i] = windows.size();
        }
        float[][] maxProb = new float[texts.size()][SafetyCategory.COUNT];
        rows.sort(Comparator.comparingInt(r -> r.ids.length));
        for (int start = 0, end; start < rows.size(); start = end) {
            end = batchEnd(rows, start);
            List<Row> batch = rows.subList(start, end);
            float[][] logits = runPadded(batch);
            for (int r = 0; r < batch.size(); r++) {
                float[] target = maxProb[batch.get(r).text];
                for (int c = 0; c < SafetyCategory.COUNT; c++) {
                    target[c] = Math.max(target[c], sigmoid(logits[r][c]));
                }
            }
        }
        List<TextScores> out = new ArrayList<>(texts.size());
        for (int i = 0; i < texts.size(); i++) {
            out.add(new TextScores(maxProb[i], windowsPerText[i]));
        }
        return out;
    }

    /** End (exclusive) of the model batch starting at {@code start} in length-sorted {@code rows}. */
    private int batchEnd(List<Row> rows, int start) {
        long realTokens = 0;
        int end = start;
        while (end < rows.size() && end - start < maxBatchRows) {
            int len = rows.get(end).ids.length; // the longest so far: rows are sorted
            long padded = (long) (end - start + 1) * len;
            if (end > start && padded > MAX_PADDING_RATIO * (realTokens + len)) {
                break;
            }
            realTokens += len;
            end++;
        }
        return end;
    }

    /**
     * The model rows {@code text} is scored as: windows of at most {@code max_tokens} ids that together cover every
     * token, each wrapped in the bundle's prefix and suffix special tokens (none for decoder bundles).
     */
    public List<long[]> windowRows(String text) {
        return Windows.rows(tokenizer.encode(text), window, overlap, prefix, suffix, padId);
    }

    private float[][] runPadded(List<Row> batch) {
        int len = 0;
        for (Row r : batch) {
            len = Math.max(len, r.ids.length);
        }
        long[][] ids = new long[batch.size()][len];
        long[][] mask = new long[batch.size()][len];
        for (int b = 0; b < batch.size(); b++) {
            long[] row = batch.get(b).ids;
            System.arraycopy(row, 0, ids[b], 0, row.length);
            Arrays.fill(ids[b], row.length, len, padId);
            Arrays.fill(mask[b], 0, row.length, 1L);
        }
        try {
            return classifier.logits(ids, mask);
        } catch (RuntimeException e) {
            throw new ScoringException(
                    "model " + identity.name() + "@" + identity.version() + " failed on a batch of " + batch.size()
                            + " rows x " + len + " tokens: " + e.getMessage(),
                    e);
        }
    }

    static float sigmoid(float x) {
        return (float) (1.0 / (1.0 + Math.exp(-x)));
    }

    public int tokenCount(String text) {
        return tokenizer.encode(text).length;
    }

    public ModelBundle bundle() {
        return bundle;
    }

    @Override
    public ModelIdentity model() {
        return identity;
    }

    @Override
    public Optional<Incremental> incremental() {
        return Optional.ofNullable(incremental);
    }

    @Override
    public void close() {
        if (incremental != null) {
            incremental.decoder.close();
        }
        classifier.close();
        tokenizer.close();
    }

    /**
     * The bundle's incremental decoder with its tokenizer: what a reply moderator needs to keep one key/value cache
     * per open reply. It belongs to this model: its caches must be dropped before the model is closed.
     */
    public final class Incremental {

        private final IncrementalDecoder decoder;

        private Incremental(IncrementalDecoder decoder) {
            this.decoder = decoder;
        }

        /** Tokens of {@code text} as {@link #windowRows} tokenizes it, with where each ends. */
        public GuardrailTokenizer.Spans tokenize(String text) {
            return tokenizer.encodeWithEnds(text);
        }

        /** A new empty reply cache (close it when done). */
        public IncrementalDecoder.Reply open() {
            return decoder.open();
        }

        /** The most tokens one reply cache holds: the bundle's window. */
        public int maxTokens() {
            return decoder.maxTokens();
        }

        /** Category probabilities of one row of logits, as {@link #score} computes them. */
        public float[] probabilities(float[] logits) {
            float[] p = new float[logits.length];
            for (int c = 0; c < p.length; c++) {
                p[c] = sigmoid(logits[c]);
            }
            return p;
        }

        /** The model this belongs to. */
        public ModelIdentity model() {
            return identity;
        }
    }

    private record Row(int text, long[] ids) {}
}
