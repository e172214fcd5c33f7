package dev.duoguard.trainer.data;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Items held out of every training step, by text and by group. The trainer service keeps its gate's dev set unseen
 * with it (the classifier, the generator's supervised start and its requests, which are drawn from the training
 * items and seeds), and the two-player loop its calibration split: an item is held out when its text (as {@link
 * Example#dedupKey()} normalizes it) is a held-out item's, or when it shares a held-out item's group key, the key
 * translations and templates share with their original ({@code DataPolicy} puts a group on one side of the split;
 * this catches items that arrive by another way, above all seeds from live traffic that repeat a dev item).
 */
public final class DevHoldout {

    /** Items split into those training may use and those it must not. */
    public record Split(List<Example> unseen, List<Example> dev) {}

    private final Set<String> texts = new HashSet<>();
    private final Set<String> groups = new HashSet<>();

    public DevHoldout(List<Example> dev) {
        for (Example e : dev) {
            texts.add(e.dedupKey());
            groups.add(e.groupKey());
        }
    }

    /** True when {@code e} is a dev item, its translation or a sibling of its template group. */
    public boolean isDev(Example e) {
        return texts.contains(e.dedupKey()) || groups.contains(e.groupKey());
    }

    public Split split(List<Example> items) {
        List<Example> unseen = new ArrayList<>();
        List<Example> dev = new ArrayList<>();
        for (Example e : items) {
            (isDev(e) ? dev : unseen).add(e);
        }
        return new Split(List.copyOf(unseen), List.copyOf(dev));
    }
}
