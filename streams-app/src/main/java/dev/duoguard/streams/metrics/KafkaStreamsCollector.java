package dev.duoguard.streams.metrics;

import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import io.prometheus.metrics.model.snapshots.PrometheusNaming;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;

/**
 * Exposes Kafka Streams' own metrics (and its embedded clients') as Prometheus gauges at scrape time:
 * {@code kafka_<group>_<name>} with the metric tags as labels. Non-numeric metrics are skipped.
 */
public final class KafkaStreamsCollector implements MultiCollector {

    private final Supplier<Map<MetricName, ? extends Metric>> metrics;

    public KafkaStreamsCollector(Supplier<Map<MetricName, ? extends Metric>> metrics) {
        this.metrics = metrics;
    }

    @Override
    public MetricSnapshots collect() {
        Map<String, GaugeSnapshot.Builder> byName = new LinkedHashMap<>();
        Map<String, Set<Labels>> seen = new LinkedHashMap<>();
        for (Map.Entry<MetricName, ? extends Metric> e : metrics.get().entrySet()) {
            Object value;
            try {
                value = e.getValue().metricValue();
            } catch (RuntimeException ex) {
                continue;
            }
            if (!(value instanceof Number n) || Double.isNaN(n.doubleValue())) {
                continue;
            }
            MetricName mn = e.getKey();
            String name = PrometheusNaming.sanitizeMetricName("kafka_" + mn.group() + "_" + mn.name());
            List<String> keys = mn.tags().keySet().stream().sorted().toList();
            String[] labelNames =
                    keys.stream().map(PrometheusNaming::sanitizeLabelName).toArray(String[]::new);
            String[] labelValues = keys.stream().map(k -> mn.tags().get(k)).toArray(String[]::new);
            Labels labels = Labels.of(labelNames, labelValues);
            if (!seen.computeIfAbsent(name, k -> new HashSet<>()).add(labels)) {
                continue; // the same series from two clients: keep the first
            }
            byName.computeIfAbsent(name, k -> GaugeSnapshot.builder().name(k).help(mn.description()))
                    .dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder()
                            .value(n.doubleValue())
                            .labels(labels)
                            .build());
        }
        MetricSnapshots.Builder out = MetricSnapshots.builder();
        byName.values().forEach(b -> out.metricSnapshot(b.build()));
        return out.build();
    }
}
