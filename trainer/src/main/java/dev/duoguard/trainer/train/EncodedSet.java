package dev.duoguard.trainer.train;

import dev.duoguard.runtime.scoring.Windows;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import dev.duoguard.runtime.tokenizer.GuardrailTokenizer;
import dev.duoguard.trainer.data.Example;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Examples tokenized for the classifier exactly as the serving scorer cuts them ({@link Windows}: the same window,
 * overlap and special tokens), with the positive-category row, the unknown-category flag and the loss weight
 * {@link MultiLabelLoss} takes. The trainer scores an item as the maximum over its windows, as serving does, so a
 * long unsafe text is learnt from the window that holds the unsafe part.
 *
 * <p>Items with more than {@code maxWindows} windows (long jailbreak prompts, long rated replies) keep that many,
 * evenly spaced and always including the first and the last, to bound the cost of one batch and of an epoch.
 */
public record EncodedSet(long[][][] windows, float[][] positive, float[] unknown, boolean[] unsafe, float[] weights) {

    /** Windows kept per training item (the serving scorer keeps all). */
    public static final int MAX_TRAINING_WINDOWS = 4;

    /** How the bundle will cut texts: window length, overlap, special tokens around each window, pad id. */
    public record Windowing(int window, int overlap, long[] prefix, long[] suffix, long padId, int maxWindows) {

        /** Decoder bundles: raw tokens, no special tokens. */
        public static Windowing plain(int window, long padId) {
            return new Windowing(window, window / 4, new long[0], new long[0], padId, MAX_TRAINING_WINDOWS);
        }
    }

    public static EncodedSet of(List<Example> examples, GuardrailTokenizer tokenizer, Windowing w) {
        return of(examples, null, tokenizer, w);
    }

    /** @param weights loss weight per example (null: 1 each) */
    public static EncodedSet of(List<Example> examples, double[] weights, GuardrailTokenizer tokenizer, Windowing w) {
        int n = examples.size();
        long[][][] rows = new long[n][][];
        float[][] pos = new float[n][SafetyCategory.COUNT];
        float[] unknown = new float[n];
        boolean[] unsafe = new boolean[n];
        float[] wt = new float[n];
        for (int i = 0; i < n; i++) {
            Example e = examples.get(i);
            List<long[]> all = Windows.rows(
                    tokenizer.encode(e.text()), w.window(), w.overlap(), w.prefix(), w.suffix(), w.padId());
            rows[i] = spaced(all, w.maxWindows()).toArray(new long[0][]);
            for (SafetyCategory c : e.categories()) {
                pos[i][c.ordinal()] = 1f;
            }
            unknown[i] = e.categoryUnknown() ? 1f : 0f;
            unsafe[i] = e.unsafe();
            wt[i] = weights == null ? 1f : (float) weights[i];
        }
        return new EncodedSet(rows, pos, unknown, unsafe, wt);
    }

    /** At most {@code max} of {@code rows}, evenly spaced, first and last included. */
    static List<long[]> spaced(List<long[]> rows, int max) {
        if (rows.size() <= max) {
            return rows;
        }
        List<long[]> out = new ArrayList<>(max);
        for (int k = 0; k < max; k++) {
            out.add(rows.get((int) Math.round(k * (rows.size() - 1) / (double) (max - 1))));
        }
        return out;
    }

    public int size() {
        return windows.length;
    }

    /** Tokens of each item over all its windows (what a batch of it costs). */
    public int[] lengths() {
        return Arrays.stream(windows)
                .mapToInt(ws -> Arrays.stream(ws).mapToInt(r -> r.length).sum())
                .toArray();
    }

    /**
     * What a row of each item costs once padded: its windows times its longest window. Batches are grouped by
     * this, so a long item's full windows are not padded next to short items' rows (or the reverse).
     */
    public int[] costs() {
        return Arrays.stream(windows)
                .mapToInt(ws -> ws.length
                        * Arrays.stream(ws).mapToInt(r -> r.length).max().orElse(0))
                .toArray();
    }

    public long tokens() {
        return Arrays.stream(lengths()).asLongStream().sum();
    }

    /** Items scored in more than one window. */
    public int multiWindowItems() {
        return (int) Arrays.stream(windows).filter(ws -> ws.length > 1).count();
    }
}
