package dev.duoguard.trainer.eval;

import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;

/**
 * A white, antialiased canvas with a bold title, for the trainer's PNG reports (evaluation, loop, study): the
 * set-up and the writing that every chart shares. Java2D because no plotting library is on Maven Central that is
 * worth its weight for three bar/line charts.
 */
public final class ChartCanvas {

    private final BufferedImage image;
    private final Graphics2D g;

    public ChartCanvas(int width, int height, String title) {
        image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        g = image.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, width, height);
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 13));
        g.drawString(title, 10, 20);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
    }

    public Graphics2D graphics() {
        return g;
    }

    /** Finishes drawing and writes the PNG (creating the parent directory). */
    public void write(Path file) throws IOException {
        g.dispose();
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        ImageIO.write(image, "png", file.toFile());
    }
}
