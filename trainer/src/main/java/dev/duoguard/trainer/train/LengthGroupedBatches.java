package dev.duoguard.trainer.train;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * Length-grouped batching, as Hugging Face's {@code group_by_length}: shuffle, cut into mega-batches of
 * {@value #MEGA} batches, sort each mega-batch by length (longest first) and cut it into batches, then shuffle the
 * batch order. Items of similar length share a batch, so little compute goes to padding, while the order stays
 * random across the epoch. Deterministic for a given seed and epoch.
 */
public final class LengthGroupedBatches {

    static final int MEGA = 50;

    private LengthGroupedBatches() {}

    /** Batches of indices into {@code lengths} for one epoch; the last batch may be smaller. */
    public static List<int[]> epoch(int[] lengths, int batchSize, long seed, int epoch) {
        Random random = new Random(seed * 1_000_003L + epoch);
        List<Integer> order = new ArrayList<>(lengths.length);
        for (int i = 0; i < lengths.length; i++) {
            order.add(i);
        }
        Collections.shuffle(order, random);
        List<int[]> batches = new ArrayList<>();
        int mega = MEGA * batchSize;
        for (int start = 0; start < order.size(); start += mega) {
            List<Integer> group = new ArrayList<>(order.subList(start, Math.min(order.size(), start + mega)));
            group.sort((a, b) -> Integer.compare(lengths[b], lengths[a]));
            for (int s = 0; s < group.size(); s += batchSize) {
                batches.add(group.subList(s, Math.min(group.size(), s + batchSize)).stream()
                        .mapToInt(Integer::intValue)
                        .toArray());
            }
        }
        Collections.shuffle(batches, random);
        return batches;
    }

    /** Batches per epoch for {@code n} items (independent of the seed). */
    public static int count(int n, int batchSize) {
        int mega = MEGA * batchSize;
        int full = n / mega;
        int rest = n % mega;
        return full * MEGA + (rest + batchSize - 1) / batchSize;
    }
}
