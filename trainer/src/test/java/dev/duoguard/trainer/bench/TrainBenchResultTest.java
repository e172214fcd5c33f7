package dev.duoguard.trainer.bench;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.List;
import org.junit.jupiter.api.Test;

/** train-bench.json keeps its field names. */
class TrainBenchResultTest {

    @Test
    void trainBenchJson() {
        TrainBench.PresetRow row = new TrainBench.PresetRow("tiny", 123_456, 8, 128, 40, 5000.0, 3.2, 0.04);
        JsonNode json =
                new ObjectMapper().valueToTree(new TrainBench.Result("PyTorch 2.5.1", "cpu()", 2, 80.0, List.of(row)));
        assertThat(json.path("engine").asText()).isEqualTo("PyTorch 2.5.1");
        assertThat(json.path("device").asText()).isEqualTo("cpu()");
        assertThat(json.path("threads").asInt()).isEqualTo(2);
        assertThat(json.path("measured_peak_gflops").asDouble()).isEqualTo(80.0);
        JsonNode p = json.path("presets").get(0);
        assertThat(p.path("preset").asText()).isEqualTo("tiny");
        assertThat(p.path("non_embedding_params").asLong()).isEqualTo(123_456);
        assertThat(p.path("batch").asInt()).isEqualTo(8);
        assertThat(p.path("seq_len").asInt()).isEqualTo(128);
        assertThat(p.path("steps").asLong()).isEqualTo(40);
        assertThat(p.path("tokens_per_second").asDouble()).isEqualTo(5000.0);
        assertThat(p.path("achieved_gflops").asDouble()).isEqualTo(3.2);
        assertThat(p.path("mfu").asDouble()).isEqualTo(0.04);
    }
}
