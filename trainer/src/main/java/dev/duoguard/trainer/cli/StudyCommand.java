package dev.duoguard.trainer.cli;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.duoguard.trainer.data.Example;
import dev.duoguard.trainer.eval.ChartCanvas;
import dev.duoguard.trainer.eval.EvalReport;
import dev.duoguard.trainer.eval.Evaluator;
import dev.duoguard.trainer.eval.Metrics;
import dev.duoguard.trainer.loop.LoopReport;
import dev.duoguard.trainer.loop.LoopSettings;
import dev.duoguard.trainer.loop.TwoPlayerLoop;
import dev.duoguard.trainer.train.ClassifierTraining;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Graphics2D;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(
        name = "study",
        mixinStandardHelpOptions = true,
        description = {
            "The two-player loop next to its controls, on the same seeds, seed and dev set: 'dpo' (the",
            "loop), 'no-dpo' (synthetic data without the generator update) and 'no-synthetic' (retraining",
            "without synthetic data). Per iteration and language: dev F1 and FPR, the generator's",
            "misclassification rate. Writes study.md, study.json and study.png."
        })
final class StudyCommand implements Callable<Integer> {

    @Mixin
    DataOptions data;

    @Option(names = "--iterations", defaultValue = "2")
    int iterations;

    @Option(names = "--prompts", defaultValue = "200")
    int prompts;

    @Option(names = "--samples", defaultValue = "8")
    int samples;

    @Option(names = "--max-dev", defaultValue = "2000")
    int maxDev;

    @Option(names = "--work", description = "default: runs/study")
    Path work;

    @Option(names = "--rater", description = "a bundle whose verdict must agree with a sample's label")
    Path rater;

    @Override
    public Integer call() throws Exception {
        Path home = Path.of(System.getenv().getOrDefault("DUOGUARD_HOME", "."));
        Path dir = work != null ? work : home.resolve("runs/study");
        LoopSettings base = LoopSettings.standard().toBuilder()
                .iterations(iterations)
                .promptsPerIteration(prompts)
                .samples(samples)
                .build();
        if (data.dataDir() == null && data.inputs.isEmpty()) {
            System.err.println("no seeds: give --data (normalized JSONL, e.g. ../shared/data) or --input files");
            return 2;
        }
        ClassifierTraining.Prepared p = ClassifierTraining.builder()
                .preset(base.classifier())
                .dataDir(data.dataDir())
                .inputs(data.inputs)
                .mappings(data.mappings)
                .work(dir.resolve("mix"))
                .build()
                .prepare(System.out);
        List<Example> dev = new ArrayList<>(p.dev().stream()
                .filter(e -> base.languages().contains(e.lang()))
                .toList());
        Collections.shuffle(dev, new Random(base.seed()));
        dev = dev.subList(0, Math.min(maxDev, dev.size()));

        Map<String, List<TwoPlayerLoop.Iteration>> arms = new LinkedHashMap<>();
        for (String arm : List.of("dpo", "no-dpo", "no-synthetic")) {
            LoopSettings s = base.toBuilder()
                    .dpo(!arm.equals("no-dpo"))
                    .synthetic(!arm.equals("no-synthetic"))
                    .build();
            System.out.println("==== arm " + arm + " ====");
            try (PrintStream log = new PrintStream(
                    Files.newOutputStream(
                            Files.createDirectories(dir.resolve(arm)).resolve("progress.log")),
                    true)) {
                arms.put(arm, new TwoPlayerLoop(s, dir.resolve(arm), rater, log).run(p.train(), p.train(), dev));
            }
        }
        String table = table(arms, base.languages());
        System.out.println(table);
        Files.writeString(dir.resolve("study.md"), table);
        Map<String, List<StudyRow>> json = new LinkedHashMap<>();
        arms.forEach((arm, its) -> json.put(arm, its.stream().map(StudyRow::of).toList()));
        new ObjectMapper()
                .enable(SerializationFeature.INDENT_OUTPUT)
                .writeValue(dir.resolve("study.json").toFile(), json);
        chart(arms, base.languages(), dir.resolve("study.png"));
        System.out.println("reports: " + dir.toAbsolutePath().normalize() + "/study.{md,json,png}");
        return 0;
    }

    /** One iteration of one arm in {@code study.json}; undefined rates are null. */
    record StudyRow(
            int iteration,
            @JsonProperty("misclassification_rate") Double misclassificationRate,
            int kept,
            @JsonProperty("synthetic_in_training") int syntheticInTraining,
            Map<String, StudyDev> dev) {

        static StudyRow of(TwoPlayerLoop.Iteration it) {
            Map<String, StudyDev> dev = new LinkedHashMap<>();
            it.dev()
                    .forEach(row -> dev.put(
                            row.lang(),
                            new StudyDev(
                                    Metrics.finite(row.model().f1()),
                                    Metrics.finite(row.model().fpr()),
                                    row.model().n())));
            return new StudyRow(
                    it.index(), Metrics.finite(it.misclassificationRate()), it.kept(), it.syntheticInTraining(), dev);
        }
    }

    record StudyDev(Double f1, Double fpr, int n) {}

    static String table(Map<String, List<TwoPlayerLoop.Iteration>> arms, List<String> languages) {
        StringBuilder b = new StringBuilder("| arm | iteration | synthetic in training | generator misclassified |");
        languages.forEach(l -> b.append(" ").append(l).append(" F1 / FPR |"));
        b.append("\n|---|---:|---:|---:|");
        languages.forEach(l -> b.append("---:|"));
        b.append("\n");
        arms.forEach((arm, its) -> {
            for (TwoPlayerLoop.Iteration it : its) {
                b.append("| ")
                        .append(arm)
                        .append(" | ")
                        .append(it.index())
                        .append(" | ")
                        .append(it.syntheticInTraining())
                        .append(" | ")
                        .append(
                                Double.isNaN(it.misclassificationRate())
                                        ? "—"
                                        : EvalReport.pct(it.misclassificationRate()) + " % of " + it.kept())
                        .append(" |");
                for (String l : languages) {
                    Evaluator.Row r = it.dev().stream()
                            .filter(x -> x.lang().equals(l))
                            .findFirst()
                            .orElse(null);
                    b.append(" ")
                            .append(
                                    r == null
                                            ? "—"
                                            : EvalReport.pct(r.model().f1()) + " / "
                                                    + EvalReport.pct(r.model().fpr()))
                            .append(" |");
                }
                b.append("\n");
            }
        });
        return b.toString();
    }

    /** Mean dev F1 over the non-English target languages per iteration, one line per arm; English dashed. */
    static void chart(Map<String, List<TwoPlayerLoop.Iteration>> arms, List<String> languages, Path file)
            throws IOException {
        int w = 760, h = 420, left = 70, top = 50, pw = 520, ph = 300;
        ChartCanvas canvas = new ChartCanvas(
                w, h, "Study: dev F1, mean of non-English targets (solid) and English (dashed), per iteration");
        Graphics2D g = canvas.graphics();
        int n = arms.values().iterator().next().size();
        int[] box = {left, top, pw, ph};
        LoopReport.axes(g, box, n, "F1 %");
        Color[] colors = {new Color(0xd62728), new Color(0x1f77b4), new Color(0x7f7f7f)};
        int c = 0;
        for (var arm : arms.entrySet()) {
            g.setColor(colors[c % colors.length]);
            for (boolean english : new boolean[] {false, true}) {
                g.setStroke(
                        english
                                ? new BasicStroke(
                                        1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10, new float[] {6, 4}, 0)
                                : new BasicStroke(2.5f));
                int px = -1, py = -1;
                for (TwoPlayerLoop.Iteration it : arm.getValue()) {
                    double sum = 0;
                    int k = 0;
                    for (Evaluator.Row r : it.dev()) {
                        boolean en = r.lang().equals("en");
                        if (languages.contains(r.lang())
                                && en == english
                                && !Double.isNaN(r.model().f1())) {
                            sum += r.model().f1();
                            k++;
                        }
                    }
                    if (k == 0) {
                        continue;
                    }
                    int x = LoopReport.x(box, n, it.index());
                    int y = top + ph - (int) Math.round(ph * sum / k);
                    g.fillOval(x - 3, y - 3, 6, 6);
                    if (px >= 0) {
                        g.drawLine(px, py, x, y);
                    }
                    px = x;
                    py = y;
                }
            }
            g.drawString(arm.getKey(), left + pw + 20, top + 20 + 16 * c);
            c++;
        }
        canvas.write(file);
    }
}
