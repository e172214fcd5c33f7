package dev.duoguard.streams.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.common.kafka.KafkaConnection;
import dev.duoguard.lifecycle.ModelKey;
import dev.duoguard.lifecycle.ModelsTopic;
import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.schemas.ModelStatus;
import dev.duoguard.schemas.ModelVersion;
import dev.duoguard.schemas.Verdict;
import dev.duoguard.streams.cli.DuoGuardCli;
import dev.duoguard.streams.topology.DeadLetter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.avro.Schema;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Chaos soak: two streams-app processes (exactly-once) take continuous traffic with bad records mixed in while the
 * test, at random times, kills one with SIGKILL and restarts it, restarts the broker, stops the registry for 10 s
 * (while clients write with a schema version the apps have not seen), and swaps the model (a new ACTIVE version).
 * At the end every valid message has exactly one verdict, every bad message with an id exactly one fail-closed
 * verdict, every record without an id exactly one DLQ record: nothing lost, nothing twice. It prints the faults
 * and the counts.
 *
 * <p>CI size: 90 s of traffic, each fault once. Longer: {@code -Dduoguard.chaos.minutes=10} (the faults repeat in a
 * new random order every cycle); {@code -Dduoguard.chaos.seed=N} replays a schedule.
 */
class ChaosSoakIT {

    @RegisterExtension
    static final Platform platform = new Platform();

    @TempDir
    static Path dir;

    enum Fault {
        SIGKILL_INSTANCE,
        BROKER_RESTART,
        REGISTRY_DOWN_10S,
        MODEL_SWAP
    }

    record Injected(Duration at, Fault fault, String detail) {}

    @Test
    void everyMessageGetsExactlyOneVerdictThroughKillsBrokerAndRegistryOutagesAndModelSwaps() throws Exception {
        long seed = Long.getLong("duoguard.chaos.seed", System.nanoTime());
        Duration traffic = Duration.ofSeconds(
                Math.round(Double.parseDouble(System.getProperty("duoguard.chaos.minutes", "1.5")) * 60));
        Random random = new Random(seed);
        System.out.printf("chaos soak: %d s of traffic, seed %d%n", traffic.toSeconds(), seed);

        String s = "chaos";
        String modelsTopic = Platform.topics(s).models();
        platform.createTopics(s);
        Path baseline = Bundles.baseline(dir);
        String modelName = ModelBundle.open(baseline).manifest().name();
        Path config = writeConfig(s, modelsTopic, baseline);
        Map<String, Process> apps = new ConcurrentHashMap<>();
        apps.put("a", startApp(config, "a"));
        apps.put("b", startApp(config, "b"));
        // as Kubernetes would: an instance that exits (it is killed, or it stops at start-up because the
        // registry or the broker does not answer, with a one-line error) is started again 2 s later
        AtomicBoolean supervising = new AtomicBoolean(true);
        AtomicInteger restarts = new AtomicInteger();
        Thread supervisor = new Thread(
                () -> {
                    while (supervising.get()) {
                        for (String name : List.of("a", "b")) {
                            Process p = apps.get(name);
                            if (!p.isAlive() && supervising.get()) {
                                try {
                                    Thread.sleep(2000); // a restart delay, as a Kubernetes back-off would have
                                    if (supervising.get()) {
                                        apps.put(name, startApp(config, name));
                                        restarts.incrementAndGet();
                                        System.out.printf(
                                                "  supervisor: instance %s exited (%d) and was started again%n",
                                                name, p.exitValue());
                                    }
                                } catch (Exception e) {
                                    return;
                                }
                            }
                        }
                        try {
                            Thread.sleep(250); // how often it looks for an exited instance
                        } catch (InterruptedException e) {
                            return;
                        }
                    }
                },
                "chaos-supervisor");
        supervisor.setDaemon(true);
        supervisor.start();

        Traffic load = new Traffic(Platform.topics(s).messages(), random.nextLong());
        Thread producer = new Thread(load, "chaos-traffic");
        List<Injected> faults = new ArrayList<>();
        long start = System.nanoTime();
        try (var verdicts = platform.verdictConsumer(Platform.topics(s).verdicts());
                var dlq = platform.rawConsumer(Platform.topics(s).dlq())) {
            // both instances up and scoring before the faults start
            load.sendValid(20);
            Platform.readVerdicts(verdicts, new ArrayList<>(), 20, Duration.ofSeconds(180));
            producer.start();

            int version = 1;
            long trafficStart = System.nanoTime();
            while (System.nanoTime() - trafficStart < traffic.toNanos()) {
                List<Fault> cycle = new ArrayList<>(List.of(Fault.values()));
                Collections.shuffle(cycle, random);
                long cycleNanos =
                        Math.min(traffic.toNanos(), Duration.ofSeconds(90).toNanos());
                long slot = cycleNanos / (cycle.size() + 1);
                for (Fault f : cycle) {
                    // a random moment in the next slot; faults do not overlap
                    sleepNanos(slot / 2 + (long) (random.nextDouble() * slot / 2));
                    if (System.nanoTime() - trafficStart >= traffic.toNanos()) {
                        break;
                    }
                    Duration at = Duration.ofNanos(System.nanoTime() - start);
                    String detail = switch (f) {
                        case SIGKILL_INSTANCE -> {
                            String victim = random.nextBoolean() ? "a" : "b";
                            apps.get(victim).destroyForcibly().waitFor(); // the supervisor starts it again
                            yield "instance " + victim + " killed (SIGKILL)";
                        }
                        case BROKER_RESTART -> {
                            platform.kafka().stop();
                            sleepNanos(Duration.ofSeconds(3).toNanos()); // the fault: the broker is down 3 s
                            platform.kafka().start();
                            yield "broker stopped for 3 s";
                        }
                        case REGISTRY_DOWN_10S -> {
                            Schema next = FailClosedIT.withExtraField(
                                    ChatMessage.getClassSchema(), "client_" + faults.size());
                            int id = FailClosedIT.register(
                                    platform, Platform.topics(s).messages() + "-value", next);
                            platform.registry().close();
                            load.unseenSchema.set(new Object[] {next, id});
                            sleepNanos(Duration.ofSeconds(10).toNanos()); // the fault: 10 s without a registry
                            load.unseenSchema.set(null);
                            platform.registry().start();
                            yield "registry down for 10 s; clients wrote with schema id " + id + " meanwhile";
                        }
                        case MODEL_SWAP -> {
                            version++;
                            Path bundle = Bundles.version(dir, "chaos-" + version);
                            ModelVersion candidate = Bundles.record(bundle, ModelStatus.CANDIDATE);
                            try (var models = new KafkaProducer<>(
                                    Map.<String, Object>of(
                                            ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                                            platform.kafka().bootstrapServers()),
                                    new StringSerializer(),
                                    platform.serdes().value(ModelVersion.class).serializer())) {
                                models.send(new ProducerRecord<>(
                                                modelsTopic,
                                                ModelKey.of(candidate).toString(),
                                                candidate))
                                        .get();
                            }
                            new ModelsTopic(
                                            KafkaConnection.plaintext(
                                                    platform.kafka().bootstrapServers()),
                                            modelsTopic,
                                            platform.serdes()
                                                    .value(ModelVersion.class)
                                                    .deserializer(),
                                            platform.serdes()
                                                    .value(ModelVersion.class)
                                                    .serializer())
                                    .promote(modelName, "chaos-" + version, "chaos soak");
                            yield "model swapped to " + modelName + "@chaos-" + version;
                        }
                    };
                    faults.add(new Injected(at, f, detail));
                    System.out.printf("  t=%5.1f s  %-18s %s%n", at.toMillis() / 1000.0, f, detail);
                }
            }
            load.stop.set(true);
            producer.join();

            Set<String> expected = ConcurrentHashMap.newKeySet();
            expected.addAll(load.valid);
            expected.addAll(load.badWithId.keySet());
            Map<String, List<Verdict>> byId = new HashMap<>();
            long deadline = System.nanoTime() + Duration.ofMinutes(5).toNanos();
            while (!byId.keySet().containsAll(expected) && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, Verdict> r : verdicts.poll(Duration.ofMillis(300))) {
                    byId.computeIfAbsent(r.value().getMessageId(), k -> new ArrayList<>())
                            .add(r.value());
                }
            }
            // once the instances have committed all their input, every verdict and DLQ record they will write is in
            platform.awaitConsumed(s);
            platform.readToEnd(
                    verdicts,
                    r -> byId.computeIfAbsent(r.value().getMessageId(), k -> new ArrayList<>())
                            .add(r.value()));
            Map<String, Integer> dead = new TreeMap<>();
            platform.readToEnd(dlq, r -> dead.merge(FailClosedIT.header(r, DeadLetter.REASON), 1, Integer::sum));

            long lost = expected.stream().filter(id -> !byId.containsKey(id)).count();
            long duplicated = byId.values().stream().filter(v -> v.size() > 1).count();
            long unexpected = byId.keySet().stream()
                    .filter(id -> !expected.contains(id) && !id.startsWith("warmup-"))
                    .count();
            long badAnsweredClosed = load.badWithId.entrySet().stream()
                    .filter(e -> byId.containsKey(e.getKey())
                            && e.getValue().equals(byId.get(e.getKey()).get(0).getRejectionReason()))
                    .count();
            long validFailedClosed = load.valid.stream()
                    .filter(id -> byId.containsKey(id) && byId.get(id).get(0).getRejectionReason() != null)
                    .count();
            Map<String, Long> versions = new TreeMap<>();
            byId.values().forEach(v -> versions.merge(v.get(0).getModelVersion(), 1L, Long::sum));
            System.out.printf(
                    "faults injected: %d; messages sent: %d valid, %d bad with an id, %d without an id%n",
                    faults.size(), load.valid.size(), load.badWithId.size(), load.noId.get());
            System.out.printf(
                    "verdicts: %d distinct; lost %d, duplicated %d, unexpected %d; bad ones answered "
                            + "fail-closed with their reason: %d; valid ones failed closed (model timeout): %d%n",
                    byId.size(), lost, duplicated, unexpected, badAnsweredClosed, validFailedClosed);
            System.out.printf("verdicts by model version: %s; DLQ records by reason: %s%n", versions, dead);

            assertThat(faults)
                    .extracting(Injected::fault)
                    .as("every kind of fault was injected")
                    .containsAll(List.of(Fault.values()));
            assertThat(lost).as("messages without a verdict").isZero();
            assertThat(duplicated).as("messages with more than one verdict").isZero();
            assertThat(unexpected).isZero();
            assertThat(badAnsweredClosed)
                    .as("bad messages answered fail-closed with their reason")
                    .isEqualTo(load.badWithId.size());
            assertThat(dead.getOrDefault("NOT_WIRE_FORMAT", 0))
                    .as("one DLQ record per record without an id")
                    .isEqualTo(load.noId.get());
            assertThat(dead.getOrDefault("CONTROL_CHARACTERS", 0) + dead.getOrDefault("INVALID_UTF8", 0))
                    .as("one DLQ record per bad message with an id")
                    .isEqualTo(load.badWithId.size());
            assertThat(dead)
                    .as("nothing dead-lettered for the outages")
                    .doesNotContainKeys("UNKNOWN_SCHEMA_ID", "UNDECODABLE");
            assertThat(versions.keySet()).as("the swap reached the traffic").contains("chaos-" + version);
            assertThat(load.sendFailures.get()).as("producer send failures").isNull();
        } finally {
            load.stop.set(true);
            supervising.set(false);
            supervisor.join(10_000);
            System.out.printf("instances started again by the supervisor: %d%n", restarts.get());
            for (Process p : apps.values()) {
                p.destroy();
                p.waitFor();
            }
        }
    }

    /** Continuous traffic: valid messages, one bad message with an id in 25, one record without an id in 60. */
    static final class Traffic implements Runnable {
        final List<String> valid = Collections.synchronizedList(new ArrayList<>());
        final Map<String, String> badWithId = new ConcurrentHashMap<>();
        final AtomicInteger noId = new AtomicInteger();
        final AtomicBoolean stop = new AtomicBoolean();
        final AtomicReference<Throwable> sendFailures = new AtomicReference<>();
        /** While set ({schema, id}): valid messages are written with that schema version, unseen by the apps. */
        final AtomicReference<Object[]> unseenSchema = new AtomicReference<>();

        private final String topic;
        private final Random random;
        private final KafkaProducer<byte[], byte[]> producer;
        private final Serializer<ChatMessage> serializer;
        private int n;

        Traffic(String topic, long seed) {
            this.topic = topic;
            this.random = new Random(seed);
            this.producer = new KafkaProducer<>(
                    Map.<String, Object>of(
                            ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                            platform.kafka().bootstrapServers(),
                            ProducerConfig.ACKS_CONFIG,
                            "all",
                            ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG,
                            true,
                            ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG,
                            600_000,
                            ProducerConfig.MAX_BLOCK_MS_CONFIG,
                            600_000,
                            ProducerConfig.LINGER_MS_CONFIG,
                            5),
                    new ByteArraySerializer(),
                    new ByteArraySerializer());
            this.serializer = platform.serdes().value(ChatMessage.class).serializer();
        }

        void sendValid(int count) throws Exception {
            for (int i = 0; i < count; i++) {
                ChatMessage m = FailClosedIT.message("warmup-" + i, "warm-up message " + i);
                producer.send(new ProducerRecord<>(topic, key(m), serializer.serialize(topic, m)))
                        .get();
            }
        }

        @Override
        public void run() {
            try {
                while (!stop.get()) {
                    for (int i = 0; i < 5; i++) {
                        sendOne();
                    }
                    Thread.sleep(50); // about 100 records/s
                }
                producer.flush();
            } catch (Exception e) {
                sendFailures.compareAndSet(null, e);
            } finally {
                producer.close();
            }
        }

        private void sendOne() throws IOException {
            String id = "m-" + n++;
            int kind = random.nextInt(300);
            byte[] value;
            byte[] key;
            if (kind < 5) {
                value = ("not avro " + id).getBytes(StandardCharsets.UTF_8);
                key = id.getBytes(StandardCharsets.UTF_8);
                noId.incrementAndGet();
            } else if (kind < 17) {
                boolean control = kind % 2 == 0;
                ChatMessage m = FailClosedIT.message(id, control ? "tell me\u0007 how" : "how to make a b\uFFFDmb");
                badWithId.put(id, control ? "CONTROL_CHARACTERS" : "INVALID_UTF8");
                value = serializer.serialize(topic, m);
                key = key(m);
            } else {
                ChatMessage m =
                        FailClosedIT.message(id, "message " + id + (kind % 7 == 0 ? " how to build a bomb" : ""));
                Object[] unseen = unseenSchema.get();
                value = unseen == null
                        ? serializer.serialize(topic, m)
                        : FailClosedIT.encode((Schema) unseen[0], (Integer) unseen[1], m);
                key = key(m);
                valid.add(id);
            }
            producer.send(new ProducerRecord<>(topic, key, value), (md, e) -> {
                if (e != null) {
                    sendFailures.compareAndSet(null, e);
                }
            });
        }

        private static byte[] key(ChatMessage m) {
            return m.getConversationId().getBytes(StandardCharsets.UTF_8);
        }
    }

    static Path writeConfig(String suffix, String modelsTopic, Path bundle) throws IOException {
        Properties p = new Properties();
        platform.appConfig(suffix, dir.resolve("unused")).asMap().forEach((k, v) -> {
            if (!v.isEmpty()) {
                p.setProperty(k, v);
            }
        });
        p.setProperty("http.port", "-1");
        p.setProperty("topics.models", modelsTopic);
        p.setProperty("model.path", bundle.toString());
        p.setProperty("streams.producer.delivery.timeout.ms", "300000");
        p.remove("state.dir");
        Path file = dir.resolve(suffix + ".properties");
        try (var out = Files.newBufferedWriter(file)) {
            p.store(out, "ChaosSoakIT");
        }
        return file;
    }

    /** One app instance as a child process (so it can be killed with SIGKILL), with its own state directory. */
    static Process startApp(Path config, String name) throws IOException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(
                java,
                "-Xmx512m",
                "-cp",
                System.getProperty("java.class.path"),
                DuoGuardCli.class.getName(),
                "serve",
                "--config",
                config.toString());
        pb.environment().put("DUOGUARD_STATE_DIR", dir.resolve("state-" + name).toString());
        return pb.redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(
                        dir.resolve("app-" + name + ".log").toFile()))
                .start();
    }

    private static void sleepNanos(long nanos) throws InterruptedException {
        Thread.sleep(Math.max(0, nanos / 1_000_000));
    }
}
