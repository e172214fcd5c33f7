package dev.duoguard.embedded;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AccessControlEntryFilter;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.config.SaslConfigs;
import org.apache.kafka.common.config.SslConfigs;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;
import org.apache.kafka.common.security.plain.PlainLoginModule;
import org.apache.kafka.common.security.scram.ScramLoginModule;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.metadata.authorizer.StandardAuthorizer;
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
 *
 * <p>{@link #secured} starts a broker whose only client listener is SASL_SSL, as a locked-down production
 * cluster's: TLS with a certificate from a CA the test generates ({@link TestCertificates}), SCRAM-SHA-512 users
 * that {@link #addUser} creates, and the {@code StandardAuthorizer} with no access without an ACL ({@link
 * #allow}). The super user {@value #SUPER_USER} authenticates with PLAIN (its password lives in the broker's JAAS
 * configuration, which exists before any SCRAM credential can): the broker's own inter-broker connections (the
 * transaction coordinator writes its markers through them, to itself) and this class's {@link #admin}. The
 * KRaft controller listener stays PLAINTEXT on 127.0.0.1, where the broker's requests to its controller arrive
 * as {@code User:ANONYMOUS}, which is therefore a super user too: a test broker's compromise, not a production
 * setting (there the controller listener is secured as well).
 */
public final class EmbeddedKafka implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(EmbeddedKafka.class);

    private final Path dataDir;
    private final int brokerPort;
    private final int controllerPort;
    private final String clusterId = Uuid.randomUuid().toString();
    /** The TLS material and super user password of a {@link #secured} broker; null for a plaintext one. */
    private final TestCertificates tls;

    private final String superUserPassword = Uuid.randomUuid().toString();
    private KafkaRaftServer server;

    /** The super user of a {@link #secured} broker. */
    public static final String SUPER_USER = "admin";

    /** A PLAINTEXT broker: anyone who reaches the port may do anything. */
    public EmbeddedKafka(Path dataDir) {
        this(dataDir, null);
    }

    private EmbeddedKafka(Path dataDir, TestCertificates tls) {
        this.dataDir = dataDir;
        this.tls = tls;
        this.brokerPort = freePort();
        this.controllerPort = freePort();
    }

    /**
     * A broker whose only client listener is SASL_SSL, with ACLs (see the class comment); its certificates are
     * generated next to {@code dataDir} (in {@code <dataDir>-tls}), not in it, where the broker would take them for
     * a partition.
     */
    public static EmbeddedKafka secured(Path dataDir) {
        return new EmbeddedKafka(
                dataDir, TestCertificates.generate(dataDir.resolveSibling(dataDir.getFileName() + "-tls")));
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
        String listener = tls == null ? "PLAINTEXT" : "SASL_SSL";
        p.putAll(Map.ofEntries(
                Map.entry("process.roles", "broker,controller"),
                Map.entry("node.id", "1"),
                Map.entry("controller.quorum.voters", "1@127.0.0.1:" + controllerPort),
                Map.entry(
                        "listeners",
                        listener + "://127.0.0.1:" + brokerPort + ",CONTROLLER://127.0.0.1:" + controllerPort),
                Map.entry("advertised.listeners", listener + "://127.0.0.1:" + brokerPort),
                Map.entry("controller.listener.names", "CONTROLLER"),
                Map.entry("inter.broker.listener.name", listener),
                Map.entry("listener.security.protocol.map", listener + ":" + listener + ",CONTROLLER:PLAINTEXT"),
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
        if (tls != null) {
            String superUser = "username=\"" + SUPER_USER + "\" password=\"" + superUserPassword + "\"";
            p.putAll(Map.ofEntries(
                    Map.entry("sasl.enabled.mechanisms", "PLAIN,SCRAM-SHA-512"),
                    Map.entry("sasl.mechanism.inter.broker.protocol", "PLAIN"),
                    // PLAIN: the broker's side knows the super user (user_<name>), its client side logs in as it
                    Map.entry(
                            "listener.name.sasl_ssl.plain.sasl.jaas.config",
                            PlainLoginModule.class.getName() + " required " + superUser + " user_" + SUPER_USER + "=\""
                                    + superUserPassword + "\";"),
                    Map.entry(
                            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config",
                            ScramLoginModule.class.getName() + " required;"),
                    Map.entry("ssl.keystore.location", tls.keystore().toString()),
                    Map.entry("ssl.keystore.password", tls.password()),
                    Map.entry("ssl.keystore.type", "PKCS12"),
                    Map.entry("ssl.truststore.location", tls.truststore().toString()),
                    Map.entry("ssl.truststore.password", tls.password()),
                    Map.entry("ssl.truststore.type", "PKCS12"),
                    Map.entry("authorizer.class.name", StandardAuthorizer.class.getName()),
                    Map.entry("super.users", "User:" + SUPER_USER + ";User:ANONYMOUS"),
                    Map.entry("allow.everyone.if.no.acl.found", "false")));
        }
        return p;
    }

    /**
     * Properties for a client of this broker as the super user: just the bootstrap servers for a plaintext broker,
     * SASL_SSL with PLAIN and the test CA for a {@link #secured} one. A client adds its own settings to the map.
     */
    public Map<String, Object> clientProperties() {
        Map<String, Object> p = new HashMap<>();
        p.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
        if (tls != null) {
            p.putAll(saslSsl(
                    "PLAIN",
                    PlainLoginModule.class.getName() + " required username=\"" + SUPER_USER + "\" password=\""
                            + superUserPassword + "\";"));
        }
        return p;
    }

    /** Properties for a client of a {@link #secured} broker that logs in as {@code user} with SCRAM-SHA-512. */
    public Map<String, Object> clientProperties(String user, String password) {
        Map<String, Object> p = new HashMap<>();
        p.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
        p.putAll(saslSsl(
                "SCRAM-SHA-512",
                ScramLoginModule.class.getName() + " required username=\"" + user + "\" password=\"" + password
                        + "\";"));
        return p;
    }

    private Map<String, Object> saslSsl(String mechanism, String jaas) {
        return Map.of(
                CommonClientConfigs.SECURITY_PROTOCOL_CONFIG,
                "SASL_SSL",
                SaslConfigs.SASL_MECHANISM,
                mechanism,
                SaslConfigs.SASL_JAAS_CONFIG,
                jaas,
                SslConfigs.SSL_TRUSTSTORE_LOCATION_CONFIG,
                truststore().toString(),
                SslConfigs.SSL_TRUSTSTORE_PASSWORD_CONFIG,
                tls().password(),
                SslConfigs.SSL_TRUSTSTORE_TYPE_CONFIG,
                "PKCS12");
    }

    /** The PKCS12 truststore with the test CA of a {@link #secured} broker (password {@link #truststorePassword}). */
    public Path truststore() {
        return tls().truststore();
    }

    public String truststorePassword() {
        return tls().password();
    }

    private TestCertificates tls() {
        if (tls == null) {
            throw new IllegalStateException("this broker is PLAINTEXT: create it with EmbeddedKafka.secured");
        }
        return tls;
    }

    /**
     * Creates (or changes the password of) SCRAM-SHA-512 user {@code name} on a {@link #secured} broker and waits
     * until the broker knows it, so that the user can log in at once.
     */
    public void addUser(String name, String password) {
        tls();
        try (Admin admin = admin()) {
            admin.alterUserScramCredentials(List.of(new UserScramCredentialUpsertion(
                            name, new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), password)))
                    .all()
                    .get(30, TimeUnit.SECONDS);
            // the controller has it; the broker answers describe from its own copy of the metadata
            awaitTrue(
                    () -> admin.describeUserScramCredentials(List.of(name))
                            .all()
                            .get(10, TimeUnit.SECONDS)
                            .containsKey(name),
                    "user " + name);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("cannot create user " + name + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while creating user " + name, e);
        }
    }

    /**
     * Allows {@code User:<user>} the {@code operations} on the resource ({@code LITERAL} or {@code PREFIXED}
     * {@code name}), from any host, and waits until the broker's authorizer has the ACLs.
     */
    public void allow(String user, ResourceType type, String name, PatternType pattern, AclOperation... operations) {
        tls();
        ResourcePattern resource = new ResourcePattern(type, name, pattern);
        List<AclBinding> acls = Arrays.stream(operations)
                .map(op -> new AclBinding(
                        resource, new AccessControlEntry("User:" + user, "*", op, AclPermissionType.ALLOW)))
                .toList();
        try (Admin admin = admin()) {
            admin.createAcls(acls).all().get(30, TimeUnit.SECONDS);
            awaitTrue(
                    () -> admin.describeAcls(new AclBindingFilter(resource.toFilter(), AccessControlEntryFilter.ANY))
                            .values()
                            .get(10, TimeUnit.SECONDS)
                            .containsAll(acls),
                    "ACLs " + acls);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("cannot create ACLs " + acls + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while creating ACLs", e);
        }
    }

    private interface Check {
        boolean done() throws ExecutionException, TimeoutException, InterruptedException;
    }

    /** Polls {@code check} until it holds (metadata reaching the broker from its controller), at most 30 s. */
    private static void awaitTrue(Check check, String what)
            throws ExecutionException, TimeoutException, InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!check.done()) {
            if (System.nanoTime() > deadline) {
                throw new TimeoutException(what + " did not reach the broker in 30 s");
            }
            Thread.sleep(50);
        }
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

    /** An admin client; of a {@link #secured} broker, as its super user. */
    public Admin admin() {
        Map<String, Object> p = clientProperties();
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 20_000);
        return Admin.create(p);
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

    /**
     * Waits until the group's members hold {@code partitionsPerMember} partitions of {@code topic} each (in any
     * order of members): several app instances have their share before input is produced, so none takes a head
     * start.
     */
    public void awaitAssignment(String groupId, String topic, List<Integer> partitionsPerMember, Duration timeout) {
        List<Integer> expected = partitionsPerMember.stream().sorted().toList();
        long deadline = System.nanoTime() + timeout.toNanos();
        List<Integer> held = List.of();
        try (Admin admin = admin()) {
            while (System.nanoTime() < deadline) {
                held = partitionsPerMember(admin, groupId, topic);
                if (held.equals(expected)) {
                    return;
                }
                Thread.sleep(200); // an assignment is only visible by asking again
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for group " + groupId, e);
        }
        throw new IllegalStateException("group " + groupId + " holds " + held + " partitions of " + topic
                + " per member after " + timeout.toSeconds() + " s, not " + expected);
    }

    /** How many partitions of {@code topic} each member holds, sorted; empty while the group does not exist. */
    private static List<Integer> partitionsPerMember(Admin admin, String groupId, String topic)
            throws InterruptedException {
        try {
            return admin.describeConsumerGroups(List.of(groupId)).all().get().get(groupId).members().stream()
                    .map(m -> (int) m.assignment().topicPartitions().stream()
                            .filter(tp -> tp.topic().equals(topic))
                            .count())
                    .sorted()
                    .toList();
        } catch (ExecutionException e) {
            return List.of();
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
