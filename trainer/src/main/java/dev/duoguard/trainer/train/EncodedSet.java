package dev.duoguard.trainer.train;

import dev.duoguard.runtime.taxonomy.SafetyCategory;
import dev.duoguard.runtime.tokenizer.GuardrailTokenizer;
import dev.duoguard.trainer.data.Example;

import java.util.Arrays;
import java.util.List;

/**
 * Examples tokenized for the classifier: ids truncated to the first {@code maxTokens} tokens, the positive-category
 * row and the unknown-category flag {@link MultiLabelLoss} takes. An empty token sequence (text the tokenizer
 * maps to nothing) is refused: the classifier reads the last real token and there would be none.
 */
public record EncodedSet(long[][] ids, float[][] positive, float[] unknown, boolean[] unsafe) {

    public static EncodedSet of(List<Example> examples, GuardrailTokenizer tokenizer, int maxTokens) {
        int n = examples.size();
        long[][] ids = new long[n][];
        float[][] pos = new float[n][SafetyCategory.COUNT];
        float[] unknown = new float[n];
        boolean[] unsafe = new boolean[n];
        for (int i = 0; i < n; i++) {
            Example e = examples.get(i);
            long[] all = tokenizer.encode(e.text());
            if (all.length == 0) {
                throw new IllegalArgumentException("item " + e.id() + " (" + e.source() + ") has no tokens");
            }
            ids[i] = all.length > maxTokens ? Arrays.copyOf(all, maxTokens) : all;
            for (SafetyCategory c : e.categories()) {
                pos[i][c.ordinal()] = 1f;
            }
            unknown[i] = e.categoryUnknown() ? 1f : 0f;
            unsafe[i] = e.unsafe();
        }
        return new EncodedSet(ids, pos, unknown, unsafe);
    }

    public int size() {
        return ids.length;
    }

    public int[] lengths() {
        return Arrays.stream(ids).mapToInt(a -> a.length).toArray();
    }

    public long tokens() {
        return Arrays.stream(ids).mapToLong(a -> a.length).sum();
    }
}
