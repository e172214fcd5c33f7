package dev.duoguard.dev.bench;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReplyBenchTest {

    @Test
    void repliesHaveTheAskedLengthAndAreSafeText() {
        assertThat(ReplyBench.reply(1234)).hasSize(1234).doesNotContain("bomb");
    }

    /** The JSON keeps the field names the README's table was made from. */
    @Test
    void replyBenchJson() {
        JsonNode json = new ObjectMapper()
                .valueToTree(new ReplyBench.Result(
                        Bench.machine(),
                        "lexicon",
                        20,
                        200,
                        List.of(new ReplyBench.CostRow(1000, 50, 5, 3100, 0.5, 4.0)),
                        new ReplyBench.Latency(30, 50, 120.0, 180.0, 200.0, 2.0)));
        JsonNode row = json.path("cost_per_chunk").get(0);
        assertThat(row.path("reply_chars").asInt()).isEqualTo(1000);
        assertThat(row.path("model_input_chars").asLong()).isEqualTo(3100);
        assertThat(row.path("ms_per_chunk").asDouble()).isEqualTo(0.5);
        assertThat(row.path("last_scoring_ms").asDouble()).isEqualTo(4.0);
        JsonNode stop = json.path("stop_latency");
        assertThat(stop.path("p50_ms").asDouble()).isEqualTo(120.0);
        assertThat(stop.path("p99_ms").asDouble()).isEqualTo(180.0);
        assertThat(stop.path("chunks_shown_after_harmful_p50").asDouble()).isEqualTo(2.0);
        assertThat(json.path("score_every_chars").asInt()).isEqualTo(200);
    }

    @Test
    void theCostChartIsWritten(@TempDir Path dir) throws IOException {
        Path png = dir.resolve("reply-bench.png");
        ReplyCostChart.write(
                List.of(
                        new ReplyBench.CostRow(250, 13, 2, 500, 2.4, 3.0),
                        new ReplyBench.CostRow(4000, 200, 20, 42000, 32.5, 60.0)),
                "cost per chunk, m@1",
                png);
        BufferedImage img = ImageIO.read(png.toFile());
        assertThat(img.getWidth()).isEqualTo(640);
        assertThat(img.getHeight()).isEqualTo(400);
    }
}
