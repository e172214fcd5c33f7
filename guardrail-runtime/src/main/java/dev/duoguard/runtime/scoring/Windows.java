package dev.duoguard.runtime.scoring;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * How a tokenized text becomes model rows, in one place for serving ({@link GuardrailModel}) and training (the
 * trainer's encoded sets), so a model is trained on exactly the rows it is served.
 *
 * <p>Content windows of {@code window - |prefix| - |suffix|} tokens, consecutive windows sharing
 * {@code overlap} tokens (stride at least 1), together cover every token; each row is
 * {@code prefix + window + suffix} (BERT's {@code [CLS] … [SEP]}; nothing for decoders). A text with no token is
 * one row {@code prefix + suffix}, or {@code [pad]} when both are empty, so it still gets a score.
 */
public final class Windows {

    private Windows() {}

    /** The overlap bundles use unless they say otherwise: a quarter of what a window holds besides special tokens. */
    public static int defaultOverlap(int window, int specials) {
        return (window - specials) / 4;
    }

    /** The content length of one window; at least 1 (the bundle check refuses smaller windows). */
    public static int contentLength(int window, int prefix, int suffix) {
        int content = window - prefix - suffix;
        if (content < 1) {
            throw new IllegalArgumentException("a window of " + window + " tokens leaves no room for content next to "
                    + (prefix + suffix) + " special tokens");
        }
        return content;
    }

    public static List<long[]> rows(long[] ids, int window, int overlap, long[] prefix, long[] suffix, long padId) {
        int content = contentLength(window, prefix.length, suffix.length);
        int stride = Math.max(1, content - overlap);
        List<long[]> rows = new ArrayList<>();
        if (ids.length == 0) {
            rows.add(prefix.length + suffix.length == 0 ? new long[] {padId} : wrap(ids, 0, 0, prefix, suffix));
            return rows;
        }
        for (int start = 0; ; start += stride) {
            int end = Math.min(ids.length, start + content);
            rows.add(wrap(ids, start, end, prefix, suffix));
            if (end == ids.length) {
                return rows;
            }
        }
    }

    private static long[] wrap(long[] ids, int start, int end, long[] prefix, long[] suffix) {
        if (prefix.length == 0 && suffix.length == 0) {
            return Arrays.copyOfRange(ids, start, end);
        }
        long[] row = new long[prefix.length + (end - start) + suffix.length];
        System.arraycopy(prefix, 0, row, 0, prefix.length);
        System.arraycopy(ids, start, row, prefix.length, end - start);
        System.arraycopy(suffix, 0, row, prefix.length + end - start, suffix.length);
        return row;
    }
}
