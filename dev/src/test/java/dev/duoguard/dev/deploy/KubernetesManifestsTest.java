package dev.duoguard.dev.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.ValidationMessage;
import dev.duoguard.common.config.LayeredConfig;
import dev.duoguard.streams.config.AppConfig;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscalerBehavior;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.strimzi.api.kafka.model.topic.KafkaTopic;
import io.strimzi.api.kafka.model.user.KafkaUser;
import java.io.IOException;
import java.io.StringReader;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The manifests in {@code k8s/}, checked without a cluster: every document parses into its Kubernetes API type
 * (fabric8's model of the API, Strimzi's for KafkaTopic and KafkaUser) with no field the type does not have and no
 * value of the wrong type, KEDA's ScaledObject and TriggerAuthentication against transcriptions of their schemas; then what the product needs of them
 * (static membership, probes on the management port, resources, a GPU where promised, compacted models topic,
 * known config keys). Missing required fields are the API server's to report; this catches typos and drift.
 */
class KubernetesManifestsTest {

    static final Path K8S = DeploymentFilesTest.ROOT.resolve("k8s");
    static final String ADMIN_TOKEN_DIR = "/run/secrets/duoguard-admin";
    static final ObjectMapper YAML =
            new YAMLMapper(new YAMLFactory()).enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    static final Map<String, Class<?>> TYPES = Map.ofEntries(
            Map.entry("v1/ConfigMap", ConfigMap.class),
            Map.entry("v1/Secret", Secret.class),
            Map.entry("v1/Service", Service.class),
            Map.entry("v1/PersistentVolumeClaim", PersistentVolumeClaim.class),
            Map.entry("apps/v1/StatefulSet", StatefulSet.class),
            Map.entry("apps/v1/Deployment", Deployment.class),
            Map.entry("batch/v1/Job", Job.class),
            Map.entry("policy/v1/PodDisruptionBudget", PodDisruptionBudget.class),
            Map.entry("networking.k8s.io/v1/NetworkPolicy", NetworkPolicy.class),
            Map.entry("kafka.strimzi.io/v1beta2/KafkaTopic", KafkaTopic.class),
            Map.entry("kafka.strimzi.io/v1beta2/KafkaUser", KafkaUser.class));

    /** KEDA's kinds (KEDA ships no Java model): transcriptions of their schemas in src/test/resources/deploy. */
    static final Map<String, String> KEDA_SCHEMAS = Map.of(
            "keda.sh/v1alpha1/ScaledObject", "/deploy/keda-scaledobject-v1alpha1.schema.json",
            "keda.sh/v1alpha1/TriggerAuthentication", "/deploy/keda-triggerauthentication-v1alpha1.schema.json");

    record Doc(Path file, JsonNode tree, Object typed) {
        String kind() {
            return tree.path("kind").asText();
        }

        String name() {
            return tree.path("metadata").path("name").asText();
        }
    }

    static List<Doc> documents() throws IOException {
        List<Doc> out = new ArrayList<>();
        try (Stream<Path> files = Files.list(K8S)) {
            for (Path f :
                    files.filter(p -> p.toString().endsWith(".yaml")).sorted().toList()) {
                var parser = YAML.getFactory().createParser(Files.readString(f));
                for (JsonNode tree : YAML.readValues(parser, JsonNode.class).readAll()) {
                    if (tree != null && !tree.isEmpty()) {
                        out.add(new Doc(f, tree, null));
                    }
                }
            }
        }
        return out;
    }

    /** Names of fields the typed model did not know (fabric8 and Strimzi keep them in additionalProperties). */
    static void unknownFields(Object o, String path, List<String> errors) throws Exception {
        if (o == null
                || o instanceof String
                || o instanceof Number
                || o instanceof Boolean
                || o instanceof Quantity
                || o instanceof Enum<?>) {
            return;
        }
        if (o instanceof Map<?, ?> m) {
            for (Map.Entry<?, ?> e : m.entrySet()) {
                unknownFields(e.getValue(), path + "." + e.getKey(), errors);
            }
            return;
        }
        if (o instanceof Collection<?> c) {
            int i = 0;
            for (Object x : c) {
                unknownFields(x, path + "[" + i++ + "]", errors);
            }
            return;
        }
        String pkg = o.getClass().getPackageName();
        if (!pkg.startsWith("io.fabric8") && !pkg.startsWith("io.strimzi")) {
            return;
        }
        for (Method m : o.getClass().getMethods()) {
            if (m.getParameterCount() != 0
                    || !m.getName().startsWith("get")
                    || m.getDeclaringClass() == Object.class
                    || m.getName().equals("getClass")) {
                continue;
            }
            Object v = m.invoke(o);
            if (m.getName().equals("getAdditionalProperties")) {
                if (v instanceof Map<?, ?> extra && !extra.isEmpty()) {
                    errors.add(path + ": unknown field(s) " + extra.keySet());
                }
            } else {
                unknownFields(v, path + "." + m.getName().substring(3), errors);
            }
        }
    }

    static List<String> problems(Doc d) throws Exception {
        String key = d.tree().path("apiVersion").asText() + "/" + d.kind();
        List<String> errors = new ArrayList<>();
        if (KEDA_SCHEMAS.containsKey(key)) {
            JsonSchema schema = JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V7)
                    .getSchema(KubernetesManifestsTest.class.getResourceAsStream(KEDA_SCHEMAS.get(key)));
            for (ValidationMessage m : schema.validate(d.tree())) {
                errors.add(m.getMessage());
            }
            JsonNode behavior = d.tree()
                    .path("spec")
                    .path("advanced")
                    .path("horizontalPodAutoscalerConfig")
                    .path("behavior");
            if (!behavior.isMissingNode()) {
                unknownFields(YAML.treeToValue(behavior, HorizontalPodAutoscalerBehavior.class), "behavior", errors);
            }
            return errors;
        }
        Class<?> type = TYPES.get(key);
        if (type == null) {
            return List.of("no schema known for " + key + " (add its type to the check)");
        }
        try {
            unknownFields(YAML.treeToValue(d.tree(), type), d.kind(), errors);
        } catch (IOException e) {
            errors.add("does not parse as " + type.getSimpleName() + ": "
                    + e.getMessage().lines().findFirst().orElse(""));
        }
        return errors;
    }

    @Test
    void everyDocumentIsAValidKubernetesObject() throws Exception {
        List<Doc> docs = documents();
        assertThat(docs.stream().map(Doc::kind))
                .contains(
                        "StatefulSet",
                        "Deployment",
                        "Job",
                        "PodDisruptionBudget",
                        "ScaledObject",
                        "TriggerAuthentication",
                        "KafkaUser",
                        "Secret",
                        "ConfigMap",
                        "KafkaTopic",
                        "NetworkPolicy",
                        "Service",
                        "PersistentVolumeClaim");
        for (Doc d : docs) {
            assertThat(problems(d))
                    .as("%s %s in %s", d.kind(), d.name(), d.file().getFileName())
                    .isEmpty();
        }
    }

    @Test
    void theCheckRejectsATypoAWrongTypeAndAnUnknownKind() throws Exception {
        Doc sts = documents().stream()
                .filter(d -> d.kind().equals("StatefulSet"))
                .findFirst()
                .orElseThrow();
        ObjectNode typo = sts.tree().deepCopy();
        ((ObjectNode) typo.path("spec")).set("replica", typo.path("spec").path("replicas"));
        assertThat(problems(new Doc(sts.file(), typo, null))).anyMatch(p -> p.contains("replica"));

        ObjectNode wrongType = sts.tree().deepCopy();
        ((ObjectNode) wrongType.path("spec")).put("replicas", "three");
        assertThat(problems(new Doc(sts.file(), wrongType, null))).anyMatch(p -> p.contains("does not parse"));

        Doc keda = documents().stream()
                .filter(d -> d.kind().equals("ScaledObject"))
                .findFirst()
                .orElseThrow();
        ObjectNode kedaTypo = keda.tree().deepCopy();
        ((ObjectNode) kedaTypo.path("spec").path("triggers").get(0).path("metadata")).put("lagTreshold", "10");
        assertThat(problems(new Doc(keda.file(), kedaTypo, null))).isNotEmpty();

        ObjectNode unknown = sts.tree().deepCopy();
        unknown.put("kind", "StatefulSett");
        assertThat(problems(new Doc(sts.file(), unknown, null))).anyMatch(p -> p.contains("no schema"));
    }

    /** The kinds that run pods, each with its pod template at spec.template. */
    static final Set<String> WORKLOADS = Set.of("StatefulSet", "Deployment", "Job");

    /** The pod template's spec of a StatefulSet, Deployment or Job. */
    static PodSpec podSpec(Doc d) throws IOException {
        return YAML.treeToValue(d.tree().path("spec").path("template").path("spec"), PodSpec.class);
    }

    @Test
    void theWorkloadsHaveWhatTheProductNeeds() throws Exception {
        Map<String, Doc> byName = new HashMap<>();
        for (Doc d : documents()) {
            byName.put(d.kind() + "/" + d.name(), d);
        }
        for (String name : List.of(
                "StatefulSet/duoguard-streams", "StatefulSet/duoguard-streams-gpu", "Deployment/duoguard-trainer")) {
            Doc d = byName.get(name);
            assertThat(d).as(name).isNotNull();
            PodSpec pod = podSpec(d);
            Container c = pod.getContainers().get(0);
            assertThat(pod.getSecurityContext().getRunAsNonRoot())
                    .as(name + " runs as non-root")
                    .isTrue();
            assertThat(c.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/health/ready");
            assertThat(c.getLivenessProbe().getHttpGet().getPath()).isEqualTo("/health/live");
            assertThat(c.getResources().getRequests()).containsKeys("cpu", "memory");
            assertThat(c.getResources().getLimits()).containsKey("memory");
            boolean gpu = !name.equals("StatefulSet/duoguard-streams");
            assertThat(c.getResources().getLimits().containsKey("nvidia.com/gpu"))
                    .as(name + " GPU")
                    .isEqualTo(gpu);
            String tokenDir = pod.getVolumes().stream()
                    .filter(v -> v.getSecret() != null
                            && v.getSecret().getSecretName().equals("duoguard-admin-token"))
                    .flatMap(v ->
                            c.getVolumeMounts().stream().filter(m -> m.getName().equals(v.getName())))
                    .map(VolumeMount::getMountPath)
                    .findFirst()
                    .orElse("(not mounted)");
            assertThat(tokenDir)
                    .as(name + " mounts the admin token Secret where its config points")
                    .isEqualTo(ADMIN_TOKEN_DIR);
        }
        for (String name : List.of("StatefulSet/duoguard-streams", "StatefulSet/duoguard-streams-gpu")) {
            StatefulSet sts = YAML.treeToValue(byName.get(name).tree(), StatefulSet.class);
            Container c = sts.getSpec().getTemplate().getSpec().getContainers().get(0);
            assertThat(c.getEnv())
                    .as("static membership from the pod name")
                    .anyMatch(e -> e.getName().equals("DUOGUARD_STREAMS_GROUP_INSTANCE_ID")
                            && e.getValue().equals("$(POD_NAME)"));
            assertThat(sts.getSpec().getVolumeClaimTemplates())
                    .as("state on a PVC")
                    .isNotEmpty();
            assertThat(c.getVolumeMounts()).anyMatch(m -> m.getMountPath().equals("/artifacts"));
        }
        assertThat(byName).containsKeys("PodDisruptionBudget/duoguard-streams", "ScaledObject/duoguard-streams");
        KafkaTopic models =
                YAML.treeToValue(byName.get("KafkaTopic/guardrail.models").tree(), KafkaTopic.class);
        assertThat(models.getSpec().getConfig()).containsEntry("cleanup.policy", "compact");
    }

    @Test
    void theStreamsAppConfigMapSetsOnlyKeysTheAppReads() throws Exception {
        Doc cm = documents().stream()
                .filter(d -> d.kind().equals("ConfigMap") && d.name().equals("duoguard-streams"))
                .findFirst()
                .orElseThrow();
        Properties p = new Properties();
        p.load(new StringReader(cm.tree().path("data").path("app.properties").asText()));
        assertThat(p).isNotEmpty();
        assertThat(p)
                .as("the management port listens on the pod IP; its commands need the mounted token")
                .containsEntry("http.bind", "0.0.0.0")
                .containsEntry("http.admin-token.file", ADMIN_TOKEN_DIR + "/token");
        Doc trainer = documents().stream()
                .filter(d -> d.kind().equals("ConfigMap") && d.name().equals("duoguard-trainer"))
                .findFirst()
                .orElseThrow();
        assertThat(trainer.tree()
                        .path("data")
                        .path("DUOGUARD_TRAINER_HTTP_BIND")
                        .asText())
                .isEqualTo("0.0.0.0");
        assertThat(trainer.tree()
                        .path("data")
                        .path("DUOGUARD_TRAINER_HTTP_ADMIN_TOKEN_FILE")
                        .asText())
                .isEqualTo(ADMIN_TOKEN_DIR + "/token");
        Set<String> known = AppConfig.DEFAULTS.keySet();
        for (String k : p.stringPropertyNames()) {
            boolean open = k.startsWith("streams.")
                    ? DeploymentFilesTest.kafkaSetting(LayeredConfig.envName(k))
                    : AppConfig.OPEN_PREFIXES.stream().anyMatch(k::startsWith);
            assertThat(known.contains(k) || open)
                    .as("app.properties sets %s, which the app does not read", k)
                    .isTrue();
        }
    }
}
