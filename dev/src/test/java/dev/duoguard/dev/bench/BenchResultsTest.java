package dev.duoguard.dev.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The benches' JSON keeps the field names the README's tables and the charts were made from. */
class BenchResultsTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void streamsBenchJson() {
        Bench.Anchor passthrough = Bench.Anchor.of(1000.0, 40000);
        Bench.Capacity capacity = Bench.Capacity.of(80.0, 100.0, passthrough);
        Bench.Run run = new Bench.Run(
                "duoguard-default@1 on CPU",
                Map.of("1", 100.0),
                100.0,
                2000,
                Map.of("exactly_once_v2", new Bench.Pipeline(capacity, 2.0, 40.0, 400, 12.5, 30.0)),
                Map.of("exactly_once_v2", Bench.Capacity.of(40.0, 100.0, null)),
                Map.of(
                        "exactly_once_v2",
                        Map.of("language detection off", Bench.Capacity.of(90.0, 100.0, passthrough))),
                List.of(new Bench.LatencyPoint("exactly_once_v2", 50, 5, 0.25, 20.0, 200, 40.0, 90.0)),
                List.of(new Bench.ScaleOut("exactly_once_v2", 4, 80.0, 150.0)));
        JsonNode json = JSON.valueToTree(new Bench.Result(
                Bench.machine(),
                Map.of("exactly_once_v2", passthrough),
                Map.of("exactly_once_v2", Bench.Anchor.of(10000.0, 100000)),
                List.of(run),
                512,
                Map.of("language.detect", "false")));
        assertThat(json.path("machine").path("cores").asInt()).isPositive();
        assertThat(json.path("machine").path("max_heap_mb").asLong()).isPositive();
        assertThat(json.path("machine").has("cpu")).isTrue();
        assertThat(json.path("peak_rss_mb_whole_bench_jvm").asLong()).isEqualTo(512);
        assertThat(json.path("app_settings").path("language.detect").asText()).isEqualTo("false");
        JsonNode avro = json.path("avro_passthrough").path("exactly_once_v2");
        assertThat(avro.path("throughput_msgs_per_second").asDouble()).isEqualTo(1000.0);
        assertThat(avro.path("cost_per_message_us").asDouble()).isEqualTo(1000.0);
        assertThat(avro.path("messages").asInt()).isEqualTo(40000);
        assertThat(json.path("bytes_passthrough")
                        .path("exactly_once_v2")
                        .path("cost_per_message_us")
                        .asDouble())
                .isEqualTo(100.0);
        JsonNode r = json.path("runs").get(0);
        assertThat(r.path("model").asText()).isEqualTo("duoguard-default@1 on CPU");
        assertThat(r.path("raw_texts_per_second_by_batch").path("1").asDouble()).isEqualTo(100.0);
        assertThat(r.path("raw_best_texts_per_second").asDouble()).isEqualTo(100.0);
        assertThat(r.path("messages_per_pipeline_run").asInt()).isEqualTo(2000);
        JsonNode p = r.path("pipeline").path("exactly_once_v2");
        assertThat(p.path("throughput_msgs_per_second").asDouble()).isEqualTo(80.0);
        assertThat(p.path("ratio_to_raw_best").asDouble()).isEqualTo(0.8);
        assertThat(p.path("ratio_to_avro_passthrough").asDouble()).isEqualTo(0.08);
        // 1e6/80 - 1e6/100 = 12,500 - 10,000 µs
        assertThat(p.path("own_cost_per_message_us").asDouble()).isCloseTo(2500.0, within(1e-9));
        assertThat(p.path("own_cost_over_avro_passthrough_cost").asDouble()).isCloseTo(2.5, within(1e-9));
        assertThat(p.path("ratio_to_naive_per_record").asDouble()).isEqualTo(2.0);
        assertThat(p.path("offered_load_msgs_per_second").asDouble()).isEqualTo(40.0);
        assertThat(p.path("latency_samples").asInt()).isEqualTo(400);
        assertThat(p.path("p50_ms").asDouble()).isEqualTo(12.5);
        assertThat(p.path("p99_ms").asDouble()).isEqualTo(30.0);
        JsonNode naive = r.path("naive_per_record").path("exactly_once_v2");
        assertThat(naive.path("own_cost_per_message_us").asDouble()).isCloseTo(15000.0, within(1e-9));
        assertThat(naive.path("ratio_to_avro_passthrough").isNull())
                .as("no passthrough ran: null, not NaN")
                .isTrue();
        JsonNode off = r.path("pipeline_variants").path("exactly_once_v2").path("language detection off");
        // 1e6/90 - 1e6/100 = 1,111.1 µs, against the passthrough's 1,000
        assertThat(off.path("own_cost_per_message_us").asDouble()).isCloseTo(1111.1, within(0.1));
        assertThat(off.path("own_cost_over_avro_passthrough_cost").asDouble()).isCloseTo(1.11, within(0.01));
        JsonNode point = r.path("latency_curve").get(0);
        assertThat(point.path("commit_interval_ms").asInt()).isEqualTo(50);
        assertThat(point.path("poll_ms").asInt()).isEqualTo(5);
        assertThat(point.path("fraction_of_capacity").asDouble()).isEqualTo(0.25);
        assertThat(point.path("p99_ms").asDouble()).isEqualTo(90.0);
        JsonNode scale = r.path("scale_out").get(0);
        assertThat(scale.path("partitions").asInt()).isEqualTo(4);
        assertThat(scale.path("two_instances_msgs_per_second").asDouble()).isEqualTo(150.0);
    }

    @Test
    void theLatencyChartHasOnePanelPerModelWithACurve(@TempDir Path dir) throws IOException {
        List<Bench.LatencyPoint> points = List.of(
                new Bench.LatencyPoint("exactly_once_v2", 100, 5, 0.1, 10.0, 100, 60.0, 140.0),
                new Bench.LatencyPoint("exactly_once_v2", 100, 5, 0.5, 50.0, 500, 70.0, 400.0),
                new Bench.LatencyPoint("at_least_once", 1000, 100, 0.5, 50.0, 500, 8.0, 30.0));
        Bench.Run withCurve = new Bench.Run("m@1", Map.of(), 1, 1, Map.of(), Map.of(), Map.of(), points, List.of());
        Bench.Run without = new Bench.Run("n@1", Map.of(), 1, 1, Map.of(), Map.of(), Map.of(), List.of(), List.of());
        Path png = dir.resolve("curve.png");
        LatencyChart.write(List.of(withCurve, without), png);
        BufferedImage img = ImageIO.read(png.toFile());
        assertThat(img.getWidth()).as("one 560 px panel").isEqualTo(560);
    }

    @Test
    void ownCostPerMessageIsWhatThePipelineAddsToTheModelsBestCost() {
        // the example: 1,311 msg/s against 13,607 raw texts/s
        assertThat(Bench.ownCostUs(1311, 13607)).isCloseTo(689.3, within(0.1));
        assertThat(Bench.ownCostUs(500, 500))
                .as("a pipeline as fast as raw scoring")
                .isZero();
        assertThat(Bench.costUs(85000)).isCloseTo(11.8, within(0.1));
        assertThat(Bench.row(Bench.Capacity.of(1311, 13607, Bench.Anchor.of(5000, 1))))
                .isEqualTo("1,311 | 0.10 | 0.26 | 689 | 3.4×");
        assertThat(Bench.row(Bench.Capacity.of(1311, 13607, null))).isEqualTo("1,311 | 0.10 |  | 689 | ");
    }

    @Test
    void capacityIsMeasuredFromTheFirstOutputsOnUnlessTheyWereMostOfThem() {
        long s = 1_000_000_000L;
        // RUNNING at 0 s, 100 of 1,000 outputs at 1 s, the last at 4 s: 900 outputs in 3 s
        assertThat(Bench.steadyRate(1000, 0, s, 100, 4 * s)).isCloseTo(300.0, within(1e-9));
        // 600 of 1,000 in the first poll: from RUNNING, 1,000 in 4 s
        assertThat(Bench.steadyRate(1000, 0, s, 600, 4 * s)).isCloseTo(250.0, within(1e-9));
        // everything in one poll
        assertThat(Bench.steadyRate(1000, 0, 4 * s, 1000, 4 * s)).isCloseTo(250.0, within(1e-9));
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
