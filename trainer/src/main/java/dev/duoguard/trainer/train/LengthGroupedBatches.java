package dev.duoguard.trainer.train;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * Length-grouped batching, as Hugging Face's {@code group_by_length}: shuffle, cut into mega-batches, sort each
 * mega-batch by length (longest first) and cut it into batches, then shuffle the batch order. Items of similar
 * length share a batch, so little compute goes to padding, while the order stays random across the epoch.
 * Deterministic for a given seed and epoch (a resumed run relies on it). Two ways to cut:
 *
 * <ul>
 *   <li>{@link #epoch fixed}: {@code batchSize} items a batch, mega-batches of {@value #MEGA} batches;</li>
 *   <li>{@link #byTokens token budget}, as fairseq's {@code max_tokens}: as many items as fit in a budget of padded
 *       tokens, counted as the trainer puts them on the device (every window of every item is a row, all rows
 *       padded to the batch's longest one), mega-batches of {@value #MEGA} budgets. The number of batches then
 *       depends on the shuffle, so a run counts its steps from the batches themselves.</li>
 * </ul>
 */
public final class LengthGroupedBatches {

    static final int MEGA = 50;

    private LengthGroupedBatches() {}

    /** Batches of {@code batchSize} indices into {@code lengths} for one epoch; the last batch may be smaller. */
    public static List<int[]> epoch(int[] lengths, int batchSize, long seed, int epoch) {
        Random random = random(seed, epoch);
        List<Integer> order = shuffled(lengths.length, random);
        List<int[]> batches = new ArrayList<>();
        int mega = MEGA * batchSize;
        for (int start = 0; start < order.size(); start += mega) {
            List<Integer> group = new ArrayList<>(order.subList(start, Math.min(order.size(), start + mega)));
            group.sort((a, b) -> Integer.compare(lengths[b], lengths[a]));
            for (int s = 0; s < group.size(); s += batchSize) {
                batches.add(toArray(group.subList(s, Math.min(group.size(), s + batchSize))));
            }
        }
        Collections.shuffle(batches, random);
        return batches;
    }

    /**
     * Batches for one epoch holding at most {@code budget} padded tokens each: the rows of a batch's items times its
     * longest row. An item's windows never leave its batch (its score is the maximum over them), so an item whose
     * own rows exceed the budget goes alone in a batch of its own, over the budget; {@link #oversized} counts them.
     *
     * @param rows    rows (windows) of each item
     * @param longest tokens of each item's longest row
     */
    public static List<int[]> byTokens(int[] rows, int[] longest, long budget, long seed, int epoch) {
        Random random = random(seed, epoch);
        List<Integer> order = shuffled(rows.length, random);
        List<int[]> batches = new ArrayList<>();
        int start = 0;
        while (start < order.size()) {
            int end = start;
            long padded = 0;
            do {
                int i = order.get(end++);
                padded += (long) rows[i] * longest[i];
            } while (end < order.size() && padded + cost(rows, longest, order.get(end)) <= MEGA * budget);
            List<Integer> group = new ArrayList<>(order.subList(start, end));
            group.sort((a, b) -> Integer.compare(longest[b], longest[a]));
            // longest first: a batch's first item sets its width, the ones after it only add rows
            int from = 0;
            int batchRows = 0;
            for (int k = 0; k < group.size(); k++) {
                int i = group.get(k);
                int width = longest[group.get(from)];
                if (k > from && (long) (batchRows + rows[i]) * width > budget) {
                    batches.add(toArray(group.subList(from, k)));
                    from = k;
                    batchRows = 0;
                }
                batchRows += rows[i];
            }
            batches.add(toArray(group.subList(from, group.size())));
            start = end;
        }
        Collections.shuffle(batches, random);
        return batches;
    }

    /** Items whose own padded rows exceed {@code budget}: each is a batch of its own, over the budget. */
    public static long oversized(int[] rows, int[] longest, long budget) {
        long n = 0;
        for (int i = 0; i < rows.length; i++) {
            n += cost(rows, longest, i) > budget ? 1 : 0;
        }
        return n;
    }

    private static long cost(int[] rows, int[] longest, int i) {
        return (long) rows[i] * longest[i];
    }

    private static Random random(long seed, int epoch) {
        return new Random(seed * 1_000_003L + epoch);
    }

    private static List<Integer> shuffled(int n, Random random) {
        List<Integer> order = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            order.add(i);
        }
        Collections.shuffle(order, random);
        return order;
    }

    private static int[] toArray(List<Integer> items) {
        return items.stream().mapToInt(Integer::intValue).toArray();
    }
}
