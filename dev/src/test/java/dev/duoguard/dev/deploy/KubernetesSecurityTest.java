package dev.duoguard.dev.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.duoguard.common.config.LayeredConfig;
import dev.duoguard.common.serde.AvroSerdes;
import dev.duoguard.common.serde.SchemaIds;
import dev.duoguard.common.topics.Topics;
import dev.duoguard.dev.deploy.KubernetesManifestsTest.Doc;
import dev.duoguard.runtime.language.LanguageDetection;
import dev.duoguard.streams.config.AppConfig;
import dev.duoguard.streams.model.ModelSlot;
import dev.duoguard.streams.topology.GuardrailTopology;
import dev.duoguard.streams.topology.ModerationListener;
import dev.duoguard.streams.topology.Moderator;
import dev.duoguard.trainer.service.TrainerService;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvFromSource;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.PodSecurityContext;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.SecurityContext;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.strimzi.api.kafka.model.user.KafkaUser;
import io.strimzi.api.kafka.model.user.KafkaUserAuthorizationSimple;
import io.strimzi.api.kafka.model.user.KafkaUserScramSha512ClientAuthentication;
import io.strimzi.api.kafka.model.user.acl.AclOperation;
import io.strimzi.api.kafka.model.user.acl.AclRule;
import io.strimzi.api.kafka.model.user.acl.AclRuleClusterResource;
import io.strimzi.api.kafka.model.user.acl.AclRuleGroupResource;
import io.strimzi.api.kafka.model.user.acl.AclRuleTopicResource;
import io.strimzi.api.kafka.model.user.acl.AclRuleTransactionalIdResource;
import io.strimzi.api.kafka.model.user.acl.AclRuleType;
import java.io.IOException;
import java.io.StringReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.streams.TopologyDescription;
import org.junit.jupiter.api.Test;

/**
 * The security of {@code k8s/}, checked without a cluster: each component's Kafka principal is granted exactly what
 * the code makes it do (the streams app's topics from its topology, the trainer's from its options; names from the
 * ConfigMaps), each pod connects as its own principal with the Secrets Strimzi writes, the signing key reaches only
 * the trainer, no secret is a literal value, and every pod runs hardened (no service account token, RuntimeDefault
 * seccomp, non-root, no privilege escalation, no capabilities, a read-only root filesystem with writable volumes
 * exactly where the JVM, ONNX Runtime, RocksDB and DJL write).
 */
class KubernetesSecurityTest {

    /** Strimzi writes the cluster CA's certificate into this Secret (cluster "duoguard"). */
    static final String CLUSTER_CA_SECRET = "duoguard-cluster-ca-cert";

    static final String SIGNING_KEY_SECRET = "duoguard-model-signing-key";
    static final String TRUSTED_KEYS_SECRET = "duoguard-model-trusted-keys";

    /** Principals of clients outside this repository: what k8s/README.md tells their owners they may do. */
    static final String CHAT = "duoguard-chat";

    static final String CHAT_GROUP = "duoguard-chat";
    static final String FEEDBACK = "duoguard-feedback";
    static final String OPERATOR = "duoguard-operator";
    static final String VIEWER = "duoguard-viewer";

    /** One grant as Kafka's authorizer sees it: an operation on a resource pattern. */
    record Acl(String resourceType, String name, String pattern, String operation) implements Comparable<Acl> {
        @Override
        public int compareTo(Acl o) {
            return toString().compareTo(o.toString());
        }
    }

    static Set<Acl> grants(String type, String name, String pattern, AclOperation... operations) {
        Set<Acl> out = new TreeSet<>();
        for (AclOperation op : operations) {
            out.add(new Acl(type, name, pattern, op.toValue()));
        }
        return out;
    }

    static Set<Acl> topic(String name, AclOperation... operations) {
        return grants(AclRuleTopicResource.TYPE_TOPIC, name, "literal", operations);
    }

    static Set<Acl> group(String name, AclOperation... operations) {
        return grants(AclRuleGroupResource.TYPE_GROUP, name, "literal", operations);
    }

    /** The grants of a KafkaUser, one per operation; a deny rule or a missing type is a failure of its own. */
    static Set<Acl> acls(KafkaUser user) {
        assertThat(user.getSpec().getAuthorization())
                .as(user.getMetadata().getName() + " uses simple authorization")
                .isInstanceOf(KafkaUserAuthorizationSimple.class);
        Set<Acl> out = new TreeSet<>();
        for (AclRule r : ((KafkaUserAuthorizationSimple) user.getSpec().getAuthorization()).getAcls()) {
            assertThat(r.getType()).isIn(null, AclRuleType.ALLOW);
            String type = r.getResource().getType();
            String name;
            String pattern;
            if (r.getResource() instanceof AclRuleTopicResource t) {
                name = t.getName();
                pattern = t.getPatternType().toValue();
            } else if (r.getResource() instanceof AclRuleGroupResource g) {
                name = g.getName();
                pattern = g.getPatternType().toValue();
            } else if (r.getResource() instanceof AclRuleTransactionalIdResource x) {
                name = x.getName();
                pattern = x.getPatternType().toValue();
            } else {
                assertThat(r.getResource()).isInstanceOf(AclRuleClusterResource.class);
                name = "kafka-cluster";
                pattern = "literal";
            }
            assertThat(r.getOperations())
                    .as("operations (the single, deprecated operation is not used)")
                    .isNotEmpty();
            r.getOperations().forEach(op -> out.add(new Acl(type, name, pattern, op.toValue())));
        }
        return out;
    }

    /** Serdes that no record goes through: describing a topology serializes nothing. */
    static final class NoRegistry implements AvroSerdes {
        @Override
        public <T extends SpecificRecord> Serde<T> value(Class<T> type) {
            Serializer<T> serializer = (topic, data) -> {
                throw new UnsupportedOperationException("describe only");
            };
            Deserializer<T> deserializer = (topic, data) -> {
                throw new UnsupportedOperationException("describe only");
            };
            return Serdes.serdeFrom(serializer, deserializer);
        }

        @Override
        public SchemaIds schemaIds() {
            return id -> SchemaIds.Presence.UNREACHABLE;
        }
    }

    /** The topics the streams app's topology reads ({@code sources}) and writes ({@code sinks}), internal ones too. */
    record TopologyTopics(Set<String> sources, Set<String> sinks) {}

    static TopologyTopics topologyTopics(Topics.Names names) {
        var settings = new GuardrailTopology.Settings(
                names,
                32,
                Duration.ofMillis(10),
                Duration.ofSeconds(10),
                Duration.ofSeconds(15),
                2,
                Duration.ofSeconds(15),
                32768,
                Duration.ofHours(48),
                null,
                null,
                AppConfig.Replies.DEFAULT);
        TopologyDescription d = GuardrailTopology.build(
                        settings,
                        new Moderator((ModelSlot) null, LanguageDetection.off(), null),
                        new NoRegistry(),
                        ModerationListener.NONE)
                .describe();
        Set<String> sources = new TreeSet<>();
        Set<String> sinks = new TreeSet<>();
        for (TopologyDescription.Subtopology s : d.subtopologies()) {
            for (TopologyDescription.Node n : s.nodes()) {
                if (n instanceof TopologyDescription.Source src) {
                    sources.addAll(src.topicSet());
                } else if (n instanceof TopologyDescription.Sink sink) {
                    sinks.add(sink.topic());
                }
            }
        }
        return new TopologyTopics(sources, sinks);
    }

    /** Every document of k8s/ by "Kind/name". */
    static Map<String, Doc> byName() throws IOException {
        Map<String, Doc> out = new LinkedHashMap<>();
        for (Doc d : KubernetesManifestsTest.documents()) {
            out.put(d.kind() + "/" + d.name(), d);
        }
        return out;
    }

    static Properties appProperties(Map<String, Doc> docs) throws IOException {
        Properties p = new Properties();
        p.load(new StringReader(docs.get("ConfigMap/duoguard-streams")
                .tree()
                .path("data")
                .path("app.properties")
                .asText()));
        return p;
    }

    /**
     * What the workload's first container is configured with, as environment variable names: its image's
     * Dockerfile ENV, then the config file its args name (a ConfigMap key, each key as {@link LayeredConfig#envName}),
     * then envFrom ConfigMaps, then env. Later wins, as in the apps.
     */
    static Map<String, String> settings(Doc workload, Map<String, Doc> docs) throws IOException {
        PodSpec pod = KubernetesManifestsTest.podSpec(workload);
        Container c = pod.getContainers().get(0);
        Map<String, String> out = new TreeMap<>(dockerfileEnv(c.getImage()));
        List<String> args = c.getArgs() == null ? List.of() : c.getArgs();
        int config = args.indexOf("--config");
        if (config >= 0) {
            Path file = Path.of(args.get(config + 1));
            Volume v = volumeAt(pod, c, file);
            assertThat(v.getConfigMap())
                    .as(workload.name() + "'s config file is a ConfigMap")
                    .isNotNull();
            Properties p = new Properties();
            p.load(new StringReader(docs.get("ConfigMap/" + v.getConfigMap().getName())
                    .tree()
                    .path("data")
                    .path(file.getFileName().toString())
                    .asText()));
            p.stringPropertyNames().forEach(k -> out.put(LayeredConfig.envName(k), p.getProperty(k)));
        }
        for (EnvFromSource from : c.getEnvFrom() == null ? List.<EnvFromSource>of() : c.getEnvFrom()) {
            docs.get("ConfigMap/" + from.getConfigMapRef().getName())
                    .tree()
                    .path("data")
                    .properties()
                    .forEach(e -> out.put(e.getKey(), e.getValue().asText()));
        }
        for (EnvVar e : c.getEnv() == null ? List.<EnvVar>of() : c.getEnv()) {
            if (e.getValue() != null) {
                out.put(e.getName(), e.getValue());
            }
        }
        return out;
    }

    static final Pattern ENV_PAIR = Pattern.compile("([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|\\S+)");

    /** The ENV of the runtime stage of the Dockerfile that builds {@code image} (duoguard/MODULE:TAG[-gpu]). */
    static Map<String, String> dockerfileEnv(String image) throws IOException {
        Matcher m = Pattern.compile("duoguard/([a-z-]+):\\S+?(-gpu)?").matcher(image);
        assertThat(m.matches())
                .as("an image built from this repository: " + image)
                .isTrue();
        Path dockerfile = DeploymentFilesTest.ROOT
                .resolve(m.group(1))
                .resolve(m.group(2) == null ? "Dockerfile" : "Dockerfile.gpu");
        String text = Files.readString(dockerfile).replace("\\\n", " ");
        String runtime = text.substring(text.lastIndexOf("\nFROM "));
        Map<String, String> env = new TreeMap<>();
        runtime.lines().filter(l -> l.startsWith("ENV ")).forEach(l -> {
            Matcher pair = ENV_PAIR.matcher(l.substring(4));
            while (pair.find()) {
                env.put(pair.group(1), pair.group(2));
            }
        });
        return env;
    }

    /** The volume mounted at the longest mount path that contains {@code path}. */
    static Volume volumeAt(PodSpec pod, Container c, Path path) {
        VolumeMount m = mountAt(c, path);
        assertThat(m).as("a volume is mounted at (or above) " + path).isNotNull();
        return pod.getVolumes().stream()
                .filter(v -> v.getName().equals(m.getName()))
                .findFirst()
                .orElse(null);
    }

    static VolumeMount mountAt(Container c, Path path) {
        VolumeMount best = null;
        for (VolumeMount m : c.getVolumeMounts()) {
            if (path.startsWith(Path.of(m.getMountPath()))
                    && (best == null
                            || m.getMountPath().length() > best.getMountPath().length())) {
                best = m;
            }
        }
        return best;
    }

    static List<Doc> workloads(Map<String, Doc> docs) {
        return docs.values().stream()
                .filter(d -> KubernetesManifestsTest.WORKLOADS.contains(d.kind()))
                .toList();
    }

    /** Which KafkaUser must grant what, derived from the code and the ConfigMaps; keyed by user name. */
    static Map<String, Set<Acl>> needed(Map<String, Doc> docs) throws IOException {
        Map<String, Set<Acl>> need = new TreeMap<>();

        // the streams app: its topology's external topics, the models topic (the watcher reads it and marks versions
        // FAILED or ACTIVE), and what Kafka Streams names after the application id
        Properties app = appProperties(docs);
        Map<String, String> defaults = Topics.Names.DEFAULTS.asConfig();
        Topics.Names names = Topics.Names.from(k -> app.getProperty(k, defaults.get(k)));
        String appId = app.getProperty("application.id", AppConfig.DEFAULTS.get("application.id"));
        TopologyTopics t = topologyTopics(names);
        Set<Acl> streams = new TreeSet<>();
        t.sources().stream().filter(names.all()::contains).forEach(s -> streams.addAll(topic(s, AclOperation.READ)));
        t.sinks().stream().filter(names.all()::contains).forEach(s -> streams.addAll(topic(s, AclOperation.WRITE)));
        streams.addAll(topic(names.models(), AclOperation.READ, AclOperation.WRITE));
        streams.addAll(grants(
                AclRuleTopicResource.TYPE_TOPIC,
                appId + "-",
                "prefix",
                AclOperation.CREATE,
                AclOperation.DELETE,
                AclOperation.DESCRIBE,
                AclOperation.DESCRIBECONFIGS,
                AclOperation.READ,
                AclOperation.WRITE));
        streams.addAll(group(appId, AclOperation.READ));
        String guarantee = app.getProperty("processing.guarantee", AppConfig.DEFAULTS.get("processing.guarantee"));
        if (guarantee.startsWith("exactly_once")) {
            streams.addAll(grants(
                    AclRuleTransactionalIdResource.TYPE_TRANSACTIONAL_ID, appId + "-", "prefix", AclOperation.WRITE));
        }
        need.put(app.getProperty("kafka.sasl.username"), streams);

        // the trainer service: its seed consumer's group and topic, the models topic (history and publishing)
        Map<String, String> trainer = settings(docs.get("Deployment/duoguard-trainer"), docs);
        Set<Acl> trainerAcls = new TreeSet<>();
        trainerAcls.addAll(topic(trainer.getOrDefault(Topics.Names.SEEDS_ENV, Topics.Names.SEEDS), AclOperation.READ));
        trainerAcls.addAll(topic(
                trainer.getOrDefault(Topics.Names.MODELS_ENV, Topics.Names.MODELS),
                AclOperation.READ,
                AclOperation.WRITE));
        trainerAcls.addAll(group(
                trainer.getOrDefault("DUOGUARD_TRAINER_GROUP", TrainerService.Config.DEFAULT_GROUP_ID),
                AclOperation.READ));
        need.put(trainer.get(LayeredConfig.envName("kafka.sasl.username")), trainerAcls);

        // clients outside this repository and the operators' roles
        Set<Acl> chat = new TreeSet<>(topic(names.messages(), AclOperation.WRITE));
        chat.addAll(topic(names.verdicts(), AclOperation.READ));
        chat.addAll(topic(names.replyChunks(), AclOperation.WRITE));
        chat.addAll(group(CHAT_GROUP, AclOperation.READ));
        need.put(CHAT, chat);
        need.put(FEEDBACK, topic(names.feedback(), AclOperation.WRITE));
        need.put(OPERATOR, topic(names.models(), AclOperation.READ, AclOperation.WRITE));
        need.put(VIEWER, topic(names.models(), AclOperation.READ));

        // KEDA: the lag of the streams app's group on the topic it scales on
        JsonNode trigger = docs.get("ScaledObject/duoguard-streams")
                .tree()
                .path("spec")
                .path("triggers")
                .get(0);
        assertThat(trigger.path("metadata").path("consumerGroup").asText()).isEqualTo(appId);
        assertThat(trigger.path("metadata").path("topic").asText()).isEqualTo(names.messages());
        String kedaUser = docs.get("Secret/duoguard-keda-username")
                .tree()
                .path("stringData")
                .path("username")
                .asText();
        Set<Acl> keda = new TreeSet<>(topic(names.messages(), AclOperation.DESCRIBE));
        keda.addAll(group(appId, AclOperation.DESCRIBE));
        need.put(kedaUser, keda);
        return need;
    }

    static Map<String, KafkaUser> kafkaUsers(Map<String, Doc> docs) throws IOException {
        Map<String, KafkaUser> users = new TreeMap<>();
        for (Doc d : docs.values()) {
            if (d.kind().equals("KafkaUser")) {
                users.put(d.name(), KubernetesManifestsTest.YAML.treeToValue(d.tree(), KafkaUser.class));
            }
        }
        return users;
    }

    /** For each user: what it is granted beyond its need and what it lacks. Empty: exactly its need. */
    static List<String> aclProblems(Map<String, KafkaUser> users, Map<String, Set<Acl>> need) {
        List<String> problems = new ArrayList<>();
        for (String name : new TreeSet<>(union(users.keySet(), need.keySet()))) {
            if (!users.containsKey(name)) {
                problems.add(name + ": no KafkaUser");
                continue;
            }
            if (!need.containsKey(name)) {
                problems.add(name + ": a KafkaUser no component needs");
                continue;
            }
            Set<Acl> granted = acls(users.get(name));
            Set<Acl> extra = new TreeSet<>(granted);
            extra.removeAll(need.get(name));
            Set<Acl> missing = new TreeSet<>(need.get(name));
            missing.removeAll(granted);
            if (!extra.isEmpty()) {
                problems.add(name + " is granted more than it needs: " + extra);
            }
            if (!missing.isEmpty()) {
                problems.add(name + " lacks " + missing);
            }
        }
        return problems;
    }

    static Set<String> union(Set<String> a, Set<String> b) {
        Set<String> u = new HashSet<>(a);
        u.addAll(b);
        return u;
    }

    @Test
    void theStreamsAppsTopicsComeFromItsTopology() throws IOException {
        TopologyTopics t = topologyTopics(Topics.Names.DEFAULTS);
        assertThat(t.sources()).contains(Topics.Names.MESSAGES, Topics.Names.FEEDBACK);
        assertThat(t.sinks()).contains(Topics.Names.VERDICTS, Topics.Names.SEEDS, Topics.Names.DLQ);
        assertThat(t.sinks())
                .as("internal topics are there too (covered by the application id prefix)")
                .anyMatch(s -> !Topics.Names.DEFAULTS.all().contains(s));
    }

    @Test
    void everyKafkaUserIsGrantedExactlyWhatItsComponentNeeds() throws IOException {
        Map<String, Doc> docs = byName();
        Map<String, KafkaUser> users = kafkaUsers(docs);
        Map<String, Set<Acl>> need = needed(docs);
        assertThat(need).containsKeys("duoguard-streams", "duoguard-trainer", FEEDBACK, OPERATOR, VIEWER, CHAT);
        assertThat(aclProblems(users, need)).isEmpty();

        for (KafkaUser u : users.values()) {
            assertThat(u.getMetadata().getLabels())
                    .as("the User Operator of cluster duoguard manages "
                            + u.getMetadata().getName())
                    .containsEntry("strimzi.io/cluster", "duoguard");
            assertThat(u.getSpec().getAuthentication()).isInstanceOf(KafkaUserScramSha512ClientAuthentication.class);
            assertThat(acls(u))
                    .as(u.getMetadata().getName() + ": no wildcard, no cluster-wide grant, no All")
                    .allMatch(a -> !a.name().equals("*")
                            && !a.resourceType().equals("cluster")
                            && !a.operation().equals(AclOperation.ALL.toValue())
                            && !(a.pattern().equals("prefix") && a.name().isEmpty()));
        }
        assertThat(acls(users.get(FEEDBACK)))
                .as("the feedback producer can write chat.feedback and nothing else")
                .containsExactly(new Acl("topic", Topics.Names.FEEDBACK, "literal", "Write"));
    }

    @Test
    void theAclCheckCatchesAnExtraGrantAMissingOneAndAStrayUser() throws IOException {
        Map<String, Doc> docs = byName();
        Map<String, Set<Acl>> need = needed(docs);

        ObjectNode feedback = docs.get("KafkaUser/" + FEEDBACK).tree().deepCopy();
        ObjectNode extra =
                ((ArrayNode) feedback.path("spec").path("authorization").path("acls")).addObject();
        extra.putObject("resource")
                .put("type", "topic")
                .put("name", Topics.Names.MESSAGES)
                .put("patternType", "literal");
        extra.putArray("operations").add("Write");
        Map<String, KafkaUser> users = kafkaUsers(docs);
        users.put(FEEDBACK, KubernetesManifestsTest.YAML.treeToValue(feedback, KafkaUser.class));
        assertThat(aclProblems(users, need)).anyMatch(p -> p.startsWith(FEEDBACK + " is granted more"));

        users = kafkaUsers(docs);
        Map<String, Set<Acl>> moreNeeded = new TreeMap<>(need);
        Set<Acl> trainer = new TreeSet<>(need.get("duoguard-trainer"));
        trainer.addAll(topic("guardrail.new", AclOperation.READ));
        moreNeeded.put("duoguard-trainer", trainer);
        assertThat(aclProblems(users, moreNeeded)).anyMatch(p -> p.startsWith("duoguard-trainer lacks"));

        Map<String, Set<Acl>> fewer = new TreeMap<>(need);
        fewer.remove(VIEWER);
        assertThat(aclProblems(users, fewer)).contains(VIEWER + ": a KafkaUser no component needs");
    }

    @Test
    void eachPodConnectsAsItsOwnPrincipalWithStrimzisSecrets() throws IOException {
        Map<String, Doc> docs = byName();
        Set<String> users = kafkaUsers(docs).keySet();
        for (String name : List.of(
                "StatefulSet/duoguard-streams", "StatefulSet/duoguard-streams-gpu", "Deployment/duoguard-trainer")) {
            Doc d = docs.get(name);
            PodSpec pod = KubernetesManifestsTest.podSpec(d);
            Container c = pod.getContainers().get(0);
            Map<String, String> s = settings(d, docs);
            assertThat(s)
                    .as(name)
                    .containsEntry(LayeredConfig.envName("kafka.security.protocol"), "SASL_SSL")
                    .containsEntry(LayeredConfig.envName("kafka.sasl.mechanism"), "SCRAM-SHA-512");
            String user = s.get(LayeredConfig.envName("kafka.sasl.username"));
            assertThat(users).as(name + " connects as a KafkaUser of k8s/").contains(user);
            Volume password = volumeAt(pod, c, Path.of(s.get(LayeredConfig.envName("kafka.sasl.password.file"))));
            assertThat(password.getSecret().getSecretName())
                    .as(name + ": the password Strimzi wrote for " + user)
                    .isEqualTo(user);
            Volume ca = volumeAt(pod, c, Path.of(s.get(LayeredConfig.envName("kafka.ssl.truststore.location"))));
            assertThat(ca.getSecret().getSecretName())
                    .as(name + " trusts the cluster CA")
                    .isEqualTo(CLUSTER_CA_SECRET);
            assertThat(s.get(LayeredConfig.envName("kafka.bootstrap.servers")))
                    .as(name + " connects to the TLS listener")
                    .endsWith(":9093");
        }
    }

    @Test
    void onlyTheTrainerHoldsTheSigningKeyAndEveryInstanceVerifies() throws IOException {
        Map<String, Doc> docs = byName();
        for (Doc d : workloads(docs)) {
            PodSpec pod = KubernetesManifestsTest.podSpec(d);
            Container c = pod.getContainers().get(0);
            Map<String, String> s = settings(d, docs);
            boolean trainer = d.name().equals("duoguard-trainer");
            boolean mountsSigningKey = pod.getVolumes().stream()
                    .anyMatch(v -> v.getSecret() != null
                            && v.getSecret().getSecretName().equals(SIGNING_KEY_SECRET));
            assertThat(mountsSigningKey)
                    .as(d.name() + " mounts the signing key")
                    .isEqualTo(trainer);
            assertThat(s.get(LayeredConfig.envName("models.allow-unsigned")))
                    .as(d.name() + " refuses unsigned versions")
                    .isNotEqualToIgnoringCase("true");
            if (trainer) {
                Volume key = volumeAt(pod, c, Path.of(s.get("DUOGUARD_MODELS_SIGNING_KEY_FILE")));
                assertThat(key.getSecret().getSecretName()).isEqualTo(SIGNING_KEY_SECRET);
            } else if (d.kind().equals("StatefulSet")) {
                Volume keys = volumeAt(pod, c, Path.of(s.get(LayeredConfig.envName("models.trusted-keys"))));
                assertThat(keys.getSecret().getSecretName())
                        .as(d.name() + " verifies with the trusted public keys")
                        .isEqualTo(TRUSTED_KEYS_SECRET);
                assertThat(s.get(LayeredConfig.envName("models.artifact-roots")))
                        .isNotBlank();
            }
        }
    }

    static final Pattern SECRET_NAME = Pattern.compile("(?i).*(password|token|secret|jaas|private).*");

    @Test
    void noSecretIsALiteralValueAndEverySecretIsMountedReadOnly() throws IOException {
        Map<String, Doc> docs = byName();
        for (Doc d : workloads(docs)) {
            PodSpec pod = KubernetesManifestsTest.podSpec(d);
            Set<String> secretVolumes = pod.getVolumes().stream()
                    .filter(v -> v.getSecret() != null)
                    .map(Volume::getName)
                    .collect(Collectors.toSet());
            for (Container c : pod.getContainers()) {
                for (EnvVar e : c.getEnv() == null ? List.<EnvVar>of() : c.getEnv()) {
                    assertThat(e.getValue() != null
                                    && SECRET_NAME.matcher(e.getName()).matches()
                                    && !e.getName().endsWith("_FILE"))
                            .as(d.name() + " sets " + e.getName() + " to a literal: name a file instead")
                            .isFalse();
                }
                for (VolumeMount m : c.getVolumeMounts()) {
                    if (secretVolumes.contains(m.getName())) {
                        assertThat(m.getReadOnly())
                                .as(d.name() + " mounts " + m.getName())
                                .isTrue();
                    }
                }
            }
        }
        for (Doc d : docs.values()) {
            if (!d.kind().equals("ConfigMap")) {
                continue;
            }
            d.tree().path("data").properties().forEach(e -> {
                Set<String> keys = new TreeSet<>(Set.of(e.getKey()));
                if (e.getKey().endsWith(".properties")) {
                    Properties p = new Properties();
                    try {
                        p.load(new StringReader(e.getValue().asText()));
                    } catch (IOException ex) {
                        throw new IllegalStateException(ex);
                    }
                    keys.addAll(p.stringPropertyNames());
                }
                for (String k : keys) {
                    assertThat(SECRET_NAME.matcher(k).matches()
                                    && !k.toLowerCase(Locale.ROOT).endsWith("file"))
                            .as("ConfigMap " + d.name() + " holds " + k + ": a secret belongs in a Secret")
                            .isFalse();
                }
            });
        }
    }

    /**
     * Where the processes write: java.io.tmpdir (ONNX Runtime and RocksDB unpack their native libraries there), DJL's
     * cache (the tokenizers' and libtorch's natives), and each server's own state, home and artifact directories.
     */
    static final List<String> WRITTEN_BY_SERVERS =
            List.of("DUOGUARD_STATE_DIR", "DUOGUARD_TRAINER_HOME", "DUOGUARD_ARTIFACT_STORE");

    static final List<String> WRITTEN_BY_ALL = List.of("DJL_CACHE_DIR", "ENGINE_CACHE_DIR");

    @Test
    void everyPodRunsHardenedWithWritableVolumesWhereItWrites() throws IOException {
        Map<String, Doc> docs = byName();
        List<Doc> workloads = workloads(docs);
        assertThat(workloads).extracting(Doc::name).contains("duoguard-streams", "duoguard-trainer");
        for (Doc d : workloads) {
            PodSpec pod = KubernetesManifestsTest.podSpec(d);
            String at = d.kind() + "/" + d.name();
            assertThat(pod.getAutomountServiceAccountToken())
                    .as(at + " mounts no token")
                    .isFalse();
            PodSecurityContext psc = pod.getSecurityContext();
            assertThat(psc.getRunAsNonRoot()).as(at + " runs as non-root").isTrue();
            assertThat(psc.getRunAsUser()).as(at).isNotNull().isNotZero();
            assertThat(psc.getSeccompProfile().getType()).as(at + " seccomp").isEqualTo("RuntimeDefault");
            Set<String> writable = new HashSet<>();
            pod.getVolumes().stream()
                    .filter(v -> v.getEmptyDir() != null || v.getPersistentVolumeClaim() != null)
                    .forEach(v -> writable.add(v.getName()));
            d.tree()
                    .path("spec")
                    .path("volumeClaimTemplates")
                    .forEach(t -> writable.add(t.path("metadata").path("name").asText()));
            List<Container> containers = new ArrayList<>(pod.getContainers());
            if (pod.getInitContainers() != null) {
                containers.addAll(pod.getInitContainers());
            }
            Map<String, String> s = settings(d, docs);
            for (Container c : containers) {
                SecurityContext sc = c.getSecurityContext();
                String in = at + " container " + c.getName();
                assertThat(sc).as(in).isNotNull();
                assertThat(sc.getAllowPrivilegeEscalation()).as(in).isFalse();
                assertThat(sc.getPrivileged()).as(in).isNotEqualTo(Boolean.TRUE);
                assertThat(sc.getReadOnlyRootFilesystem())
                        .as(in + " read-only root")
                        .isTrue();
                assertThat(sc.getCapabilities().getDrop()).as(in).contains("ALL");
                assertThat(sc.getCapabilities().getAdd()).as(in).isNullOrEmpty();
                List<String> paths = new ArrayList<>(List.of("/tmp"));
                WRITTEN_BY_ALL.stream().filter(s::containsKey).map(s::get).forEach(paths::add);
                if (!d.kind().equals("Job")) {
                    WRITTEN_BY_SERVERS.stream()
                            .filter(s::containsKey)
                            .map(s::get)
                            .forEach(paths::add);
                }
                for (String p : paths) {
                    VolumeMount m = mountAt(c, Path.of(p));
                    assertThat(m != null && writable.contains(m.getName()) && !Boolean.TRUE.equals(m.getReadOnly()))
                            .as(in + " writes to " + p + ": a writable volume must be mounted there")
                            .isTrue();
                }
            }
        }
    }
}
