package dev.duoguard.trainer.eval;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Graphics2D;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/** Writes an {@link Evaluator.Result} as text tables, JSON and a PNG chart. */
public final class EvalReport {

    /** The paper's language columns. */
    static final List<String> PAPER_LANGUAGES = List.of("en", "fr", "es", "de");

    static final String RULE = "unsafe iff any category probability > its threshold for the item's language";

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** A result as {@code eval.json} and a bundle manifest's {@code metrics} write it. */
    public record Document(
            String model,
            String thresholds,
            String rule,
            List<DocumentRow> rows,
            @JsonProperty("latency_ms") Latency latencyMs,
            Throughput throughput) {}

    /** One dataset (× language) row: the model next to the flag-everything and flag-nothing baselines. */
    public record DocumentRow(
            String dataset,
            String lang,
            @JsonProperty("threshold_source") String thresholdSource,
            Metrics.Report model,
            @JsonProperty("flag_everything") Metrics.Report flagEverything,
            @JsonProperty("flag_nothing") Metrics.Report flagNothing) {}

    /** One input per call, in milliseconds. */
    public record Latency(int samples, double p50, double p95, double mean) {}

    public record Throughput(
            int items, @JsonProperty("items_per_second") double itemsPerSecond) {}

    private EvalReport() {}

    public static void print(Evaluator.Result r, PrintStream out) {
        out.printf(
                "model %s, unsafe iff any category probability > its threshold for the item's language%n"
                        + "thresholds: %s%n%n",
                r.model(), r.thresholds());
        out.printf(
                "%-22s %-4s %6s %6s | %6s %6s %6s %6s %6s | %9s %9s | %s%n",
                "dataset", "lang", "n", "unsafe", "P", "R", "F1", "FPR", "AUPRC", "F1 flag-", "F1 flag-", "thresholds");
        out.printf(
                "%-22s %-4s %6s %6s | %6s %6s %6s %6s %6s | %9s %9s |%n",
                "", "", "", "", "", "", "", "", "", "all", "none");
        for (Evaluator.Row row : r.rows()) {
            Metrics m = row.model();
            out.printf(
                    "%-22s %-4s %6d %6d | %6s %6s %6s %6s %6s | %9s %9s | %s%n",
                    row.dataset(),
                    row.lang(),
                    m.n(),
                    m.unsafe(),
                    pct(m.precision()),
                    pct(m.recall()),
                    pct(m.f1()),
                    pct(m.fpr()),
                    pct(m.auprc()),
                    pct(row.flagAll().f1()),
                    pct(row.flagNone().f1()),
                    row.thresholds());
        }
        out.println("(flag-all has FPR 100 and flag-none FPR 0 wherever there are safe items; — = undefined)");
        out.println();
        printPaperLayout(r, out);
        Evaluator.Speed s = r.speed();
        out.printf(
                "%nlatency, one input per call (%d inputs): p50 %.2f ms, p95 %.2f ms, mean %.2f ms%n",
                s.latencySamples(), s.p50Ms(), s.p95Ms(), s.meanMs());
        out.printf("throughput, batched: %,.0f inputs/s over %,d inputs%n", s.itemsPerSecond(), s.items());
    }

    /** Benchmarks × en/fr/es/de F1 with the per-language average, as the paper's table (model, then flag-all). */
    static void printPaperLayout(Evaluator.Result r, PrintStream out) {
        Set<String> datasets = new LinkedHashSet<>();
        r.rows().forEach(row -> datasets.add(row.dataset()));
        out.printf("paper layout, F1 (model / flag-everything)%n%-22s", "benchmark");
        PAPER_LANGUAGES.forEach(l -> out.printf(" %13s", l));
        out.println();
        double[] sum = new double[PAPER_LANGUAGES.size()];
        double[] sumAll = new double[PAPER_LANGUAGES.size()];
        int[] count = new int[PAPER_LANGUAGES.size()];
        for (String d : datasets) {
            out.printf("%-22s", d);
            for (int i = 0; i < PAPER_LANGUAGES.size(); i++) {
                Evaluator.Row row = find(r, d, PAPER_LANGUAGES.get(i));
                if (row == null || Double.isNaN(row.model().f1())) {
                    out.printf(" %13s", "—");
                } else {
                    out.printf(
                            " %13s",
                            pct(row.model().f1()) + " / " + pct(row.flagAll().f1()));
                    sum[i] += row.model().f1();
                    sumAll[i] += row.flagAll().f1();
                    count[i]++;
                }
            }
            out.println();
        }
        out.printf("%-22s", "average");
        for (int i = 0; i < PAPER_LANGUAGES.size(); i++) {
            out.printf(" %13s", count[i] == 0 ? "—" : pct(sum[i] / count[i]) + " / " + pct(sumAll[i] / count[i]));
        }
        out.println();
    }

    static Evaluator.Row find(Evaluator.Result r, String dataset, String lang) {
        return r.rows().stream()
                .filter(x -> x.dataset().equals(dataset) && x.lang().equals(lang))
                .findFirst()
                .orElse(null);
    }

    public static String pct(double v) {
        return Double.isNaN(v) ? "—" : String.format(Locale.ROOT, "%.1f", 100 * v);
    }

    public static Document document(Evaluator.Result r) {
        List<DocumentRow> rows = r.rows().stream()
                .map(row -> new DocumentRow(
                        row.dataset(),
                        row.lang(),
                        row.thresholds(),
                        row.model().report(),
                        row.flagAll().report(),
                        row.flagNone().report()))
                .toList();
        Evaluator.Speed s = r.speed();
        return new Document(
                r.model(),
                r.thresholds(),
                RULE,
                rows,
                new Latency(s.latencySamples(), s.p50Ms(), s.p95Ms(), s.meanMs()),
                new Throughput(s.items(), s.itemsPerSecond()));
    }

    public static void writeJson(Evaluator.Result r, Path file) throws IOException {
        Files.createDirectories(file.toAbsolutePath().getParent());
        JSON.writeValue(file.toFile(), document(r));
    }

    /** One line per dataset × language: model F1, flag-everything F1 and model FPR as horizontal bars. */
    public static void writeChart(Evaluator.Result r, Path file) throws IOException {
        List<Evaluator.Row> rows = r.rows();
        int rowH = 30;
        int left = 230;
        int width = 900;
        int top = 60;
        int height = top + rows.size() * rowH + 50;
        ChartCanvas canvas = new ChartCanvas(
                width, height, "Guardrail evaluation: " + r.model() + " (thresholds " + r.thresholds() + ")");
        Graphics2D g = canvas.graphics();
        Color model = new Color(0x1f77b4);
        Color flagAll = new Color(0xbbbbbb);
        Color fpr = new Color(0xd62728);
        legend(g, 10, 40, model, "model F1");
        legend(g, 120, 40, flagAll, "flag-everything F1");
        legend(g, 280, 40, fpr, "model FPR on safe items");
        int plotW = width - left - 30;
        g.setColor(new Color(0xeeeeee));
        for (int t = 0; t <= 10; t++) {
            int x = left + plotW * t / 10;
            g.drawLine(x, top - 5, x, top + rows.size() * rowH);
        }
        for (int i = 0; i < rows.size(); i++) {
            Evaluator.Row row = rows.get(i);
            int y = top + i * rowH;
            g.setColor(Color.BLACK);
            g.drawString(
                    row.dataset() + " · " + row.lang() + " (n=" + row.model().n() + ")", 10, y + 17);
            bar(g, left, y + 2, plotW, row.model().f1(), model);
            bar(g, left, y + 10, plotW, row.flagAll().f1(), flagAll);
            bar(g, left, y + 18, plotW, row.model().fpr(), fpr);
        }
        g.setColor(Color.BLACK);
        g.setStroke(new BasicStroke(1f));
        int axis = top + rows.size() * rowH + 5;
        g.drawLine(left, axis, left + plotW, axis);
        for (int t = 0; t <= 10; t += 2) {
            g.drawString(t * 10 + "%", left + plotW * t / 10 - 10, axis + 15);
        }
        canvas.write(file);
    }

    private static void legend(Graphics2D g, int x, int y, Color c, String label) {
        g.setColor(c);
        g.fillRect(x, y - 9, 12, 10);
        g.setColor(Color.BLACK);
        g.drawString(label, x + 16, y);
    }

    private static void bar(Graphics2D g, int x, int y, int w, double v, Color c) {
        if (Double.isNaN(v)) {
            return;
        }
        g.setColor(c);
        g.fillRect(x, y, (int) Math.round(w * v), 7);
    }

    /** The main table as Markdown (model next to flag-everything and flag-nothing), for READMEs and reviews. */
    public static void writeMarkdown(Evaluator.Result r, Path file) throws IOException {
        StringBuilder b = new StringBuilder();
        b.append("Thresholds: ").append(r.thresholds()).append("\n\n");
        b.append(
                "| dataset | lang | n | unsafe | P | R | F1 | FPR | AUPRC | F1 flag-all | F1 flag-none | thresholds |\n");
        b.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
        for (Evaluator.Row row : r.rows()) {
            Metrics m = row.model();
            b.append(String.format(
                    Locale.ROOT,
                    "| %s | %s | %d | %d | %s | %s | **%s** | %s | %s | %s | %s | %s |%n",
                    row.dataset(),
                    row.lang(),
                    m.n(),
                    m.unsafe(),
                    pct(m.precision()),
                    pct(m.recall()),
                    pct(m.f1()),
                    pct(m.fpr()),
                    pct(m.auprc()),
                    pct(row.flagAll().f1()),
                    pct(row.flagNone().f1()),
                    row.thresholds()));
        }
        Evaluator.Speed s = r.speed();
        b.append(String.format(
                Locale.ROOT,
                "%nLatency, one input per call (%d inputs): p50 %.2f ms, p95 %.2f ms; "
                        + "batched throughput %,.0f inputs/s.%n",
                s.latencySamples(),
                s.p50Ms(),
                s.p95Ms(),
                s.itemsPerSecond()));
        Files.createDirectories(file.toAbsolutePath().getParent());
        Files.writeString(file, b.toString());
    }

    /** The report's numbers for a bundle manifest's {@code metrics}. */
    public static JsonNode manifestMetrics(Evaluator.Result r) {
        return JSON.valueToTree(document(r));
    }
}
