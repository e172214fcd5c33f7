package dev.duoguard.embedded;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.metadata.storage.Formatter;
import org.apache.kafka.server.common.Feature;
import org.apache.kafka.server.common.MetadataVersion;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real single-node Kafka (combined KRaft broker + controller) inside this JVM, from Kafka's own server jars.
 * Tuned for one node (replication factor 1 for internal topics, no initial rebalance delay). {@link #stop()} and
 * {@link #start()} again restart it on the same ports and data, which the tests use to prove that a broker
 * restart loses nothing.
 */
public final class EmbeddedKafka implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(EmbeddedKafka.class);

    private final Path dataDir;
    private final int brokerPort;
    private final int controllerPort;
    private final String clusterId = Uuid.randomUuid().toString();
    private KafkaRaftServer server;

    public EmbeddedKafka(Path dataDir) {
        this.dataDir = dataDir;
        this.brokerPort = freePort();
        this.controllerPort = freePort();
    }

    public synchronized EmbeddedKafka start() {
        if (server != null) {
            return this;
        }
        try {
            Files.createDirectories(dataDir);
            String dir = dataDir.toAbsolutePath().toString();
            new Formatter()
                    .setPrintStream(new PrintStream(OutputStream.nullOutputStream()))
                    .setClusterId(clusterId)
                    .setNodeId(1)
                    .setDirectories(List.of(dir))
                    .setMetadataLogDirectory(dir)
                    .setReleaseVersion(MetadataVersion.latestProduction())
                    .setSupportedFeatures(Feature.PRODUCTION_FEATURES)
                    .setControllerListenerName("CONTROLLER")
                    .setIgnoreFormatted(true)
                    .run();
            server = new KafkaRaftServer(new KafkaConfig(brokerProperties(dir), false), Time.SYSTEM);
            server.startup();
            awaitReady(Duration.ofSeconds(60));
            log.info("embedded Kafka ready at {}", bootstrapServers());
            return this;
        } catch (Exception e) {
            throw new IllegalStateException("embedded Kafka failed to start in " + dataDir + ": " + e.getMessage(), e);
        }
    }

    private Properties brokerProperties(String dir) {
        Properties p = new Properties();
        p.putAll(Map.ofEntries(
                Map.entry("process.roles", "broker,controller"),
                Map.entry("node.id", "1"),
                Map.entry("controller.quorum.voters", "1@127.0.0.1:" + controllerPort),
                Map.entry(
                        "listeners",
                        "PLAINTEXT://127.0.0.1:" + brokerPort + ",CONTROLLER://127.0.0.1:" + controllerPort),
                Map.entry("advertised.listeners", "PLAINTEXT://127.0.0.1:" + brokerPort),
                Map.entry("controller.listener.names", "CONTROLLER"),
                Map.entry("inter.broker.listener.name", "PLAINTEXT"),
                Map.entry("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"),
                Map.entry("log.dirs", dir),
                Map.entry("metadata.log.dir", dir),
                Map.entry("auto.create.topics.enable", "false"),
                Map.entry("offsets.topic.replication.factor", "1"),
                Map.entry("offsets.topic.num.partitions", "4"),
                Map.entry("transaction.state.log.replication.factor", "1"),
                Map.entry("transaction.state.log.min.isr", "1"),
                Map.entry("transaction.state.log.num.partitions", "4"),
                Map.entry("share.coordinator.state.topic.replication.factor", "1"),
                Map.entry("share.coordinator.state.topic.min.isr", "1"),
                Map.entry("group.initial.rebalance.delay.ms", "0"),
                Map.entry("log.flush.interval.messages", Long.toString(Long.MAX_VALUE)),
                Map.entry("num.network.threads", "2"),
                Map.entry("num.io.threads", "2")));
        return p;
    }

    private void awaitReady(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        Exception last = null;
        while (System.nanoTime() < deadline) {
            try (Admin admin = admin()) {
                admin.describeCluster().nodes().get(5, TimeUnit.SECONDS);
                return;
            } catch (Exception e) {
                last = e;
                Thread.sleep(200);
            }
        }
        throw new IllegalStateException("broker not ready after " + timeout.toSeconds() + " s", last);
    }

    public Admin admin() {
        return Admin.create(Map.of(
                AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG,
                bootstrapServers(),
                AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG,
                10_000,
                AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG,
                20_000));
    }

    /** Creates each topic with {@code partitions} partitions; existing topics are left as they are. */
    public void createTopics(int partitions, List<String> names) {
        try (Admin admin = admin()) {
            for (String name : names) {
                try {
                    admin.createTopics(List.of(new NewTopic(name, partitions, (short) 1)))
                            .all()
                            .get(30, TimeUnit.SECONDS);
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof TopicExistsException)) {
                        throw new IllegalStateException(
                                "cannot create topic " + name + ": "
                                        + e.getCause().getMessage(),
                                e);
                    }
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while creating topics", e);
        } catch (TimeoutException e) {
            throw new IllegalStateException("timed out creating topics " + names, e);
        }
    }

    /**
     * Waits until consumer group {@code groupId} has committed the end offset of every partition of {@code topic}:
     * it has read everything written to it so far, and a group that commits only what it has handled (a Kafka
     * Streams application; the trainer's seed ingestion) has handled it. Under exactly-once, whatever the group
     * wrote for those records is then committed too, so a reader can read its output to the end and know that
     * nothing more will come for them.
     */
    public void awaitConsumed(String groupId, String topic, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        try (Admin admin = admin()) {
            while (true) {
                Map<TopicPartition, Long> ends = endOffsets(admin, topic);
                Map<TopicPartition, OffsetAndMetadata> committed = committed(admin, groupId);
                if (ends.entrySet().stream()
                        .allMatch(e -> e.getValue() == 0
                                || (committed.get(e.getKey()) != null
                                        && committed.get(e.getKey()).offset() >= e.getValue()))) {
                    return;
                }
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("group " + groupId + " has not consumed " + topic + " after "
                            + timeout.toSeconds() + " s: committed " + committed + ", end offsets " + ends);
                }
                Thread.sleep(100);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for group " + groupId, e);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("cannot read the offsets of group " + groupId + " on " + topic, e);
        }
    }

    /** The group's committed offsets; none while the group does not exist yet. */
    private static Map<TopicPartition, OffsetAndMetadata> committed(Admin admin, String groupId)
            throws ExecutionException, InterruptedException, TimeoutException {
        try {
            return admin.listConsumerGroupOffsets(groupId)
                    .partitionsToOffsetAndMetadata()
                    .get(20, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof GroupIdNotFoundException) {
                return Map.of();
            }
            throw e;
        }
    }

    private static Map<TopicPartition, Long> endOffsets(Admin admin, String topic)
            throws ExecutionException, InterruptedException, TimeoutException {
        Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
        admin.describeTopics(List.of(topic))
                .allTopicNames()
                .get(20, TimeUnit.SECONDS)
                .get(topic)
                .partitions()
                .forEach(p -> latest.put(new TopicPartition(topic, p.partition()), OffsetSpec.latest()));
        Map<TopicPartition, Long> ends = new HashMap<>();
        admin.listOffsets(latest).all().get(20, TimeUnit.SECONDS).forEach((tp, info) -> ends.put(tp, info.offset()));
        return ends;
    }

    public String bootstrapServers() {
        return "127.0.0.1:" + brokerPort;
    }

    /** Stops the broker; its data stays, and {@link #start()} brings it back on the same port. */
    public synchronized void stop() {
        if (server != null) {
            server.shutdown();
            server.awaitShutdown();
            server = null;
            log.info("embedded Kafka stopped");
        }
    }

    @Override
    public void close() {
        stop();
    }

    static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            s.setReuseAddress(true);
            return s.getLocalPort();
        } catch (IOException e) {
            throw new IllegalStateException("no free local port", e);
        }
    }
}
