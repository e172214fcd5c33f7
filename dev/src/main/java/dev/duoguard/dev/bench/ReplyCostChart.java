package dev.duoguard.dev.bench;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import javax.imageio.ImageIO;

/**
 * {@code reply-bench}'s picture: the model's cost per chunk against the reply's length when the whole growing reply
 * is rescored (it grows with the length, so a reply's total grows with its square), and the decoder part's series
 * (rescoring, one pass with per-position scores, the key/value cache). Plain Java2D like {@link BenchChart}.
 */
final class ReplyCostChart {

    /** One line: y (ms) at each x. */
    record Series(String name, Color color, double[] x, double[] y) {}

    private ReplyCostChart() {}

    static void write(List<ReplyBench.CostRow> rows, String title, Path png) throws IOException {
        Series rescored = new Series(
                "rescored",
                new Color(0x1f77b4),
                rows.stream().mapToDouble(ReplyBench.CostRow::replyChars).toArray(),
                rows.stream().mapToDouble(ReplyBench.CostRow::msPerChunk).toArray());
        write(
                List.of(rescored),
                title,
                "reply length (characters); y: model time per chunk, the growing reply rescored",
                png);
    }

    /** Several series on shared axes from 0, with a legend when there is more than one. */
    static void write(List<Series> series, String title, String xLabel, Path png) throws IOException {
        System.setProperty("java.awt.headless", "true");
        int width = 640;
        int height = 400;
        int left = 70;
        int right = width - 30;
        int top = 50;
        int bottom = height - 60;
        double maxX =
                series.stream().flatMapToDouble(s -> Arrays.stream(s.x())).max().orElse(1);
        double maxMs =
                series.stream().flatMapToDouble(s -> Arrays.stream(s.y())).max().orElse(1);
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, width, height);
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 13));
        g.drawString(title, left, 25);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
        g.drawLine(left, bottom, right, bottom);
        g.drawLine(left, top, left, bottom);
        for (int i = 0; i <= 4; i++) {
            int y = bottom - (bottom - top) * i / 4;
            int x = left + (right - left) * i / 4;
            g.setColor(new Color(0xdddddd));
            g.drawLine(left, y, right, y);
            g.setColor(Color.BLACK);
            g.drawString(String.format("%.1f ms", maxMs * i / 4), 8, y + 4);
            g.drawString(String.format("%,.0f", maxX * i / 4), x - 14, bottom + 16);
        }
        g.drawString(xLabel, left, bottom + 36);
        g.setStroke(new BasicStroke(2f));
        for (int s = 0; s < series.size(); s++) {
            Series line = series.get(s);
            g.setColor(line.color());
            if (series.size() > 1) {
                g.fillRect(left + 12, top + 6 + 16 * s, 10, 10);
                g.drawString(line.name(), left + 28, top + 15 + 16 * s);
            }
            int px = -1;
            int py = -1;
            for (int i = 0; i < line.x().length; i++) {
                int x = left + (int) ((right - left) * line.x()[i] / maxX);
                int y = bottom - (int) ((bottom - top) * line.y()[i] / maxMs);
                g.fillOval(x - 3, y - 3, 6, 6);
                if (px >= 0) {
                    g.drawLine(px, py, x, y);
                }
                px = x;
                py = y;
            }
        }
        g.dispose();
        ImageIO.write(img, "png", png.toFile());
    }
}
