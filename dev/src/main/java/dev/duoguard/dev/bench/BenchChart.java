package dev.duoguard.dev.bench;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;

/**
 * The benchmark's one picture. Top: pipeline (and naive peer) throughput as a fraction of raw scoring throughput,
 * per model and processing guarantee, against the 70 % target. Bottom: cost per message in µs, the passthrough
 * anchors' (1 / msg/s) next to the scoring apps' own cost (1 / msg/s - 1 / raw best). Plain Java2D (headless), no
 * charting dependency for one chart.
 */
final class BenchChart {

    /** @param app "pipeline" or "naive peer" */
    record Bar(String model, String app, String guarantee, double ratio, double msgsPerSecond) {}

    record Cost(String what, String guarantee, double micros) {}

    private BenchChart() {}

    static void write(List<Bar> bars, List<Cost> costs, String subtitle, Path png) throws IOException {
        System.setProperty("java.awt.headless", "true");
        int width = 1100;
        int ratioHeight = 480;
        int rowHeight = 18;
        int costTop = ratioHeight + 40;
        int height = costTop + 30 + rowHeight * costs.size() + 20;
        int left = 70;
        int right = 30;
        int top = 70;
        int bottom = 120;
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, width, height);
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 16));
        g.drawString("Throughput / raw scoring throughput: the pipeline and the naive per-record peer", left, 28);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        g.drawString(subtitle, left, 48);

        int plotH = ratioHeight - top - bottom;
        int plotW = width - left - right;
        // axis and grid: 0 .. 1
        for (int i = 0; i <= 10; i += 2) {
            int y = top + plotH - plotH * i / 10;
            g.setColor(new Color(225, 225, 225));
            g.drawLine(left, y, left + plotW, y);
            g.setColor(Color.DARK_GRAY);
            g.drawString(String.format("%.1f", i / 10.0), left - 30, y + 4);
        }
        int slot = plotW / Math.max(1, bars.size());
        int barW = Math.min(80, slot * 3 / 5);
        for (int i = 0; i < bars.size(); i++) {
            Bar b = bars.get(i);
            int x = left + i * slot + (slot - barW) / 2;
            int h = (int) Math.round(plotH * Math.min(1.0, b.ratio()));
            g.setColor(b.guarantee().startsWith("exactly") ? new Color(49, 99, 149) : new Color(120, 170, 210));
            g.fillRect(x, top + plotH - h, barW, h);
            g.setColor(Color.BLACK);
            g.drawString(String.format("%.2f", b.ratio()), x + barW / 2 - 12, top + plotH - h - 6);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
            drawCentered(g, b.guarantee(), x + barW / 2, top + plotH + 16);
            drawCentered(g, String.format("%,.0f msg/s", b.msgsPerSecond()), x + barW / 2, top + plotH + 30);
            drawCentered(g, b.model(), x + barW / 2, top + plotH + 46);
            drawCentered(g, b.app(), x + barW / 2, top + plotH + 62);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        }
        int target = top + plotH - (int) Math.round(plotH * 0.7);
        g.setColor(new Color(200, 40, 40));
        g.setStroke(new BasicStroke(1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {6f, 4f}, 0f));
        g.drawLine(left, target, left + plotW, target);
        g.drawString("target 0.70", left + plotW - 80, target - 6);
        drawCosts(g, costs, costTop, width, rowHeight);
        g.dispose();
        ImageIO.write(img, "png", png.toFile());
    }

    /** Horizontal bars, one per cost, on a linear scale up to the largest. */
    private static void drawCosts(Graphics2D g, List<Cost> costs, int top, int width, int rowHeight) {
        g.setStroke(new BasicStroke(1f));
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 16));
        g.drawString(
                "Cost per message, µs (anchors: 1 / msg/s; scoring apps: own cost = 1 / msg/s − 1 / raw best)",
                20,
                top);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
        int labelW = 400;
        int plotW = width - labelW - 110;
        double max = costs.stream().mapToDouble(Cost::micros).max().orElse(1);
        for (int i = 0; i < costs.size(); i++) {
            Cost c = costs.get(i);
            int y = top + 16 + i * rowHeight;
            g.setColor(Color.BLACK);
            g.drawString(c.what() + ", " + c.guarantee(), 20, y + rowHeight - 6);
            int w = (int) Math.round(plotW * Math.max(0, c.micros()) / max);
            g.setColor(c.guarantee().startsWith("exactly") ? new Color(49, 99, 149) : new Color(120, 170, 210));
            g.fillRect(labelW, y + 2, Math.max(1, w), rowHeight - 4);
            g.setColor(Color.BLACK);
            g.drawString(String.format("%,.0f µs", c.micros()), labelW + Math.max(1, w) + 6, y + rowHeight - 6);
        }
    }

    private static void drawCentered(Graphics2D g, String s, int x, int y) {
        g.drawString(s, x - g.getFontMetrics().stringWidth(s) / 2, y);
    }
}
