package dev.duoguard.dev.bench;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;

/**
 * The latency curves of {@link Bench.Part#CURVE}: one panel per model, offered load (as a fraction of the measured
 * capacity) across, p99 (solid) and p50 (dashed) latency in ms up (log scale), one colour per guarantee and commit
 * interval. Plain Java2D like {@link BenchChart}.
 */
final class LatencyChart {

    private static final Color[] COLOURS = {
        new Color(0x1f77b4),
        new Color(0xd62728),
        new Color(0x2ca02c),
        new Color(0x9467bd),
        new Color(0xff7f0e),
        new Color(0x8c564b)
    };

    private LatencyChart() {}

    static void write(List<Bench.Run> runs, Path png) throws IOException {
        System.setProperty("java.awt.headless", "true");
        List<Bench.Run> withCurve =
                runs.stream().filter(r -> !r.latencyCurve().isEmpty()).toList();
        int panelWidth = 560;
        int width = panelWidth * withCurve.size();
        int height = 460;
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, width, height);
        for (int i = 0; i < withCurve.size(); i++) {
            panel(g, withCurve.get(i), i * panelWidth, panelWidth, height);
        }
        g.dispose();
        ImageIO.write(img, "png", png.toFile());
    }

    private static void panel(Graphics2D g, Bench.Run run, int x0, int w, int h) {
        int left = x0 + 70;
        int right = x0 + w - 20;
        int top = 50;
        int bottom = h - 110;
        double maxMs = 1;
        double minMs = Double.MAX_VALUE;
        for (Bench.LatencyPoint p : run.latencyCurve()) {
            maxMs = Math.max(maxMs, p.p99Ms());
            minMs = Math.min(minMs, Math.max(1, p.p50Ms()));
        }
        double logMin = Math.floor(Math.log10(minMs));
        double logMax = Math.ceil(Math.log10(maxMs));
        if (logMax <= logMin) {
            logMax = logMin + 1;
        }
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 13));
        g.drawString(run.model().replaceAll(" on .*", ""), left, 25);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
        g.drawLine(left, bottom, right, bottom);
        g.drawLine(left, top, left, bottom);
        for (double e = logMin; e <= logMax; e++) {
            int y = y(Math.pow(10, e), logMin, logMax, top, bottom);
            g.setColor(new Color(0xdddddd));
            g.drawLine(left, y, right, y);
            g.setColor(Color.BLACK);
            g.drawString(String.format("%.0f ms", Math.pow(10, e)), x0 + 8, y + 4);
        }
        for (int pct = 0; pct <= 100; pct += 25) {
            int x = left + (right - left) * pct / 100;
            g.drawString(pct + "%", x - 10, bottom + 16);
        }
        g.drawString("offered load, % of the pipeline's measured capacity", left + 60, bottom + 34);
        Map<String, List<Bench.LatencyPoint>> series = new LinkedHashMap<>();
        for (Bench.LatencyPoint p : run.latencyCurve()) {
            String key = (p.guarantee().startsWith("exactly")
                            ? p.guarantee() + ", commit " + p.commitIntervalMs() + " ms"
                            : p.guarantee())
                    + ", poll " + p.pollMs() + " ms";
            series.computeIfAbsent(key, k -> new ArrayList<>()).add(p);
        }
        int legendY = bottom + 54;
        int c = 0;
        for (Map.Entry<String, List<Bench.LatencyPoint>> s : series.entrySet()) {
            Color colour = COLOURS[c % COLOURS.length];
            line(g, s.getValue(), true, colour, left, right, top, bottom, logMin, logMax);
            line(g, s.getValue(), false, colour, left, right, top, bottom, logMin, logMax);
            int lx = x0 + 10 + (c % 2) * 270;
            int ly = legendY + (c / 2) * 16;
            g.setColor(colour);
            g.fillRect(lx, ly - 8, 12, 8);
            g.setColor(Color.BLACK);
            g.drawString(s.getKey(), lx + 16, ly);
            c++;
        }
        g.drawString("solid: p99, dashed: p50", right - 140, top - 8);
    }

    private static void line(
            Graphics2D g,
            List<Bench.LatencyPoint> points,
            boolean p99,
            Color colour,
            int left,
            int right,
            int top,
            int bottom,
            double logMin,
            double logMax) {
        g.setColor(colour);
        g.setStroke(
                p99
                        ? new BasicStroke(2f)
                        : new BasicStroke(
                                1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {5f, 4f}, 0f));
        int px = -1;
        int py = -1;
        for (Bench.LatencyPoint p : points) {
            int x = left + (int) ((right - left) * p.fractionOfCapacity());
            int y = y(Math.max(1, p99 ? p.p99Ms() : p.p50Ms()), logMin, logMax, top, bottom);
            g.fillOval(x - 3, y - 3, 6, 6);
            if (px >= 0) {
                g.drawLine(px, py, x, y);
            }
            px = x;
            py = y;
        }
        g.setStroke(new BasicStroke(1f));
    }

    private static int y(double ms, double logMin, double logMax, int top, int bottom) {
        double f = (Math.log10(ms) - logMin) / (logMax - logMin);
        return bottom - (int) ((bottom - top) * f);
    }
}
