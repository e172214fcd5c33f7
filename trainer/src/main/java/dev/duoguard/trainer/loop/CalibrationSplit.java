package dev.duoguard.trainer.loop;

import dev.duoguard.trainer.data.DataPolicy;
import dev.duoguard.trainer.data.DevHoldout;
import dev.duoguard.trainer.data.Example;
import dev.duoguard.trainer.train.Calibration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The split a loop iteration calibrates its classifier on, held out of the iteration's own training items (never
 * taken from the gate's dev set or an evaluation-only set), so that the candidate is exported at the same kind of
 * operating point as the calibrated model the trainer service's gate compares it with.
 *
 * <ul>
 *   <li>Groups, not items: a group (an item, its translations, a template's variants: {@link Example#groupKey()})
 *       is in the split when {@link DataPolicy#unitHash} of the group key, salted with {@link #SALT}, is below
 *       {@link #FRACTION}. Training then keeps only what {@link DevHoldout} lets through: nothing of a calibration
 *       item's group and no item with a calibration item's text.</li>
 *   <li>Generated samples are never calibration items: the thresholds are fitted for a false-positive rate on real
 *       safe traffic, which is what the gate measures on dev, and a generated sample's label is its seed's, not a
 *       checked one. One generated from a calibration item shares that item's group and so is not trained on
 *       either (it would teach the classifier the calibration item).</li>
 *   <li>Items of the gate's dev set (text or group) are never calibration items, even when a caller passes them as
 *       training items: the gate must judge thresholds that were not fitted on its own items.</li>
 * </ul>
 *
 * @param train       what the classifier trains on
 * @param calibration what its thresholds are fitted on
 * @param withheld    items neither trained nor calibrated on: generated samples and repeats of calibration items
 */
record CalibrationSplit(List<Example> train, List<Example> calibration, int withheld) {

    /**
     * The share of the real items' groups held out: the data policy's dev share, the split the shipped default
     * model was calibrated on. The service's training data (tens of thousands of items) gives thousands of safe
     * calibration items, far above {@link Calibration}'s minimum, at a tenth of the training data.
     */
    static final double FRACTION = DataPolicy.DEV_FRACTION;

    /**
     * Salts the group hash. The loop's base training items are the data policy's train side (unsalted hash of at
     * least {@link DataPolicy#DEV_FRACTION}): its own hash would find no group below the fraction. Fixed, so every
     * iteration and every run holds out the same groups, and a seed that repeats one lands on the same side.
     */
    static final String SALT = "duoguard-loop-calibration:";

    /** The source the loop gives its generated samples. */
    static final String SYNTHETIC = "synthetic";

    static CalibrationSplit of(List<Example> items, List<Example> dev) {
        DevHoldout gateDev = new DevHoldout(dev);
        List<Example> calibration = items.stream()
                .filter(e -> !e.source().equals(SYNTHETIC))
                .filter(e -> DataPolicy.unitHash(SALT + e.groupKey()) < FRACTION)
                .filter(e -> !gateDev.isDev(e))
                .toList();
        DevHoldout.Split split = new DevHoldout(calibration).split(items);
        return new CalibrationSplit(split.unseen(), calibration, split.dev().size() - calibration.size());
    }

    long safe() {
        return calibration.stream().filter(e -> !e.unsafe()).count();
    }

    /**
     * Whether {@link Calibration} can fit thresholds on the split: below its minimum of safe items it would keep
     * 0.5 everywhere, so the split is then better trained on.
     */
    boolean enough() {
        return safe() >= Calibration.Settings.DEFAULTS.minSafe();
    }

    /** For the bundle's provenance: what was held out and whether thresholds were fitted on it. */
    Map<String, Object> summary(double targetFpr) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("items", calibration.size());
        m.put("safe", safe());
        m.put("unsafe", calibration.size() - safe());
        m.put("withheld", withheld);
        m.put("fraction_of_groups", FRACTION);
        m.put("fitted", enough());
        m.put("target_fpr", targetFpr);
        return m;
    }
}
