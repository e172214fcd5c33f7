package dev.duoguard.trainer.cli;

import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.runtime.onnx.ExecutionDevice;
import dev.duoguard.runtime.scoring.GuardrailModel;
import dev.duoguard.trainer.data.DuoGuardEvalFolder;
import dev.duoguard.trainer.data.Example;
import dev.duoguard.trainer.data.SharedData;
import dev.duoguard.trainer.eval.EvalReport;
import dev.duoguard.trainer.eval.Evaluator;
import dev.duoguard.trainer.export.BundleExporter;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(
        name = "eval",
        mixinStandardHelpOptions = true,
        description = {
            "Evaluates a bundle through the streams app's ONNX Runtime scorer: per dataset x language n,",
            "precision, recall, F1 (unsafe positive; each item decided with the manifest's thresholds for its",
            "language), FPR on safe items, AUPRC, next to the flag-everything and flag-nothing baselines; the",
            "paper's benchmark x en/fr/es/de layout; latency and throughput. Writes eval.txt, eval.md, eval.json",
            "and eval.png."
        })
final class EvalCommand implements Callable<Integer> {

    @Option(names = "--model", description = "bundle directory (default: models/default)")
    Path model;

    @Mixin
    DataOptions data;

    @Option(
            names = "--duoguard-folder",
            description = "a directory in the DuoGuard repository's evaluation layout "
                    + "(eval_data_En, eval_data_Fr, eval_data_Es, eval_data_De)")
    Path duoguardFolder;

    @Option(
            names = "--dev",
            description = "also report the dev split of the default preset's mix (Multilingual "
                    + "HateCheck's held-out templates as dev-mhc; the other train seeds and their translations as dev-seeds): "
                    + "the slices thresholds are fitted on, never trained on")
    boolean dev;

    @Option(
            names = "--save",
            description = "also write the results into the bundle's manifest (its metrics), as "
                    + "train does; the manifest's sha256 changes")
    boolean save;

    @Option(names = "--out", description = "report directory (default: eval-results/<model name>-<version>)")
    Path out;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu | cuda | auto (default: ${DEFAULT-VALUE})")
    String device;

    @Option(names = "--threads", defaultValue = "2")
    int threads;

    @Option(names = "--batch", defaultValue = "64")
    int batch;

    @Option(names = "--latency-samples", defaultValue = "100")
    int latencySamples;

    @Option(names = "--min-group", defaultValue = "20", description = "smallest language group reported on its own row")
    int minGroup;

    @Override
    public Integer call() throws Exception {
        Path home = Path.of(System.getenv().getOrDefault("DUOGUARD_HOME", "."));
        Path bundle = model != null ? model : home.resolve("models/default");
        Map<String, List<Example>> sets = new LinkedHashMap<>();
        Path dir = data.dataDir();
        if (dir != null) {
            Map<String, List<Example>> benchmarks = SharedData.benchmarks(dir);
            sets.putAll(benchmarks);
            if (dev) {
                sets.putAll(SharedData.devSlices(dir, benchmarks));
            }
        }
        if (duoguardFolder != null) {
            for (Example e : DuoGuardEvalFolder.read(duoguardFolder)) {
                sets.computeIfAbsent(e.source(), k -> new ArrayList<>()).add(e);
            }
        }
        for (Path input : data.inputs) {
            String name = SharedData.stem(input);
            sets.put(name, SharedData.read(input, data.mappings.get(name)));
        }
        if (sets.isEmpty()) {
            System.err.println("nothing to evaluate: give --data, --duoguard-folder or --input "
                    + "(../shared/data was not found next to the install directory)");
            return 2;
        }
        Evaluator.Result r;
        try (GuardrailModel m = GuardrailModel.load(bundle, ExecutionDevice.parse(device), threads, batch)) {
            r = new Evaluator(m, batch, minGroup).run(sets, latencySamples);
        }
        ByteArrayOutputStream text = new ByteArrayOutputStream();
        EvalReport.print(r, new PrintStream(text, true, StandardCharsets.UTF_8));
        System.out.print(text.toString(StandardCharsets.UTF_8));
        Path reports = out != null
                ? out
                : home.resolve("eval-results").resolve(r.model().replace(' ', '-'));
        Files.createDirectories(reports);
        Files.writeString(reports.resolve("eval.txt"), text.toString(StandardCharsets.UTF_8));
        EvalReport.writeJson(r, reports.resolve("eval.json"));
        EvalReport.writeChart(r, reports.resolve("eval.png"));
        EvalReport.writeMarkdown(r, reports.resolve("eval.md"));
        System.out.println("reports: " + reports.toAbsolutePath().normalize());
        if (save) {
            ModelBundle b = BundleExporter.withMetrics(ModelBundle.open(bundle), EvalReport.manifestMetrics(r));
            System.out.println("metrics written into " + b.directory().resolve("manifest.json"));
        }
        return 0;
    }
}
