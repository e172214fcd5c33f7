package dev.duoguard.dev.bench;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.duoguard.common.config.LayeredConfig;
import dev.duoguard.common.registry.RegistryConnection;
import dev.duoguard.common.serde.RegistryAvroSerdes;
import dev.duoguard.common.topics.Topic;
import dev.duoguard.common.topics.Topics;
import dev.duoguard.embedded.EmbeddedKafka;
import dev.duoguard.embedded.EmbeddedRegistry;
import dev.duoguard.lifecycle.ModelKey;
import dev.duoguard.runtime.baseline.LexiconBaseline;
import dev.duoguard.runtime.onnx.ExecutionDevice;
import dev.duoguard.runtime.scoring.GuardrailModel;
import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.schemas.Verdict;
import dev.duoguard.streams.app.ModelLocator;
import dev.duoguard.streams.app.StreamsApp;
import dev.duoguard.streams.config.AppConfig;
import dev.duoguard.streams.sample.SampleTraffic;
import dev.duoguard.streams.topology.ModerationListener;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * {@code ./duoguard bench}: raw model throughput vs. the whole Kafka pipeline, measured in one run, on one machine,
 * with one model. Pipeline throughput is measured on a pre-loaded input topic (capacity, not offered load);
 * latency is measured separately at a fixed offered load below capacity.
 */
public final class Bench {

    private static final int[] BATCH_SIZES = {1, 8, 32, 64, 128};

    /** {@code streams-bench.json}. */
    record Result(
            Machine machine,
            List<Run> runs,
            @JsonProperty("peak_rss_mb_whole_bench_jvm") long peakRssMbWholeBenchJvm) {}

    record Machine(int cores, @JsonProperty("max_heap_mb") long maxHeapMb, String java, String os, String cpu) {}

    /** One model: raw scoring throughput per batch size, then the pipeline per processing guarantee. */
    record Run(
            String model,
            @JsonProperty("raw_texts_per_second_by_batch") Map<String, Double> rawTextsPerSecondByBatch,
            @JsonProperty("raw_best_texts_per_second") double rawBestTextsPerSecond,
            @JsonProperty("messages_per_pipeline_run") int messagesPerPipelineRun,
            Map<String, Pipeline> pipeline) {}

    /** Capacity on a pre-loaded topic, and latency at a fixed offered load below it. */
    record Pipeline(
            @JsonProperty("throughput_msgs_per_second") double throughputMsgsPerSecond,
            @JsonProperty("ratio_to_raw_best") double ratioToRawBest,
            @JsonProperty("offered_load_msgs_per_second") double offeredLoadMsgsPerSecond,
            @JsonProperty("latency_samples") int latencySamples,
            @JsonProperty("p50_ms") double p50Ms,
            @JsonProperty("p99_ms") double p99Ms) {}

    /** Raw scoring of one model ({@code name@version on device}): texts per second by batch size. */
    private record Raw(String model, Map<String, Double> byBatch) {
        double best() {
            return byBatch.values().stream()
                    .mapToDouble(Double::doubleValue)
                    .max()
                    .orElseThrow();
        }
    }

    private record Latency(int samples, double p50Ms, double p99Ms) {}

    private final PrintStream out;
    private final int messages;
    private final Path jsonOut;
    private final Path model;

    private final int costLayers;
    private final int costWidth;

    public Bench(PrintStream out, int messages, Path jsonOut, Path model, int costLayers, int costWidth) {
        this.out = out;
        this.messages = messages;
        this.jsonOut = jsonOut;
        this.model = model;
        this.costLayers = costLayers;
        this.costWidth = costWidth;
    }

    public int run() throws Exception {
        List<ChatMessage> corpus = corpus(messages);
        Path work = Files.createTempDirectory("duoguard-bench-");
        List<Path> bundles = new ArrayList<>();
        bundles.add(ModelLocator.resolve(model));
        if (costLayers > 0) {
            Path costly = work.resolve("cost-model");
            LexiconBaseline.build(costly, costLayers, costWidth);
            bundles.add(costly);
        }
        List<Run> runs = new ArrayList<>();
        try (EmbeddedKafka kafka = new EmbeddedKafka(work.resolve("kafka")).start();
                EmbeddedRegistry registry = new EmbeddedRegistry(work).start()) {
            int run = 0;
            for (Path bundle : bundles) {
                Raw raw = raw(bundle, corpus);
                double rawBest = raw.best();
                // about 15 s of raw model time per pipeline run, between 2,000 and --messages
                int n = (int) Math.max(Math.min(2000, messages), Math.min(messages, rawBest * 15));
                List<ChatMessage> load = corpus.subList(0, n);
                Map<String, Pipeline> pipeline = new LinkedHashMap<>();
                for (String guarantee : List.of("exactly_once_v2", "at_least_once")) {
                    out.println(
                            "▶ pipeline " + guarantee + ": " + n + " pre-loaded messages → verdicts (read_committed)");
                    double throughput = capacity(kafka, registry, work, bundle, guarantee, load, "cap" + run++);
                    out.printf("  %,10.0f msg/s (%.0f%% of raw best)%n", throughput, 100 * throughput / rawBest);
                    double offered = Math.max(5, Math.min(throughput * 0.5, 500));
                    out.printf(
                            "▶ pipeline %s: latency at a fixed offered load of %.0f msg/s (2 s warm-up, then 10 s)%n",
                            guarantee, offered);
                    Latency latency = latency(kafka, registry, work, bundle, guarantee, corpus, offered, "lat" + run++);
                    out.printf("  p50 %.1f ms, p99 %.1f ms%n", latency.p50Ms(), latency.p99Ms());
                    pipeline.put(
                            guarantee,
                            new Pipeline(
                                    throughput,
                                    throughput / rawBest,
                                    offered,
                                    latency.samples(),
                                    latency.p50Ms(),
                                    latency.p99Ms()));
                }
                runs.add(new Run(raw.model(), raw.byBatch(), rawBest, n, pipeline));
            }
        } finally {
            try (var paths = Files.walk(work)) {
                paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
        Machine machine = machine();
        printTable(machine, runs);
        Files.createDirectories(jsonOut.toAbsolutePath().getParent());
        new ObjectMapper()
                .enable(SerializationFeature.INDENT_OUTPUT)
                .writeValue(jsonOut.toFile(), new Result(machine, runs, peakRssMb()));
        Path png = jsonOut.resolveSibling(jsonOut.getFileName().toString().replaceFirst("\\.json$", "") + ".png");
        BenchChart.write(
                bars(runs),
                machine.cpu() + ", " + machine.cores() + " cores; broker, registry, app and load generator share them",
                png);
        out.println("wrote " + jsonOut + " and " + png);
        return 0;
    }

    /** Raw scoring throughput per batch size. */
    private Raw raw(Path bundle, List<ChatMessage> corpus) {
        Map<String, Double> raw = new LinkedHashMap<>();
        try (GuardrailModel m = GuardrailModel.load(bundle, ExecutionDevice.AUTO, 0, 128)) {
            String name = new ModelKey(m.model().name(), m.model().version()) + " on "
                    + m.model().device();
            out.println("▶ model " + name);
            out.println("▶ raw scoring (tokenize + ONNX Runtime + sigmoid, no Kafka, no language id)");
            List<String> texts = corpus.stream()
                    .map(c -> c.getPrompt() == null ? c.getText() : m.pairText(c.getPrompt(), c.getText()))
                    .toList();
            // enough texts for about 3 s of the slowest batch size, at least 500
            scoreAll(m, texts.subList(0, 200), 8);
            long t = System.nanoTime();
            scoreAll(m, texts.subList(0, 200), 1);
            double perText = (System.nanoTime() - t) / 1e9 / 200;
            int n = (int) Math.max(500, Math.min(texts.size(), 3 / perText));
            for (int b : BATCH_SIZES) {
                scoreAll(m, texts.subList(0, Math.min(n, 200)), b); // warm-up
                long start = System.nanoTime();
                scoreAll(m, texts.subList(0, n), b);
                double perSec = n / ((System.nanoTime() - start) / 1e9);
                raw.put(Integer.toString(b), perSec);
                out.printf("  batch %4d: %,10.0f texts/s%n", b, perSec);
            }
            return new Raw(name, raw);
        }
    }

    private static void scoreAll(GuardrailModel m, List<String> texts, int batch) {
        for (int i = 0; i < texts.size(); i += batch) {
            m.score(texts.subList(i, Math.min(texts.size(), i + batch)));
        }
    }

    /** The sample's messages, cycled to {@code n} with unique ids. */
    static List<ChatMessage> corpus(int n) {
        List<ChatMessage> sample = SampleTraffic.load().stream()
                .filter(i -> i instanceof SampleTraffic.Message)
                .map(i -> ((SampleTraffic.Message) i).message())
                .toList();
        List<ChatMessage> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            ChatMessage s = sample.get(i % sample.size());
            out.add(ChatMessage.newBuilder(s)
                    .setMessageId("bench-" + i)
                    .setConversationId("conv-" + (i % 997))
                    .build());
        }
        return out;
    }

    private LayeredConfig appConfig(
            EmbeddedKafka kafka, EmbeddedRegistry registry, Path work, Path bundle, String guarantee, String suffix) {
        LayeredConfig c = AppConfig.layered(null, Map.of());
        names(suffix).asConfig().forEach((k, v) -> c.with(k, v, "bench"));
        return c.with("kafka.bootstrap.servers", kafka.bootstrapServers(), "bench")
                .with("registry.url", registry.apiUrl(), "bench")
                .with("registry.auto-register", "true", "bench") // the bench's own registry: anyone may write
                .with("application.id", "bench-" + suffix, "bench")
                .with("processing.guarantee", guarantee, "bench")
                .with("state.dir", work.resolve("state-" + suffix).toString(), "bench")
                .with("topics.partitions", "2", "bench")
                .with("scoring.max-batch", "64", "bench")
                .with("scoring.max-wait-ms", "5", "bench")
                .with("http.port", "-1", "bench")
                .with("model.path", bundle.toString(), "bench");
    }

    private double capacity(
            EmbeddedKafka kafka,
            EmbeddedRegistry registry,
            Path work,
            Path bundle,
            String guarantee,
            List<ChatMessage> corpus,
            String suffix)
            throws Exception {
        LayeredConfig config = appConfig(kafka, registry, work, bundle, guarantee, suffix);
        Topics topics =
                Topics.of(names(suffix), new RegistryAvroSerdes(RegistryConnection.anonymous(registry.apiUrl(), true)));
        createTopics(kafka, topics);
        try (var producer = producer(kafka, topics.messages())) {
            for (ChatMessage m : corpus) {
                producer.send(new ProducerRecord<>(topics.messages().name(), m.getConversationId(), m));
            }
            producer.flush();
        }
        try (var consumer = consumer(kafka, topics.verdicts());
                StreamsApp app = StreamsApp.start(config, ModerationListener.NONE)) {
            if (!app.awaitRunning(Duration.ofSeconds(60))) {
                throw new IllegalStateException("streams app not RUNNING: " + app.state());
            }
            long start = System.nanoTime();
            Set<String> seen = new HashSet<>();
            long deadline = start + Duration.ofMinutes(5).toNanos();
            while (seen.size() < corpus.size() && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, Verdict> r : consumer.poll(Duration.ofMillis(50))) {
                    seen.add(r.value().getMessageId());
                }
            }
            if (seen.size() < corpus.size()) {
                throw new IllegalStateException(
                        "only " + seen.size() + " of " + corpus.size() + " verdicts within 5 minutes");
            }
            return corpus.size() / ((System.nanoTime() - start) / 1e9);
        }
    }

    private Latency latency(
            EmbeddedKafka kafka,
            EmbeddedRegistry registry,
            Path work,
            Path bundle,
            String guarantee,
            List<ChatMessage> corpus,
            double rate,
            String suffix)
            throws Exception {
        LayeredConfig config = appConfig(kafka, registry, work, bundle, guarantee, suffix);
        Topics topics =
                Topics.of(names(suffix), new RegistryAvroSerdes(RegistryConnection.anonymous(registry.apiUrl(), true)));
        createTopics(kafka, topics);
        List<Double> latencies = new ArrayList<>();
        try (var producer = producer(kafka, topics.messages());
                var consumer = consumer(kafka, topics.verdicts());
                StreamsApp app = StreamsApp.start(config, ModerationListener.NONE)) {
            if (!app.awaitRunning(Duration.ofSeconds(60))) {
                throw new IllegalStateException("streams app not RUNNING: " + app.state());
            }
            consumer.poll(Duration.ofMillis(200)); // join the group before measuring
            int warmup = (int) (rate * 2);
            int total = warmup + (int) (rate * 10);
            long gap = (long) (1e9 / rate);
            long start = System.nanoTime();
            int sent = 0;
            int received = 0;
            while (received < total
                    && System.nanoTime() - start < Duration.ofSeconds(60).toNanos()) {
                long now = System.nanoTime();
                while (sent < total && now - start >= sent * gap) {
                    ChatMessage m = corpus.get(sent % corpus.size());
                    // the verdict carries the input record's timestamp: send time in ms
                    producer.send(new ProducerRecord<>(
                            topics.messages().name(),
                            null,
                            System.currentTimeMillis(),
                            m.getConversationId(),
                            ChatMessage.newBuilder(m)
                                    .setMessageId("lat-" + sent)
                                    .setTimestamp(Instant.now())
                                    .build()));
                    sent++;
                }
                for (ConsumerRecord<String, Verdict> r : consumer.poll(Duration.ofMillis(2))) {
                    if (received++ >= warmup) {
                        latencies.add((double) (System.currentTimeMillis() - r.timestamp()));
                    }
                }
            }
        }
        latencies.sort(Double::compare);
        return new Latency(latencies.size(), percentile(latencies, 0.50), percentile(latencies, 0.99));
    }

    private static List<BenchChart.Bar> bars(List<Run> runs) {
        List<BenchChart.Bar> bars = new ArrayList<>();
        for (Run r : runs) {
            String model = r.model().replaceAll("@.*", "").replace("duoguard-", "");
            r.pipeline()
                    .forEach((g, p) ->
                            bars.add(new BenchChart.Bar(model, g, p.ratioToRawBest(), p.throughputMsgsPerSecond())));
        }
        return bars;
    }

    /** Peak resident memory of this JVM (broker + registry client + app + load generator), from /proc. */
    static long peakRssMb() {
        try {
            return Files.readAllLines(Path.of("/proc/self/status")).stream()
                    .filter(l -> l.startsWith("VmHWM:"))
                    .findFirst()
                    .map(l -> Long.parseLong(l.replaceAll("\\D", "")) / 1024)
                    .orElse(-1L);
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
    }

    static double percentile(List<Double> sorted, double q) {
        if (sorted.isEmpty()) {
            return Double.NaN;
        }
        int i = (int) Math.ceil(q * sorted.size()) - 1;
        return sorted.get(Math.max(0, Math.min(sorted.size() - 1, i)));
    }

    /** The topics of one run: its own, so that runs do not read each other's records. */
    private static Topics.Names names(String suffix) {
        return Topics.Names.DEFAULTS.withSuffix(suffix);
    }

    /** The app's input and output topics (its models topic it creates itself). */
    private static void createTopics(EmbeddedKafka kafka, Topics topics) {
        kafka.createTopics(
                2,
                List.of(
                        topics.messages().name(),
                        topics.verdicts().name(),
                        topics.feedback().name(),
                        topics.seeds().name(),
                        topics.dlq().name()));
    }

    private static KafkaProducer<String, ChatMessage> producer(EmbeddedKafka kafka, Topic<String, ChatMessage> topic) {
        return new KafkaProducer<>(
                Map.of(
                        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                        kafka.bootstrapServers(),
                        ProducerConfig.LINGER_MS_CONFIG,
                        2,
                        ProducerConfig.ACKS_CONFIG,
                        "all"),
                topic.keySerializer(),
                topic.valueSerializer());
    }

    private static KafkaConsumer<String, Verdict> consumer(EmbeddedKafka kafka, Topic<String, Verdict> topic) {
        KafkaConsumer<String, Verdict> c = new KafkaConsumer<>(
                Map.of(
                        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG,
                        kafka.bootstrapServers(),
                        ConsumerConfig.GROUP_ID_CONFIG,
                        "bench-reader-" + topic.name(),
                        ConsumerConfig.AUTO_OFFSET_RESET_CONFIG,
                        "earliest",
                        ConsumerConfig.ISOLATION_LEVEL_CONFIG,
                        "read_committed",
                        ConsumerConfig.MAX_POLL_RECORDS_CONFIG,
                        2000),
                topic.keyDeserializer(),
                topic.valueDeserializer());
        c.subscribe(List.of(topic.name()));
        return c;
    }

    private void printTable(Machine machine, List<Run> runs) {
        out.println();
        out.println("machine: " + machine.cpu() + ", " + machine.cores() + " cores, " + machine.java()
                + "; peak RSS of the bench JVM (broker + app + load): " + peakRssMb() + " MB");
        out.println("| model | measurement | msg/s | ratio to raw best | p50 ms | p99 ms |");
        out.println("|---|---|---:|---:|---:|---:|");
        for (Run r : runs) {
            String model = r.model().replaceAll(" on .*", "");
            double best = r.rawBestTextsPerSecond();
            r.rawTextsPerSecondByBatch()
                    .forEach((b, v) ->
                            out.printf("| %s | raw scoring, batch %s | %,.0f | %.2f | | |%n", model, b, v, v / best));
            r.pipeline().forEach((g, p) -> {
                out.printf(
                        "| %s | pipeline %s, capacity | %,.0f | %.2f | | |%n",
                        model, g, p.throughputMsgsPerSecond(), p.ratioToRawBest());
                out.printf(
                        "| %s | pipeline %s at %.0f msg/s offered | | | %.1f | %.1f |%n",
                        model, g, p.offeredLoadMsgsPerSecond(), p.p50Ms(), p.p99Ms());
            });
        }
    }

    static Machine machine() {
        String cpu = "unknown";
        try {
            cpu = Files.readAllLines(Path.of("/proc/cpuinfo")).stream()
                    .filter(l -> l.startsWith("model name"))
                    .findFirst()
                    .map(l -> l.substring(l.indexOf(':') + 1).trim())
                    .orElse(cpu);
        } catch (IOException e) {
            // not Linux
        }
        return new Machine(
                Runtime.getRuntime().availableProcessors(),
                Runtime.getRuntime().maxMemory() / (1024 * 1024),
                System.getProperty("java.vm.name") + " " + System.getProperty("java.version"),
                System.getProperty("os.name") + " " + System.getProperty("os.version") + " "
                        + System.getProperty("os.arch"),
                cpu);
    }
}
