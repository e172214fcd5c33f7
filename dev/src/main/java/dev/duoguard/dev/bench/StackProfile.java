package dev.duoguard.dev.bench;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordedFrame;
import jdk.jfr.consumer.RecordingFile;

/**
 * Where a JFR recording's CPU samples ({@code jdk.ExecutionSample}) of the stream thread go: by category of
 * per-message cost, by hottest method and by hottest stack tip; then where the stream thread waited (parks, monitor
 * waits, socket reads of 10 ms or more), which CPU samples cannot show: a commit's flush under exactly-once.
 *
 * <p>A sample's category is that of the frame nearest the leaf that belongs to a known category (JDK frames such
 * as {@code HashMap.get} belong to none, so they count for the code that called them). The join's window stores
 * are the only RocksDB stores of the app, so RocksDB frames count for the join; the batch buffer is an in-memory
 * store, whose changelog goes through {@code ChangeLoggingKeyValueBytesStore}. Producer frames reached from a
 * store's changelog count as producer: the categories say which code burns the CPU, not which step caused it.
 */
final class StackProfile {

    /** Category and the class or method name prefixes of its frames, checked in this order for each frame. */
    static final Map<String, List<String>> CATEGORIES = categories();

    static final String OTHER = "other (JDK/JVM only)";

    private static Map<String, List<String>> categories() {
        Map<String, List<String>> c = new LinkedHashMap<>();
        c.put(
                "model call",
                List.of(
                        "ai.onnxruntime.",
                        "dev.duoguard.runtime.scoring.",
                        "dev.duoguard.runtime.onnx.",
                        "dev.duoguard.runtime.baseline.",
                        "dev.duoguard.runtime.tokenizer.",
                        "ai.djl."));
        c.put("language detection (Lingua)", List.of("com.github.pemistahl.lingua.", "dev.duoguard.runtime.language."));
        c.put(
                "Avro serde, schema lookup/fingerprint, record building",
                List.of(
                        "org.apache.avro.",
                        "io.apicurio.",
                        "dev.duoguard.common.serde.",
                        "dev.duoguard.schemas.",
                        "dev.duoguard.streams.topology.WireDecoder"));
        c.put(
                "feedback join and its window stores",
                List.of(
                        "org.apache.kafka.streams.kstream.internals.KStreamKStreamJoin",
                        "org.apache.kafka.streams.kstream.internals.KStreamWindow",
                        "org.apache.kafka.streams.state.internals.AbstractRocksDBSegmentedBytesStore",
                        "org.apache.kafka.streams.state.internals.RocksDBSegmentedBytesStore",
                        "org.apache.kafka.streams.state.internals.RocksDBWindowStore",
                        "org.apache.kafka.streams.state.internals.ChangeLoggingWindowBytesStore",
                        "org.apache.kafka.streams.state.internals.MeteredWindowStore",
                        "org.apache.kafka.streams.state.internals.KeyValueSegment",
                        "org.apache.kafka.streams.state.internals.RocksDBStore",
                        "org.rocksdb."));
        c.put(
                "producer, transactions, record collector",
                List.of(
                        "org.apache.kafka.clients.producer.",
                        "org.apache.kafka.streams.processor.internals.RecordCollectorImpl",
                        "org.apache.kafka.streams.processor.internals.StreamsProducer",
                        "org.apache.kafka.common.record.",
                        "org.apache.kafka.common.compress."));
        c.put(
                "batch buffer store put/delete + changelog",
                List.of(
                        "org.apache.kafka.streams.state.internals.InMemoryKeyValueStore",
                        "org.apache.kafka.streams.state.internals.ChangeLoggingKeyValueBytesStore",
                        "org.apache.kafka.streams.state.internals.MeteredKeyValueStore",
                        "org.apache.kafka.streams.state.internals.CachingKeyValueStore",
                        "org.apache.kafka.streams.processor.internals.ProcessorContextImpl.logChange"));
        c.put(
                "consumer, fetch, network",
                List.of(
                        "org.apache.kafka.clients.consumer.",
                        "org.apache.kafka.clients.NetworkClient",
                        "org.apache.kafka.common.network.",
                        "org.apache.kafka.clients.",
                        "sun.nio.ch."));
        c.put("the pipeline's own processor code", List.of("dev.duoguard.streams."));
        c.put("Kafka Streams runtime (task, node, punctuation, commit bookkeeping)", List.of("org.apache.kafka."));
        return c;
    }

    /** One sample: its thread's name and its frames as {@code class.method}, leaf first. */
    record Sample(String thread, List<String> frames) {}

    /** Name and share of samples. */
    record Share(String name, int samples, double share) {}

    static String category(List<String> framesLeafFirst) {
        for (String frame : framesLeafFirst) {
            for (Map.Entry<String, List<String>> c : CATEGORIES.entrySet()) {
                for (String prefix : c.getValue()) {
                    if (frame.startsWith(prefix)) {
                        return c.getKey();
                    }
                }
            }
        }
        return OTHER;
    }

    /**
     * A time a thread waited, as JFR records it: parks, monitor waits and enters, socket reads, each only from the
     * recording's threshold up (10 ms or 20 ms in JFR's "profile" settings).
     */
    record Wait(String thread, String event, double ms, List<String> frames) {}

    /** A recording's CPU samples and waits, and the seconds between its first and last CPU sample. */
    record Profile(List<Sample> samples, List<Wait> waits, double seconds) {}

    private static final Set<String> WAIT_EVENTS =
            Set.of("jdk.ThreadPark", "jdk.JavaMonitorWait", "jdk.JavaMonitorEnter", "jdk.SocketRead");

    static Profile read(Path jfr) throws IOException {
        List<Sample> samples = new ArrayList<>();
        List<Wait> waits = new ArrayList<>();
        Instant first = null;
        Instant last = null;
        for (RecordedEvent e : RecordingFile.readAllEvents(jfr)) {
            String type = e.getEventType().getName();
            if (e.getStackTrace() == null) {
                continue;
            }
            List<String> frames = new ArrayList<>();
            for (RecordedFrame f : e.getStackTrace().getFrames()) {
                frames.add(
                        frame(f.getMethod().getType().getName(), f.getMethod().getName()));
            }
            if (type.equals("jdk.ExecutionSample")) {
                samples.add(new Sample(e.getThread("sampledThread").getJavaName(), frames));
                first = first == null || e.getStartTime().isBefore(first) ? e.getStartTime() : first;
                last = last == null || e.getStartTime().isAfter(last) ? e.getStartTime() : last;
            } else if (WAIT_EVENTS.contains(type) && e.getThread() != null) {
                waits.add(new Wait(
                        e.getThread().getJavaName(), type, e.getDuration().toNanos() / 1e6, frames));
            }
        }
        return new Profile(
                samples,
                waits,
                first == null ? 0 : Duration.between(first, last).toNanos() / 1e9);
    }

    /** The two frames nearest the leaf outside the JDK and Kotlin's runtime, e.g. what waits and who asked. */
    static String nearestOwnFrames(List<String> framesLeafFirst) {
        return framesLeafFirst.stream()
                .filter(f -> !f.matches("(java|javax|jdk|sun|kotlin)\\..*"))
                .limit(2)
                .collect(Collectors.joining(" < "));
    }

    /** {@code class.method}, with a lambda's generated class name cut to {@code $$Lambda} so that they add up. */
    static String frame(String type, String method) {
        return type.replaceAll("\\$\\$Lambda.*", "\\$\\$Lambda") + "." + method;
    }

    /** Whether a thread is a stream thread (not its producer's network thread, whose name contains it). */
    static boolean isStreamThread(String thread) {
        return thread.matches(".*-StreamThread-\\d+");
    }

    /** The sample's frame nearest the leaf outside the JDK and Kotlin's runtime: whose code asked for the work. */
    static String nearestOwnFrame(List<String> framesLeafFirst) {
        return framesLeafFirst.stream()
                .filter(f -> !f.matches("(java|javax|jdk|sun|kotlin)\\..*"))
                .findFirst()
                .orElse("?");
    }

    /** Shares of {@code samples} by {@code key}, largest first. */
    static List<Share> shares(List<Sample> samples, Function<Sample, String> key) {
        Map<String, Long> counts = samples.stream().collect(Collectors.groupingBy(key, Collectors.counting()));
        return counts.entrySet().stream()
                .map(e -> new Share(e.getKey(), e.getValue().intValue(), (double) e.getValue() / samples.size()))
                .sorted(Comparator.comparingInt(Share::samples).reversed().thenComparing(Share::name))
                .toList();
    }

    /** Thread names without their numbers and ids: one group per kind of thread. */
    static String threadGroup(String thread) {
        return thread.replaceAll("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>")
                .replaceAll("\\d+", "N");
    }

    /**
     * Prints the summary of {@code jfr}: samples by thread, then the stream thread's by category (each with the
     * methods that asked for the work, see {@link #nearestOwnFrame}), by leaf method and by stack tip. Shares are
     * of all samples, then of the stream thread's.
     */
    static void summarise(Path jfr, PrintStream out) throws IOException {
        Profile profile = read(jfr);
        List<Sample> all = profile.samples();
        List<Sample> stream =
                all.stream().filter(s -> isStreamThread(s.thread())).toList();
        out.printf("%s: %d execution samples, %d on stream threads%n", jfr, all.size(), stream.size());
        out.println("  all samples by thread:");
        print(out, shares(all, s -> threadGroup(s.thread())), 10, 1, "    ");
        out.println("  stream thread by category, each with its nearest non-JDK frames:");
        for (Share c : shares(stream, s -> category(s.frames()))) {
            print(out, List.of(c), 1, 1, "    ");
            List<Sample> in = stream.stream()
                    .filter(s -> category(s.frames()).equals(c.name()))
                    .toList();
            print(out, shares(in, s -> nearestOwnFrame(s.frames())), 6, c.share(), "          ");
        }
        out.println("  stream thread by leaf method:");
        print(out, shares(stream, s -> s.frames().isEmpty() ? "?" : s.frames().get(0)), 20, 1, "    ");
        out.println("  stream thread by stack tip (4 frames, leaf first):");
        print(
                out,
                shares(
                        stream,
                        s -> String.join(
                                " < ",
                                s.frames().subList(0, Math.min(4, s.frames().size())))),
                20,
                1,
                "    ");
        List<Wait> waits =
                profile.waits().stream().filter(w -> isStreamThread(w.thread())).toList();
        out.printf(
                "  stream thread waits from the recording's threshold up (ms in total, of %.1f s recorded):%n",
                profile.seconds());
        waits.stream()
                .collect(Collectors.groupingBy(
                        w -> w.event() + " " + nearestOwnFrames(w.frames()), Collectors.summingDouble(Wait::ms)))
                .entrySet()
                .stream()
                .sorted(Map.Entry.<String, Double>comparingByValue().reversed())
                .limit(12)
                .forEach(w -> out.printf("    %8.0f ms  %s%n", w.getValue(), w.getKey()));
    }

    /** The first {@code top} shares, each scaled by {@code of} (the share of the whole the list is a part of). */
    private static void print(PrintStream out, List<Share> shares, int top, double of, String indent) {
        for (Share s : shares.subList(0, Math.min(top, shares.size()))) {
            out.printf("%s%5.1f%%  %6d  %s%n", indent, 100 * s.share() * of, s.samples(), s.name());
        }
    }

    private StackProfile() {}
}
