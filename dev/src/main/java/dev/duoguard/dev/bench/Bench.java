package dev.duoguard.dev.bench;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonUnwrapped;
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
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.ParseException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.Supplier;
import jdk.jfr.Configuration;
import jdk.jfr.Recording;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.Topology;

/**
 * {@code ./duoguard bench}: raw model throughput vs. the whole Kafka pipeline and its anchors, measured in one run,
 * on one machine, with one broker and registry. Throughput is measured on a pre-loaded input topic (capacity, not
 * offered load); latency is measured separately at a fixed offered load below capacity.
 *
 * <p>The anchors (see {@link Anchors}) are Kafka Streams apps with the pipeline's topics, serdes and streams
 * properties: an Avro passthrough (the limit of the pipeline on this machine), a bytes-only passthrough and the
 * naive one-model-call-per-message peer. The metric is the pipeline's <b>own cost per message</b>,
 * {@code 1 / pipeline msg/s - 1 / raw best msg/s}, next to the Avro passthrough's {@code 1 / msg/s}.
 */
public final class Bench {

    private static final int[] BATCH_SIZES = {1, 8, 32, 64, 128};

    /** What a run measures; {@link #RAW} and the pipeline's capacity always run. */
    public enum Part {
        /** the Avro passthrough anchor (once per guarantee, not per model) */
        PASSTHROUGH,
        /** the bytes-only passthrough anchor */
        BYTES,
        /** the naive per-record peer, per model */
        NAIVE,
        /** the pipeline's latency at half its capacity */
        LATENCY,
        /**
         * the pipeline's capacity again with language identification off, in low-accuracy mode and on 2 threads of
         * its own instead of the stream thread: what detection costs per message (see LANGUAGE_VARIANTS)
         */
        LANGUAGE,
        /** latency against offered load, per exactly-once commit interval ({@link #CURVE_LOADS}) */
        CURVE,
        /** one instance against two on four partitions (the first model only) */
        SCALE
    }

    /** Offered loads of {@link Part#CURVE}, as fractions of the guarantee's measured capacity. */
    static final double[] CURVE_LOADS = {0.1, 0.25, 0.5, 0.75};

    /**
     * A line of {@link Part#CURVE}: Kafka Streams' commit interval and {@code poll.ms} (how long the stream thread
     * blocks for input, so how late a wall-clock punctuation and a due commit can run when input is sparse).
     */
    record CurveSeries(int commitIntervalMs, int pollMs) {}

    /**
     * Exactly-once: commit intervals 50, 100 (the app's default) and 200 ms at Kafka Streams' default poll.ms of
     * 100 ms, and 100 ms with poll.ms 5 (does a stream thread that blocks less for input run the buffer's
     * wall-clock flush and due commits sooner on sparse input? Measured: no). At-least-once: output is visible
     * before a commit, so only poll.ms varies.
     */
    static List<CurveSeries> curveSeries(boolean exactlyOnce) {
        return exactlyOnce
                ? List.of(
                        new CurveSeries(50, 100),
                        new CurveSeries(100, 100),
                        new CurveSeries(200, 100),
                        new CurveSeries(100, 5))
                : List.of(new CurveSeries(1000, 100), new CurveSeries(1000, 5));
    }

    /** Partitions of {@link Part#SCALE}'s input topic. */
    static final int SCALE_PARTITIONS = 4;

    /** The pipeline's capacity runs of {@link Part#LANGUAGE}: name, and the streams app settings that differ. */
    static final Map<String, Map<String, String>> LANGUAGE_VARIANTS = variants();

    private static Map<String, Map<String, String>> variants() {
        Map<String, Map<String, String>> v = new LinkedHashMap<>();
        v.put("language detection off", Map.of("language.detect", "false"));
        v.put("language detection in Lingua's low-accuracy mode", Map.of("language.low-accuracy", "true"));
        v.put("language detection on 2 threads of its own", Map.of("language.threads", "2"));
        return v;
    }

    /** {@code streams-bench.json}. */
    record Result(
            Machine machine,
            @JsonProperty("avro_passthrough") Map<String, Anchor> avroPassthrough,
            @JsonProperty("bytes_passthrough") Map<String, Anchor> bytesPassthrough,
            List<Run> runs,
            @JsonProperty("peak_rss_mb_whole_bench_jvm") long peakRssMbWholeBenchJvm,
            @JsonProperty("app_settings") Map<String, String> appSettings) {}

    record Machine(int cores, @JsonProperty("max_heap_mb") long maxHeapMb, String java, String os, String cpu) {}

    /** A passthrough anchor under one guarantee: capacity and its cost per message (1 / capacity). */
    record Anchor(
            @JsonProperty("throughput_msgs_per_second") double throughputMsgsPerSecond,
            @JsonProperty("cost_per_message_us") double costPerMessageUs,
            int messages) {
        static Anchor of(double throughput, int messages) {
            return new Anchor(throughput, costUs(throughput), messages);
        }
    }

    /** One model: raw scoring throughput per batch size, then the pipeline and the naive peer per guarantee. */
    record Run(
            String model,
            @JsonProperty("raw_texts_per_second_by_batch") Map<String, Double> rawTextsPerSecondByBatch,
            @JsonProperty("raw_best_texts_per_second") double rawBestTextsPerSecond,
            @JsonProperty("messages_per_pipeline_run") int messagesPerPipelineRun,
            Map<String, Pipeline> pipeline,
            @JsonProperty("naive_per_record") Map<String, Capacity> naivePerRecord,
            @JsonProperty("pipeline_variants") Map<String, Map<String, Capacity>> pipelineVariants,
            @JsonProperty("latency_curve") List<LatencyPoint> latencyCurve,
            @JsonProperty("scale_out") List<ScaleOut> scaleOut) {}

    /** One point of {@link Part#CURVE}: latency from send to verdict at a fixed offered load. */
    record LatencyPoint(
            String guarantee,
            @JsonProperty("commit_interval_ms") int commitIntervalMs,
            @JsonProperty("poll_ms") int pollMs,
            @JsonProperty("fraction_of_capacity") double fractionOfCapacity,
            @JsonProperty("offered_load_msgs_per_second") double offeredLoadMsgsPerSecond,
            int samples,
            @JsonProperty("p50_ms") double p50Ms,
            @JsonProperty("p99_ms") double p99Ms) {}

    /** {@link Part#SCALE}: capacity of one and of two instances (one stream thread each) on the same partitions. */
    record ScaleOut(
            String guarantee,
            int partitions,
            @JsonProperty("one_instance_msgs_per_second") double oneInstanceMsgsPerSecond,
            @JsonProperty("two_instances_msgs_per_second") double twoInstancesMsgsPerSecond) {}

    /**
     * Capacity of an app that scores: msg/s, its ratios, and its own cost per message in µs (1 / msg/s - 1 / raw
     * best msg/s). A ratio to an anchor that did not run is null.
     */
    record Capacity(
            @JsonProperty("throughput_msgs_per_second") double throughputMsgsPerSecond,
            @JsonProperty("ratio_to_raw_best") double ratioToRawBest,
            @JsonProperty("ratio_to_avro_passthrough") Double ratioToAvroPassthrough,
            @JsonProperty("own_cost_per_message_us") double ownCostPerMessageUs,

            @JsonProperty("own_cost_over_avro_passthrough_cost")
            Double ownCostOverAvroPassthroughCost) {

        static Capacity of(double throughput, double rawBest, Anchor passthrough) {
            double own = ownCostUs(throughput, rawBest);
            return new Capacity(
                    throughput,
                    throughput / rawBest,
                    passthrough == null ? null : throughput / passthrough.throughputMsgsPerSecond(),
                    own,
                    passthrough == null ? null : own / passthrough.costPerMessageUs());
        }
    }

    /** The pipeline under one guarantee: capacity, and latency at a fixed offered load below it (null: not run). */
    record Pipeline(
            @JsonUnwrapped Capacity capacity,
            @JsonProperty("ratio_to_naive_per_record") Double ratioToNaivePerRecord,
            @JsonProperty("offered_load_msgs_per_second") Double offeredLoadMsgsPerSecond,
            @JsonProperty("latency_samples") Integer latencySamples,
            @JsonProperty("p50_ms") Double p50Ms,
            @JsonProperty("p99_ms") Double p99Ms) {}

    /** Cost per message in µs of an app that handles {@code msgsPerSecond}. */
    static double costUs(double msgsPerSecond) {
        return 1e6 / msgsPerSecond;
    }

    /**
     * What the pipeline adds per message, in µs, to the model's own cost at its best batch size: the issue's
     * metric. A pipeline that scored for free would measure 0.
     */
    static double ownCostUs(double pipelineMsgsPerSecond, double rawBestTextsPerSecond) {
        return costUs(pipelineMsgsPerSecond) - costUs(rawBestTextsPerSecond);
    }

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

    /** Starts an app and returns once it is RUNNING; closing it stops it. */
    private interface Starter {
        AutoCloseable start() throws Exception;
    }

    private final PrintStream out;
    private final int messages;
    private final Path jsonOut;
    private final Path model;

    private final int costLayers;
    private final int costWidth;
    private final Set<Part> parts;
    private final List<String> guarantees;
    /** Where to write a JFR recording of the first model's exactly-once capacity run; null: no recording. */
    private final Path profile;
    /** Streams app settings that every app of the run gets (after the bench's own, before a variant's). */
    private final Map<String, String> settings;
    /** Apps started so far: each gets its own suffix. */
    private int started;

    public Bench(
            PrintStream out,
            int messages,
            Path jsonOut,
            Path model,
            int costLayers,
            int costWidth,
            Set<Part> parts,
            List<String> guarantees,
            Path profile,
            Map<String, String> settings) {
        this.out = out;
        this.messages = messages;
        this.jsonOut = jsonOut;
        this.model = model;
        this.costLayers = costLayers;
        this.costWidth = costWidth;
        this.parts = parts.isEmpty() ? EnumSet.noneOf(Part.class) : EnumSet.copyOf(parts);
        this.guarantees = List.copyOf(guarantees);
        this.profile = profile;
        this.settings = Map.copyOf(settings);
    }

    public int run() throws Exception {
        // the passthroughs need more messages than the pipeline to run for a few seconds
        int avroMessages = 2 * messages;
        int bytesMessages = 5 * messages;
        List<ChatMessage> corpus = corpus(bytesMessages);
        Path work = Files.createTempDirectory("duoguard-bench-");
        List<Path> bundles = new ArrayList<>();
        bundles.add(ModelLocator.resolve(model));
        if (costLayers > 0) {
            Path costly = work.resolve("cost-model");
            LexiconBaseline.build(costly, costLayers, costWidth);
            bundles.add(costly);
        }
        List<Run> runs = new ArrayList<>();
        Map<String, Anchor> avroPassthrough = new LinkedHashMap<>();
        Map<String, Anchor> bytesPassthrough = new LinkedHashMap<>();
        boolean recorded = false;
        try (EmbeddedKafka kafka = new EmbeddedKafka(work.resolve("kafka")).start();
                EmbeddedRegistry registry = new EmbeddedRegistry(work).start()) {
            for (String guarantee : guarantees) {
                if (parts.contains(Part.PASSTHROUGH)) {
                    out.println("▶ anchor: Avro passthrough " + guarantee + ", " + avroMessages + " messages");
                    String suffix = suffix("avro");
                    LayeredConfig config = appConfig(kafka, registry, work, bundles.get(0), guarantee, suffix);
                    Topics topics = topics(registry, suffix);
                    double t = capacity(
                            kafka,
                            topics,
                            corpus.subList(0, avroMessages),
                            anchor(config, () -> Anchors.avroPassthrough(topics)),
                            verdictIds(topics),
                            null);
                    avroPassthrough.put(guarantee, Anchor.of(t, avroMessages));
                    out.printf("  %,10.0f msg/s, %.1f µs per message%n", t, costUs(t));
                }
                if (parts.contains(Part.BYTES)) {
                    out.println("▶ anchor: bytes passthrough " + guarantee + ", " + bytesMessages + " messages");
                    String suffix = suffix("bytes");
                    LayeredConfig config = appConfig(kafka, registry, work, bundles.get(0), guarantee, suffix);
                    Topics topics = topics(registry, suffix);
                    double t = capacity(
                            kafka,
                            topics,
                            corpus.subList(0, bytesMessages),
                            anchor(config, () -> Anchors.bytesPassthrough(names(suffix))),
                            r -> r.partition() + ":" + r.offset(),
                            null);
                    bytesPassthrough.put(guarantee, Anchor.of(t, bytesMessages));
                    out.printf("  %,10.0f msg/s, %.1f µs per message%n", t, costUs(t));
                }
            }
            for (Path bundle : bundles) {
                Raw raw = raw(bundle, corpus.subList(0, messages));
                double rawBest = raw.best();
                // about 15 s of raw model time per pipeline run, between 2,000 and --messages
                int n = (int) Math.max(Math.min(2000, messages), Math.min(messages, rawBest * 15));
                List<ChatMessage> load = corpus.subList(0, n);
                Map<String, Capacity> naive = new LinkedHashMap<>();
                if (parts.contains(Part.NAIVE)) {
                    for (String guarantee : guarantees) {
                        out.println("▶ naive peer " + guarantee + ": one model call per message, " + n + " messages");
                        String suffix = suffix("naive");
                        LayeredConfig config = appConfig(kafka, registry, work, bundle, guarantee, suffix);
                        Topics topics = topics(registry, suffix);
                        double t =
                                capacity(kafka, topics, load, naive(config, bundle, topics), verdictIds(topics), null);
                        naive.put(guarantee, Capacity.of(t, rawBest, avroPassthrough.get(guarantee)));
                        out.printf("  %,10.0f msg/s (%.0f%% of raw best)%n", t, 100 * t / rawBest);
                    }
                }
                Map<String, Pipeline> pipeline = new LinkedHashMap<>();
                Map<String, Map<String, Capacity>> variants = new LinkedHashMap<>();
                for (String guarantee : guarantees) {
                    out.println(
                            "▶ pipeline " + guarantee + ": " + n + " pre-loaded messages → verdicts (read_committed)");
                    String suffix = suffix("cap");
                    LayeredConfig config = appConfig(kafka, registry, work, bundle, guarantee, suffix);
                    Topics topics = topics(registry, suffix);
                    Path jfr = profile != null && !recorded && guarantee.startsWith("exactly") ? profile : null;
                    recorded |= jfr != null;
                    double throughput = capacity(kafka, topics, load, pipeline(config), verdictIds(topics), jfr);
                    Capacity capacity = Capacity.of(throughput, rawBest, avroPassthrough.get(guarantee));
                    out.printf(
                            "  %,10.0f msg/s (%.0f%% of raw best), own cost %.0f µs per message%n",
                            throughput, 100 * throughput / rawBest, capacity.ownCostPerMessageUs());
                    Double ratioToNaive = naive.containsKey(guarantee)
                            ? throughput / naive.get(guarantee).throughputMsgsPerSecond()
                            : null;
                    if (parts.contains(Part.LANGUAGE)) {
                        variants.put(
                                guarantee,
                                languageVariants(
                                        kafka,
                                        registry,
                                        work,
                                        bundle,
                                        guarantee,
                                        load,
                                        rawBest,
                                        avroPassthrough.get(guarantee)));
                    }
                    if (!parts.contains(Part.LATENCY)) {
                        pipeline.put(guarantee, new Pipeline(capacity, ratioToNaive, null, null, null, null));
                        continue;
                    }
                    double offered = Math.max(5, Math.min(throughput * 0.5, 500));
                    out.printf(
                            "▶ pipeline %s: latency at a fixed offered load of %.0f msg/s (2 s warm-up, then 10 s)%n",
                            guarantee, offered);
                    Latency latency =
                            latency(kafka, registry, work, bundle, guarantee, corpus, offered, suffix("lat"), Map.of());
                    out.printf("  p50 %.1f ms, p99 %.1f ms%n", latency.p50Ms(), latency.p99Ms());
                    pipeline.put(
                            guarantee,
                            new Pipeline(
                                    capacity,
                                    ratioToNaive,
                                    offered,
                                    latency.samples(),
                                    latency.p50Ms(),
                                    latency.p99Ms()));
                }
                List<LatencyPoint> curve = parts.contains(Part.CURVE)
                        ? latencyCurve(kafka, registry, work, bundle, corpus, pipeline)
                        : List.of();
                List<ScaleOut> scale = parts.contains(Part.SCALE) && bundle.equals(bundles.get(0))
                        ? scaleOut(kafka, registry, work, bundle, load)
                        : List.of();
                runs.add(new Run(raw.model(), raw.byBatch(), rawBest, n, pipeline, naive, variants, curve, scale));
            }
        } finally {
            try (var paths = Files.walk(work)) {
                paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
        Machine machine = machine();
        Result result = new Result(machine, avroPassthrough, bytesPassthrough, runs, peakRssMb(), settings);
        printTable(result);
        printCurveAndScale(result);
        Files.createDirectories(jsonOut.toAbsolutePath().getParent());
        new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(jsonOut.toFile(), result);
        Path png = jsonOut.resolveSibling(jsonOut.getFileName().toString().replaceFirst("\\.json$", "") + ".png");
        BenchChart.write(
                bars(runs),
                costs(result),
                machine.cpu() + ", " + machine.cores() + " cores; broker, registry, app and load generator share them",
                png);
        out.println("wrote " + jsonOut + " and " + png);
        if (runs.stream().anyMatch(r -> !r.latencyCurve().isEmpty())) {
            Path curvePng = png.resolveSibling(png.getFileName().toString().replace(".png", "-latency.png"));
            LatencyChart.write(runs, curvePng);
            out.println("wrote " + curvePng);
        }
        if (profile != null && !recorded) {
            out.println("no JFR recording: --profile records an exactly-once run, and none ran");
        }
        if (recorded) {
            Path summary =
                    profile.resolveSibling(profile.getFileName().toString().replaceFirst("\\.jfr$", "") + ".txt");
            ByteArrayOutputStream text = new ByteArrayOutputStream();
            StackProfile.summarise(profile, new PrintStream(text, true, StandardCharsets.UTF_8));
            Files.writeString(summary, text.toString(StandardCharsets.UTF_8));
            out.println();
            out.print(text.toString(StandardCharsets.UTF_8));
            out.println("wrote " + profile + " and " + summary);
        }
        return 0;
    }

    /** {@link Part#LANGUAGE}: the pipeline's capacity under each of {@link #LANGUAGE_VARIANTS}. */
    private Map<String, Capacity> languageVariants(
            EmbeddedKafka kafka,
            EmbeddedRegistry registry,
            Path work,
            Path bundle,
            String guarantee,
            List<ChatMessage> load,
            double rawBest,
            Anchor passthrough)
            throws Exception {
        Map<String, Capacity> variants = new LinkedHashMap<>();
        for (var variant : LANGUAGE_VARIANTS.entrySet()) {
            out.println("▶ pipeline " + guarantee + ", " + variant.getKey() + ": " + load.size() + " messages");
            String suffix = suffix("var");
            LayeredConfig config = appConfig(kafka, registry, work, bundle, guarantee, suffix);
            variant.getValue().forEach((k, v) -> config.with(k, v, "bench variant"));
            Topics topics = topics(registry, suffix);
            double t = capacity(kafka, topics, load, pipeline(config), verdictIds(topics), null);
            Capacity c = Capacity.of(t, rawBest, passthrough);
            variants.put(variant.getKey(), c);
            out.printf(
                    "  %,10.0f msg/s (%.0f%% of raw best), own cost %.0f µs per message%n",
                    t, 100 * t / rawBest, c.ownCostPerMessageUs());
        }
        return variants;
    }

    /** {@link Part#CURVE}: latency at {@link #CURVE_LOADS} of each guarantee's capacity, per {@link #curveSeries}. */
    private List<LatencyPoint> latencyCurve(
            EmbeddedKafka kafka,
            EmbeddedRegistry registry,
            Path work,
            Path bundle,
            List<ChatMessage> corpus,
            Map<String, Pipeline> pipeline)
            throws Exception {
        List<LatencyPoint> curve = new ArrayList<>();
        for (String guarantee : guarantees) {
            double cap = pipeline.get(guarantee).capacity().throughputMsgsPerSecond();
            for (CurveSeries series : curveSeries(guarantee.startsWith("exactly"))) {
                for (double fraction : CURVE_LOADS) {
                    double offered = Math.max(5, Math.min(cap * fraction, 2000));
                    out.printf(
                            "▶ latency curve %s, commit interval %d ms, poll.ms %d: %.0f msg/s offered"
                                    + " (%.0f%% of capacity)%n",
                            guarantee, series.commitIntervalMs(), series.pollMs(), offered, 100 * fraction);
                    Map<String, String> settings = Map.of(
                            "streams.commit.interval.ms", String.valueOf(series.commitIntervalMs()),
                            "streams.poll.ms", String.valueOf(series.pollMs()));
                    Latency l = latency(
                            kafka, registry, work, bundle, guarantee, corpus, offered, suffix("curve"), settings);
                    out.printf("  p50 %.1f ms, p99 %.1f ms%n", l.p50Ms(), l.p99Ms());
                    curve.add(new LatencyPoint(
                            guarantee,
                            series.commitIntervalMs(),
                            series.pollMs(),
                            offered / cap,
                            offered,
                            l.samples(),
                            l.p50Ms(),
                            l.p99Ms()));
                }
            }
        }
        return curve;
    }

    /** {@link Part#SCALE}: one instance, then two, on {@link #SCALE_PARTITIONS} partitions, per guarantee. */
    private List<ScaleOut> scaleOut(
            EmbeddedKafka kafka, EmbeddedRegistry registry, Path work, Path bundle, List<ChatMessage> load)
            throws Exception {
        List<ScaleOut> scale = new ArrayList<>();
        for (String guarantee : guarantees) {
            double[] rates = new double[2];
            for (int instances = 1; instances <= 2; instances++) {
                out.printf(
                        "▶ scale-out %s: %d instance(s), %d partitions, %d messages%n",
                        guarantee, instances, SCALE_PARTITIONS, load.size());
                String suffix = suffix("scale");
                LayeredConfig config = appConfig(kafka, registry, work, bundle, guarantee, suffix)
                        .with("topics.partitions", String.valueOf(SCALE_PARTITIONS), "bench scale-out");
                Topics topics = topics(registry, suffix);
                createTopics(kafka, topics, SCALE_PARTITIONS);
                rates[instances - 1] = capacity(
                        kafka,
                        topics,
                        load,
                        instances(kafka, config, work, suffix, topics.messages().name(), instances),
                        verdictIds(topics),
                        null,
                        true);
                out.printf("  %,10.0f msg/s%n", rates[instances - 1]);
            }
            scale.add(new ScaleOut(guarantee, SCALE_PARTITIONS, rates[0], rates[1]));
        }
        return scale;
    }

    /** A fresh suffix for one run's application id, topics and state directory. */
    private String suffix(String kind) {
        return kind + started++;
    }

    /** Where a JFR recording's stream thread samples go (see {@link StackProfile}). */
    public static void summariseProfile(Path jfr, PrintStream out) throws IOException {
        StackProfile.summarise(jfr, out);
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
        c.with("kafka.bootstrap.servers", kafka.bootstrapServers(), "bench")
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
        settings.forEach((k, v) -> c.with(k, v, "bench --set"));
        return c;
    }

    /**
     * {@code n} instances of the streams app in one group (same application id, each its own state directory and
     * one stream thread), all RUNNING with their share of the partitions.
     */
    private static Starter instances(
            EmbeddedKafka kafka, LayeredConfig config, Path work, String suffix, String input, int n) {
        return () -> {
            List<StreamsApp> apps = new ArrayList<>();
            AutoCloseable all = () -> {
                for (StreamsApp a : apps) {
                    a.close();
                }
            };
            try {
                for (int i = 0; i < n; i++) {
                    config.with(
                            "state.dir",
                            work.resolve("state-" + suffix + "-" + i).toString(),
                            "bench instance");
                    apps.add(StreamsApp.start(config, ModerationListener.NONE));
                }
                // an even share each: the input's partitions divide among the instances
                List<Integer> share = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    share.add(SCALE_PARTITIONS / n + (i < SCALE_PARTITIONS % n ? 1 : 0));
                }
                kafka.awaitAssignment("bench-" + suffix, input, share, Duration.ofSeconds(90));
                for (StreamsApp a : apps) {
                    if (!a.awaitRunning(Duration.ofSeconds(60))) {
                        throw new IllegalStateException("streams app not RUNNING: " + a.state());
                    }
                }
                return all;
            } catch (Exception | Error e) {
                all.close();
                throw e;
            }
        };
    }

    /** The streams app itself, started and RUNNING. */
    private static Starter pipeline(LayeredConfig config) {
        return () -> {
            StreamsApp app = StreamsApp.start(config, ModerationListener.NONE);
            if (!app.awaitRunning(Duration.ofSeconds(60))) {
                app.close();
                throw new IllegalStateException("streams app not RUNNING: " + app.state());
            }
            return app;
        };
    }

    /** An anchor app running {@code topology} with the pipeline's streams properties. */
    private static Starter anchor(LayeredConfig config, Supplier<Topology> topology) {
        return () -> {
            KafkaStreams streams =
                    new KafkaStreams(topology.get(), StreamsApp.streamsProperties(AppConfig.from(config)));
            CountDownLatch running = new CountDownLatch(1);
            streams.setStateListener((now, before) -> {
                if (now == KafkaStreams.State.RUNNING) {
                    running.countDown();
                }
            });
            streams.start();
            if (!running.await(60, TimeUnit.SECONDS)) {
                streams.close();
                throw new IllegalStateException("anchor app not RUNNING: " + streams.state());
            }
            return streams;
        };
    }

    /** The naive peer on the model the pipeline would load from {@code config} (closed with the app). */
    private static Starter naive(LayeredConfig config, Path bundle, Topics topics) {
        return () -> {
            AppConfig c = AppConfig.from(config);
            GuardrailModel model = GuardrailModel.load(
                    bundle, c.device(), c.modelThreads(), c.scoring().maxBatch());
            try {
                AutoCloseable app =
                        anchor(config, () -> Anchors.naive(topics, model)).start();
                return () -> {
                    app.close();
                    model.close();
                };
            } catch (Exception | Error e) {
                model.close();
                throw e;
            }
        };
    }

    /** A verdict's message id: distinct ids count verdicts (an at-least-once duplicate counts once). */
    private static Function<ConsumerRecord<byte[], byte[]>, String> verdictIds(Topics topics) {
        Deserializer<Verdict> verdicts = topics.verdicts().valueDeserializer();
        return r -> verdicts.deserialize(r.topic(), r.headers(), r.value()).getMessageId();
    }

    /**
     * Msg/s of the app {@code starter} starts on {@code corpus} pre-loaded onto its input topic: from RUNNING until
     * {@code id} has seen one distinct output per input (read_committed). With {@code jfr} non-null, a JFR
     * recording of that span is written there.
     */
    private double capacity(
            EmbeddedKafka kafka,
            Topics topics,
            List<ChatMessage> corpus,
            Starter starter,
            Function<ConsumerRecord<byte[], byte[]>, String> id,
            Path jfr)
            throws Exception {
        return capacity(kafka, topics, corpus, starter, id, jfr, false);
    }

    /**
     * @param startFirst start the app before the input is loaded (several instances: each must hold its partitions
     *                   before any input exists, or the first to start takes the head start)
     */
    private double capacity(
            EmbeddedKafka kafka,
            Topics topics,
            List<ChatMessage> corpus,
            Starter starter,
            Function<ConsumerRecord<byte[], byte[]>, String> id,
            Path jfr,
            boolean startFirst)
            throws Exception {
        createTopics(kafka, topics);
        AutoCloseable started = startFirst ? starter.start() : null;
        try (var producer = producer(kafka, topics.messages())) {
            for (ChatMessage m : corpus) {
                producer.send(new ProducerRecord<>(topics.messages().name(), m.getConversationId(), m));
            }
            producer.flush();
        } catch (Exception | Error e) {
            if (started != null) {
                started.close();
            }
            throw e;
        }
        try (var consumer = consumer(kafka, topics.verdicts().name(), new ByteArrayDeserializer())) {
            AutoCloseable app = started != null ? started : starter.start();
            try (Recording recording = jfr == null ? null : recording()) {
                long running = System.nanoTime();
                long first = 0;
                int firstCount = 0;
                Set<String> seen = new HashSet<>();
                long deadline = running + Duration.ofMinutes(5).toNanos();
                while (seen.size() < corpus.size() && System.nanoTime() < deadline) {
                    for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(50))) {
                        seen.add(id.apply(r));
                    }
                    if (firstCount == 0 && !seen.isEmpty()) {
                        first = System.nanoTime();
                        firstCount = seen.size();
                    }
                }
                long end = System.nanoTime();
                if (seen.size() < corpus.size()) {
                    throw new IllegalStateException(
                            "only " + seen.size() + " of " + corpus.size() + " outputs within 5 minutes");
                }
                if (recording != null) {
                    recording.stop();
                    Files.createDirectories(jfr.toAbsolutePath().getParent());
                    recording.dump(jfr);
                }
                return steadyRate(corpus.size(), running, first, firstCount, end);
            } finally {
                app.close();
            }
        }
    }

    /**
     * Outputs per second once the app is under way: from the first poll that returned outputs to the last output,
     * not counting that poll's; the start-up (group join, transactions' init, the first commit) would otherwise
     * weigh on the fast anchors' few seconds. When that first poll already held most of the outputs, from
     * RUNNING ({@code runningNs}) instead.
     */
    static double steadyRate(int n, long runningNs, long firstNs, int firstCount, long endNs) {
        if (firstCount <= n / 2 && endNs > firstNs) {
            return (n - firstCount) / ((endNs - firstNs) / 1e9);
        }
        return n / ((endNs - runningNs) / 1e9);
    }

    /** JFR's "profile" settings with CPU samples every 10 ms, started. */
    private static Recording recording() throws IOException, ParseException {
        Recording r = new Recording(Configuration.getConfiguration("profile"));
        r.enable("jdk.ExecutionSample").withPeriod(Duration.ofMillis(10));
        r.start();
        return r;
    }

    private Latency latency(
            EmbeddedKafka kafka,
            EmbeddedRegistry registry,
            Path work,
            Path bundle,
            String guarantee,
            List<ChatMessage> corpus,
            double rate,
            String suffix,
            Map<String, String> overrides)
            throws Exception {
        LayeredConfig config = appConfig(kafka, registry, work, bundle, guarantee, suffix);
        overrides.forEach((k, v) -> config.with(k, v, "bench"));
        Topics topics = topics(registry, suffix);
        createTopics(kafka, topics);
        List<Double> latencies = new ArrayList<>();
        try (var producer = producer(kafka, topics.messages());
                var consumer = consumer(
                        kafka, topics.verdicts().name(), topics.verdicts().valueDeserializer());
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
                for (ConsumerRecord<byte[], Verdict> r : consumer.poll(Duration.ofMillis(2))) {
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
            String model = shortName(r);
            r.pipeline()
                    .forEach((g, p) -> bars.add(new BenchChart.Bar(
                            model,
                            "pipeline",
                            g,
                            p.capacity().ratioToRawBest(),
                            p.capacity().throughputMsgsPerSecond())));
            r.naivePerRecord()
                    .forEach((g, c) -> bars.add(new BenchChart.Bar(
                            model, "naive peer", g, c.ratioToRawBest(), c.throughputMsgsPerSecond())));
        }
        return bars;
    }

    /** The metric for the chart: anchors' cost per message, then each model's own costs. */
    private static List<BenchChart.Cost> costs(Result result) {
        List<BenchChart.Cost> costs = new ArrayList<>();
        result.avroPassthrough()
                .forEach((g, a) -> costs.add(new BenchChart.Cost("Avro passthrough", g, a.costPerMessageUs())));
        result.bytesPassthrough()
                .forEach((g, a) -> costs.add(new BenchChart.Cost("bytes passthrough", g, a.costPerMessageUs())));
        for (Run r : result.runs()) {
            String model = shortName(r);
            r.pipeline()
                    .forEach((g, p) -> costs.add(new BenchChart.Cost(
                            "pipeline own, " + model, g, p.capacity().ownCostPerMessageUs())));
            r.naivePerRecord()
                    .forEach((g, c) ->
                            costs.add(new BenchChart.Cost("naive own, " + model, g, c.ownCostPerMessageUs())));
        }
        return costs;
    }

    private static String shortName(Run r) {
        return r.model().replaceAll("@.*", "").replace("duoguard-", "").replace("-baseline", "");
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

    private static Topics topics(EmbeddedRegistry registry, String suffix) {
        return Topics.of(names(suffix), new RegistryAvroSerdes(RegistryConnection.anonymous(registry.apiUrl(), true)));
    }

    /** The topics of one run: its own, so that runs do not read each other's records. */
    private static Topics.Names names(String suffix) {
        return Topics.Names.DEFAULTS.withSuffix(suffix);
    }

    /** The app's input and output topics (its models topic it creates itself). */
    private static void createTopics(EmbeddedKafka kafka, Topics topics) {
        createTopics(kafka, topics, 2);
    }

    /** Creates the app's topics first (with {@code partitions}); an existing topic is left as it is. */
    private static void createTopics(EmbeddedKafka kafka, Topics topics, int partitions) {
        kafka.createTopics(
                partitions,
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

    private static <V> KafkaConsumer<byte[], V> consumer(EmbeddedKafka kafka, String topic, Deserializer<V> values) {
        KafkaConsumer<byte[], V> c = new KafkaConsumer<>(
                Map.of(
                        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG,
                        kafka.bootstrapServers(),
                        ConsumerConfig.GROUP_ID_CONFIG,
                        "bench-reader-" + topic,
                        ConsumerConfig.AUTO_OFFSET_RESET_CONFIG,
                        "earliest",
                        ConsumerConfig.ISOLATION_LEVEL_CONFIG,
                        "read_committed",
                        ConsumerConfig.MAX_POLL_RECORDS_CONFIG,
                        2000),
                new ByteArrayDeserializer(),
                values);
        c.subscribe(List.of(topic));
        return c;
    }

    private void printTable(Result result) {
        Machine machine = result.machine();
        out.println();
        out.println("machine: " + machine.cpu() + ", " + machine.cores() + " cores, " + machine.java()
                + "; peak RSS of the bench JVM (broker + app + load): " + result.peakRssMbWholeBenchJvm() + " MB");
        if (!result.appSettings().isEmpty()) {
            out.println("every app ran with --set " + result.appSettings());
        }
        out.println("cost µs/msg: 1 / msg/s for the anchors; own cost 1 / msg/s - 1 / raw best for apps that score");
        out.println("| model | measurement | msg/s | / raw best | / Avro passthrough | cost µs/msg "
                + "| own cost / passthrough cost | p50 ms | p99 ms |");
        out.println("|---|---|---:|---:|---:|---:|---:|---:|---:|");
        result.avroPassthrough()
                .forEach((g, a) -> out.printf(
                        "| – | Avro passthrough %s | %,.0f | | 1.00 | %.1f | | | |%n",
                        g, a.throughputMsgsPerSecond(), a.costPerMessageUs()));
        result.bytesPassthrough().forEach((g, a) -> {
            Anchor avro = result.avroPassthrough().get(g);
            out.printf(
                    "| – | bytes passthrough %s | %,.0f | | %s | %.1f | | | |%n",
                    g,
                    a.throughputMsgsPerSecond(),
                    avro == null
                            ? ""
                            : String.format("%.2f", a.throughputMsgsPerSecond() / avro.throughputMsgsPerSecond()),
                    a.costPerMessageUs());
        });
        for (Run r : result.runs()) {
            String model = r.model().replaceAll(" on .*", "");
            double best = r.rawBestTextsPerSecond();
            r.rawTextsPerSecondByBatch()
                    .forEach((b, v) -> out.printf(
                            "| %s | raw scoring, batch %s | %,.0f | %.2f | | %.1f | | | |%n",
                            model, b, v, v / best, costUs(v)));
            r.naivePerRecord()
                    .forEach((g, c) -> out.printf("| %s | naive per-record peer %s | %s | | |%n", model, g, row(c)));
            r.pipeline().forEach((g, p) -> {
                out.printf("| %s | pipeline %s, capacity | %s | | |%n", model, g, row(p.capacity()));
                r.pipelineVariants()
                        .getOrDefault(g, Map.of())
                        .forEach((name, c) ->
                                out.printf("| %s | pipeline %s, %s, capacity | %s | | |%n", model, g, name, row(c)));
                if (p.p50Ms() != null) {
                    out.printf(
                            "| %s | pipeline %s at %.0f msg/s offered | | | | | | %.1f | %.1f |%n",
                            model, g, p.offeredLoadMsgsPerSecond(), p.p50Ms(), p.p99Ms());
                }
            });
        }
    }

    private void printCurveAndScale(Result result) {
        for (Run r : result.runs()) {
            String model = r.model().replaceAll(" on .*", "");
            if (!r.latencyCurve().isEmpty()) {
                out.println();
                out.println("latency against offered load, " + model + " (send → verdict, read_committed)");
                out.println(
                        "| guarantee | commit interval ms | poll.ms | offered msg/s | of capacity | p50 ms | p99 ms |");
                out.println("|---|---:|---:|---:|---:|---:|---:|");
                r.latencyCurve()
                        .forEach(p -> out.printf(
                                "| %s | %d | %d | %.0f | %.0f%% | %.1f | %.1f |%n",
                                p.guarantee(),
                                p.commitIntervalMs(),
                                p.pollMs(),
                                p.offeredLoadMsgsPerSecond(),
                                100 * p.fractionOfCapacity(),
                                p.p50Ms(),
                                p.p99Ms()));
            }
            if (!r.scaleOut().isEmpty()) {
                out.println();
                out.println("scale-out, " + model + ": capacity of one and two instances on the same partitions");
                out.println("| guarantee | partitions | 1 instance msg/s | 2 instances msg/s | ratio |");
                out.println("|---|---:|---:|---:|---:|");
                r.scaleOut()
                        .forEach(x -> out.printf(
                                "| %s | %d | %,.0f | %,.0f | %.2f |%n",
                                x.guarantee(),
                                x.partitions(),
                                x.oneInstanceMsgsPerSecond(),
                                x.twoInstancesMsgsPerSecond(),
                                x.twoInstancesMsgsPerSecond() / x.oneInstanceMsgsPerSecond()));
            }
        }
    }

    /** msg/s, ratios, own cost and its multiple of the passthrough's cost, as table cells. */
    static String row(Capacity c) {
        return String.format(
                "%,.0f | %.2f | %s | %.0f | %s",
                c.throughputMsgsPerSecond(),
                c.ratioToRawBest(),
                c.ratioToAvroPassthrough() == null ? "" : String.format("%.2f", c.ratioToAvroPassthrough()),
                c.ownCostPerMessageUs(),
                c.ownCostOverAvroPassthroughCost() == null
                        ? ""
                        : String.format("%.1f×", c.ownCostOverAvroPassthroughCost()));
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
