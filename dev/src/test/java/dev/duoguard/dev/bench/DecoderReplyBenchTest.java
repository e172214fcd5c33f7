package dev.duoguard.dev.bench;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.duoguard.trainer.hf.Qwen2Weights;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DecoderReplyBenchTest {

    @Test
    void theBenchModelIsTheSmallPresetWithAFullClassifierHead() {
        Qwen2Weights w = DecoderReplyBench.randomWeights(DecoderReplyBench.config(), 1);
        assertThat(w.config.hiddenSize()).isEqualTo(256);
        assertThat(w.layers).hasSize(6);
        assertThat(w.score).hasSize(12 * 256);
        assertThat(w.finalNorm).containsOnly(1f);
    }

    @Test
    void jsonFieldsAndChart(@TempDir Path dir) throws Exception {
        List<DecoderReplyBench.Row> rows = List.of(
                new DecoderReplyBench.Row(64, 3.0, 3.1, 1.0, 393_216, 0.5, 1.0),
                new DecoderReplyBench.Row(1024, 60.0, 61.0, 2.0, 6_291_456, 8.0, 1.5));
        JsonNode json =
                new ObjectMapper().valueToTree(new DecoderReplyBench.Result(Bench.machine(), "random", 5, 50, rows));
        JsonNode row = json.path("rows").get(1);
        assertThat(json.path("chunk_tokens").asInt()).isEqualTo(5);
        assertThat(row.path("reply_tokens").asInt()).isEqualTo(1024);
        assertThat(row.path("rescore_ms").asDouble()).isEqualTo(60.0);
        assertThat(row.path("one_pass_positions_ms").asDouble()).isEqualTo(61.0);
        assertThat(row.path("kv_append_ms").asDouble()).isEqualTo(2.0);
        assertThat(row.path("kv_state_bytes").asLong()).isEqualTo(6_291_456);
        assertThat(row.path("reply_one_pass_every_ms_per_chunk").asDouble()).isEqualTo(8.0);
        assertThat(row.path("reply_cache_ms_per_chunk").asDouble()).isEqualTo(1.5);
        assertThat(json.path("one_pass_every_tokens").asInt()).isEqualTo(50);

        Path png = dir.resolve("reply-bench-decoder.png");
        DecoderReplyBench.chart(rows, png);
        BufferedImage img = ImageIO.read(png.toFile());
        assertThat(img.getWidth()).isEqualTo(640);
    }
}
