package dev.duoguard.trainer.loop;

import dev.duoguard.trainer.data.Example;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Training pairs for a generator trained from scratch: the request is {@link GeneratorPrompts#control} for a seed and
 * a target language, the answer another real item with the seed's label in that language: one of the seed's own
 * group (Multilingual HateCheck's template siblings and translations share a group) when there is one, else one
 * with the same categories, else one with the same label. So the model learns "an item like this seed, in that
 * language, with that label" from real data, which is all a small CPU model can learn it from.
 */
public final class GeneratorCorpus {

    public record Pair(String prompt, String completion) {}

    private GeneratorCorpus() {}

    public static List<Pair> build(List<Example> items, List<String> languages, int pairsPerItem, long seed) {
        Random random = new Random(seed);
        Map<String, List<Example>> byGroup = new HashMap<>();
        Map<String, List<Example>> byCategories = new HashMap<>();
        Map<String, List<Example>> byLabel = new HashMap<>();
        for (Example e : items) {
            byGroup.computeIfAbsent(e.groupKey() + "|" + e.lang() + "|" + e.unsafe(), k -> new ArrayList<>())
                    .add(e);
            byCategories
                    .computeIfAbsent(e.categories() + "|" + e.lang() + "|" + e.unsafe(), k -> new ArrayList<>())
                    .add(e);
            byLabel.computeIfAbsent(e.lang() + "|" + e.unsafe(), k -> new ArrayList<>())
                    .add(e);
        }
        List<Pair> out = new ArrayList<>();
        for (Example x : items) {
            for (int k = 0; k < pairsPerItem; k++) {
                String lang = languages.get(random.nextInt(languages.size()));
                Example y = pick(byGroup.get(x.groupKey() + "|" + lang + "|" + x.unsafe()), x, random);
                if (y == null) {
                    y = pick(byCategories.get(x.categories() + "|" + lang + "|" + x.unsafe()), x, random);
                }
                if (y == null) {
                    y = pick(byLabel.get(lang + "|" + x.unsafe()), x, random);
                }
                if (y != null) {
                    out.add(new Pair(GeneratorPrompts.control(x, lang), y.text() + GeneratorPrompts.END));
                }
            }
        }
        return out;
    }

    private static Example pick(List<Example> pool, Example not, Random random) {
        if (pool == null || pool.isEmpty() || (pool.size() == 1 && pool.get(0) == not)) {
            return null;
        }
        Example y;
        do {
            y = pool.get(random.nextInt(pool.size()));
        } while (y == not);
        return y;
    }
}
