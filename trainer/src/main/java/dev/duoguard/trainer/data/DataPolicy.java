package dev.duoguard.trainer.data;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * The split policy of {@code ../shared/data/README.md}, in one place:
 * <ul>
 *   <li>evaluation-only benchmarks are refused as training input (not even threshold tuning uses them);</li>
 *   <li>ToxicChat's official split is respected: {@code test} is held out as a benchmark, and its {@code train}
 *       split is divided into train and dev like every other source; other sources' {@code split} fields
 *       (Alpaca's train/val/test in refusal_direction_harmless) are not benchmark splits and are ignored;</li>
 *   <li>everything goes to train or dev by a hash of its group key: 10 % dev, or 20 % for template groups
 *       (Multilingual HateCheck: the key is the template id, shared by the template's translations); a
 *       translation's key is the id of the English row it translates, so an item and its translations are always
 *       on one side.</li>
 * </ul>
 */
public final class DataPolicy {

    /** Dataset names (file stems) that are benchmarks and never training data. */
    public static final Set<String> EVAL_ONLY = Set.of(
            "xstest", "simplesafetytests", "harmbench", "strongreject", "openai_moderation", "multijail", "hatecheck");

    /** The training seeds of the shared data, in the order their items win de-duplication ties. */
    public static final List<String> TRAIN_SEEDS = List.of(
            "toxicchat",
            "advbench",
            "maliciousinstruct",
            "jailbreak_llms",
            "donotanswer",
            "mhc",
            "refusal_direction_harmless");

    public static final double DEV_FRACTION = 0.10;
    public static final double TEMPLATE_DEV_FRACTION = 0.20;

    public enum Split {
        TRAIN,
        DEV,
        HELD_OUT
    }

    private DataPolicy() {}

    public static boolean isEvalOnly(String dataset) {
        return EVAL_ONLY.contains(dataset.toLowerCase(Locale.ROOT));
    }

    /** Sources whose own {@code split} field is an official benchmark split. */
    public static final Set<String> OFFICIAL_SPLITS = Set.of("toxicchat");

    public static Split splitOf(Example e) {
        if (OFFICIAL_SPLITS.contains(e.source()) && e.split().equalsIgnoreCase("test")) {
            return Split.HELD_OUT;
        }
        double dev = e.groupKey().startsWith(FieldMapping.TEMPLATE_KEY) ? TEMPLATE_DEV_FRACTION : DEV_FRACTION;
        return unitHash(e.groupKey()) < dev ? Split.DEV : Split.TRAIN;
    }

    /** A stable hash of {@code key} in [0, 1): the first 53 bits of its SHA-256. */
    public static double unitHash(String key) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8));
            long bits = ByteBuffer.wrap(d).getLong() >>> 11;
            return bits / (double) (1L << 53);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
