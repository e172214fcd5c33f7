package dev.duoguard.dev.bench;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The benches' JSON keeps the field names the README's tables and the charts were made from. */
class BenchResultsTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void streamsBenchJson() {
        Bench.Run run = new Bench.Run(
                "duoguard-default@1 on CPU",
                Map.of("1", 100.0),
                100.0,
                2000,
                Map.of("exactly_once_v2", new Bench.Pipeline(80.0, 0.8, 40.0, 400, 12.5, 30.0)));
        JsonNode json = JSON.valueToTree(new Bench.Result(Bench.machine(), List.of(run), 512));
        assertThat(json.path("machine").path("cores").asInt()).isPositive();
        assertThat(json.path("machine").path("max_heap_mb").asLong()).isPositive();
        assertThat(json.path("machine").has("cpu")).isTrue();
        assertThat(json.path("peak_rss_mb_whole_bench_jvm").asLong()).isEqualTo(512);
        JsonNode r = json.path("runs").get(0);
        assertThat(r.path("model").asText()).isEqualTo("duoguard-default@1 on CPU");
        assertThat(r.path("raw_texts_per_second_by_batch").path("1").asDouble()).isEqualTo(100.0);
        assertThat(r.path("raw_best_texts_per_second").asDouble()).isEqualTo(100.0);
        assertThat(r.path("messages_per_pipeline_run").asInt()).isEqualTo(2000);
        JsonNode p = r.path("pipeline").path("exactly_once_v2");
        assertThat(p.path("throughput_msgs_per_second").asDouble()).isEqualTo(80.0);
        assertThat(p.path("ratio_to_raw_best").asDouble()).isEqualTo(0.8);
        assertThat(p.path("offered_load_msgs_per_second").asDouble()).isEqualTo(40.0);
        assertThat(p.path("latency_samples").asInt()).isEqualTo(400);
        assertThat(p.path("p50_ms").asDouble()).isEqualTo(12.5);
        assertThat(p.path("p99_ms").asDouble()).isEqualTo(30.0);
    }

    @Test
    void swapPauseJsonAndItsStatistics() {
        SwapBench.Stats s = SwapBench.Stats.of(new double[] {5, 1, 4, 2, 3});
        assertThat(s).isEqualTo(new SwapBench.Stats(5, 3, 5, 5));
        assertThat(SwapBench.Stats.of(List.of()).p50()).as("no measurements").isNaN();

        JsonNode json =
                JSON.valueToTree(new SwapBench.Result("models/default", "2 cores", 20, 2, 16, s, s, s, s, 1.5, 0.5));
        assertThat(json.path("scoring_threads").asInt()).isEqualTo(2);
        for (String stats :
                List.of("swap_call_us", "background_load_ms", "batch_ms_in_flight_at_a_swap", "batch_ms_other")) {
            assertThat(json.path(stats).path("p99").asDouble()).as(stats).isEqualTo(5.0);
            assertThat(json.path(stats).path("n").asInt()).as(stats).isEqualTo(5);
        }
        assertThat(json.path("max_gap_between_batches_within_200ms_of_a_swap_ms")
                        .asDouble())
                .isEqualTo(1.5);
        assertThat(json.path("max_gap_between_batches_elsewhere_ms").asDouble()).isEqualTo(0.5);
    }
}
