package dev.duoguard.trainer.loop;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.duoguard.trainer.eval.ChartCanvas;
import dev.duoguard.trainer.eval.EvalReport;
import dev.duoguard.trainer.eval.Evaluator;
import dev.duoguard.trainer.eval.Metrics;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Graphics2D;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** The loop's report: a table per iteration, {@code loop-report.json} and {@code loop.png} (the paper's Fig. 7 view). */
public final class LoopReport {

    private LoopReport() {}

    /** {@code loop-report.json}: the settings and what every iteration did and measured. */
    public record Document(LoopSettings settings, List<IterationRow> iterations) {}

    /** One iteration; rates that are undefined (nothing generated yet) are null. */
    public record IterationRow(
            int iteration,
            @JsonProperty("requests_by_language") Map<String, Integer> requestsByLanguage,
            int generated,
            @JsonProperty("dropped_by_filter") Map<String, Integer> droppedByFilter,
            @JsonProperty("kept_by_language") Map<String, Integer> keptByLanguage,
            @JsonProperty("misclassified_by_language") Map<String, Integer> misclassifiedByLanguage,
            @JsonProperty("misclassification_rate") Double misclassificationRate,
            @JsonProperty("preference_pairs") int preferencePairs,
            @JsonProperty("dpo_margin_after") Double dpoMarginAfter,
            @JsonProperty("synthetic_in_training") int syntheticInTraining,
            @JsonProperty("train_by_language") Map<String, Integer> trainByLanguage,
            Map<String, DevRow> dev,
            String bundle) {

        static IterationRow of(TwoPlayerLoop.Iteration it) {
            Map<String, DevRow> dev = new LinkedHashMap<>();
            it.dev()
                    .forEach(r -> dev.put(
                            r.lang(),
                            new DevRow(
                                    r.model().n(),
                                    Metrics.finite(r.model().f1()),
                                    Metrics.finite(r.model().fpr()),
                                    Metrics.finite(r.flagAll().f1()))));
            return new IterationRow(
                    it.index(),
                    it.requests(),
                    it.generated(),
                    it.dropped(),
                    it.keptByLanguage(),
                    it.misclassifiedByLanguage(),
                    Metrics.finite(it.misclassificationRate()),
                    it.preferencePairs(),
                    Metrics.finite(it.marginAfterDpo()),
                    it.syntheticInTraining(),
                    it.trainByLanguage(),
                    dev,
                    it.bundle().toString());
        }
    }

    /** Dev metrics of one language; undefined ones (no unsafe or no safe items) are null. */
    public record DevRow(
            int n,
            Double f1,
            Double fpr,
            @JsonProperty("flag_everything_f1") Double flagEverythingF1) {}

    static void write(List<TwoPlayerLoop.Iteration> iterations, LoopSettings s, Path work) throws IOException {
        Document report =
                new Document(s, iterations.stream().map(IterationRow::of).toList());
        TwoPlayerLoop.json().writeValue(work.resolve("loop-report.json").toFile(), report);
        chart(iterations, work.resolve("loop.png"));
    }

    /**
     * Per iteration: dev F1 and FPR per language, the generator's misclassification rate, the synthetic data and the
     * samples the LLM judge dropped as refusals (the JSON's {@code dropped_by_filter} has every reason).
     */
    public static void print(List<TwoPlayerLoop.Iteration> iterations, PrintStream out) {
        Set<String> langs = languages(iterations);
        out.printf("%-5s %-10s %-10s %-8s %-8s", "iter", "synthetic", "misclass.", "pairs", "refused");
        langs.forEach(l -> out.printf(" %13s", l + " F1/FPR"));
        out.println();
        for (TwoPlayerLoop.Iteration it : iterations) {
            out.printf(
                    "%-5d %-10d %-10s %-8d %-8d",
                    it.index(),
                    it.syntheticInTraining(),
                    Double.isNaN(it.misclassificationRate()) ? "—" : EvalReport.pct(it.misclassificationRate()) + " %",
                    it.preferencePairs(),
                    it.dropped().getOrDefault(LlmRater.REFUSAL, 0));
            for (String l : langs) {
                Evaluator.Row r = row(it, l);
                out.printf(
                        " %13s",
                        r == null
                                ? "—"
                                : EvalReport.pct(r.model().f1()) + "/"
                                        + EvalReport.pct(r.model().fpr()));
            }
            out.println();
        }
    }

    static Set<String> languages(List<TwoPlayerLoop.Iteration> iterations) {
        Set<String> langs = new LinkedHashSet<>();
        iterations.forEach(it -> it.dev().forEach(r -> langs.add(r.lang())));
        return langs;
    }

    static Evaluator.Row row(TwoPlayerLoop.Iteration it, String lang) {
        return it.dev().stream().filter(r -> r.lang().equals(lang)).findFirst().orElse(null);
    }

    private static void chart(List<TwoPlayerLoop.Iteration> iterations, Path file) throws IOException {
        int w = 960;
        int h = 420;
        ChartCanvas canvas = new ChartCanvas(
                w, h, "Two-player loop: dev F1 per language (left), generator misclassification rate (right)");
        Graphics2D g = canvas.graphics();
        Color[] palette = {
            new Color(0x1f77b4),
            new Color(0xff7f0e),
            new Color(0x2ca02c),
            new Color(0xd62728),
            new Color(0x9467bd),
            new Color(0x8c564b),
            new Color(0xe377c2),
            new Color(0x7f7f7f),
            new Color(0xbcbd22),
            new Color(0x17becf),
            Color.BLACK,
            Color.GRAY,
            Color.PINK
        };
        int n = iterations.size();
        int[] left = {60, 50, 420, 320};
        int[] right = {560, 50, 360, 320};
        axes(g, left, n, "F1 %");
        axes(g, right, n, "misclassified %");
        int c = 0;
        for (String lang : languages(iterations)) {
            g.setColor(palette[c % palette.length]);
            g.setStroke(new BasicStroke(lang.equals("all") ? 3f : 1.8f));
            List<double[]> points = new ArrayList<>();
            for (TwoPlayerLoop.Iteration it : iterations) {
                Evaluator.Row r = row(it, lang);
                if (r != null && !Double.isNaN(r.model().f1())) {
                    points.add(new double[] {it.index(), r.model().f1()});
                }
            }
            line(g, left, n, points);
            g.drawString(lang, left[0] + left[2] + 6, left[1] + 14 + 14 * c);
            c++;
        }
        g.setColor(new Color(0xd62728));
        g.setStroke(new BasicStroke(2.5f));
        List<double[]> rate = new ArrayList<>();
        iterations.forEach(it -> {
            if (!Double.isNaN(it.misclassificationRate())) {
                rate.add(new double[] {it.index(), it.misclassificationRate()});
            }
        });
        line(g, right, n, rate);
        canvas.write(file);
    }

    /** Grid, 0–100 y labels and iteration x labels for a plot in {@code box} = {x, y, width, height}. */
    public static void axes(Graphics2D g, int[] box, int n, String label) {
        g.setColor(Color.LIGHT_GRAY);
        for (int t = 0; t <= 10; t += 2) {
            int y = box[1] + box[3] - box[3] * t / 10;
            g.drawLine(box[0], y, box[0] + box[2], y);
            g.setColor(Color.BLACK);
            g.drawString(t * 10 + "", box[0] - 25, y + 4);
            g.setColor(Color.LIGHT_GRAY);
        }
        g.setColor(Color.BLACK);
        for (int i = 0; i < n; i++) {
            g.drawString("it " + i, x(box, n, i) - 8, box[1] + box[3] + 16);
        }
        g.drawString(label, box[0], box[1] - 8);
    }

    /** The x pixel of iteration {@code i} of {@code n} in {@code box}. */
    public static int x(int[] box, int n, double i) {
        return box[0] + (int) Math.round(n <= 1 ? box[2] / 2.0 : box[2] * i / (n - 1));
    }

    private static void line(Graphics2D g, int[] box, int n, List<double[]> points) {
        for (int i = 0; i < points.size(); i++) {
            int px = x(box, n, points.get(i)[0]);
            int py = box[1] + box[3] - (int) Math.round(box[3] * points.get(i)[1]);
            g.fillOval(px - 3, py - 3, 6, 6);
            if (i > 0) {
                int qx = x(box, n, points.get(i - 1)[0]);
                int qy = box[1] + box[3] - (int) Math.round(box[3] * points.get(i - 1)[1]);
                g.drawLine(qx, qy, px, py);
            }
        }
    }
}
