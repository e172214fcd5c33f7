package dev.duoguard.trainer.cli;

import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.trainer.data.Example;
import dev.duoguard.trainer.data.SharedData;
import dev.duoguard.trainer.export.BundleExporter;
import dev.duoguard.trainer.train.Calibration;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(
        name = "calibrate",
        mixinStandardHelpOptions = true,
        description = {
            "Fits a bundle's decision thresholds again on the dev split of the training data (never an",
            "evaluation-only set) for a target false-positive rate, and writes them into its manifest: what",
            "`train` does after export, for a bundle that was trained already. The manifest's evaluation results",
            "are removed (they were measured with the old thresholds): run `eval --save` afterwards."
        })
final class CalibrateCommand implements Callable<Integer> {

    @Option(names = "--model", description = "bundle directory (default: models/default)")
    Path model;

    @Mixin
    DataOptions data;

    @Option(
            names = "--target-fpr",
            defaultValue = "0.05",
            description = "false-positive rate on each sizeable safe dev source (default: ${DEFAULT-VALUE})")
    double targetFpr;

    @Override
    public Integer call() throws Exception {
        Path home = Path.of(System.getenv().getOrDefault("DUOGUARD_HOME", "."));
        Path bundle = model != null ? model : home.resolve("models/default");
        Path dir = data.dataDir();
        if (dir == null) {
            System.err.println(
                    "calibrate: no data directory: give --data (the dev split is rebuilt from the train seeds)");
            return 2;
        }
        List<Example> dev = new ArrayList<>();
        SharedData.devSlices(dir, SharedData.benchmarks(dir)).values().forEach(dev::addAll);
        ModelBundle b = Calibration.calibrate(
                ModelBundle.open(bundle), dev, Calibration.Settings.DEFAULTS.withTargetFpr(targetFpr), System.out);
        // results measured with the old thresholds no longer describe the bundle: ./duoguard eval --save
        b = BundleExporter.withMetrics(b, null);
        System.out.println("wrote thresholds into " + b.directory().resolve("manifest.json") + " (manifest sha256 "
                + b.manifestSha256() + ")");
        return 0;
    }
}
