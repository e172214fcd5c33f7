package dev.duoguard.dev.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.dev.deploy.KubernetesSecurityTest.Acl;
import dev.duoguard.lifecycle.BundleSignature;
import io.strimzi.api.kafka.model.user.KafkaUser;
import java.io.IOException;
import java.io.InputStream;
import java.io.StringReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The secured compose profile ({@code docker-compose.secured.yml} and {@code compose/secured/}), checked without
 * Docker: it follows the Compose Specification (the GPU overlay applies to it too); the broker's only client
 * listeners are SASL_SSL and every client connects with SASL_SSL; no secret is an environment value; the trainer
 * signs and the streams apps verify; the init service grants the ACLs of {@code k8s/kafka-users.yaml}; and
 * {@code prepare.sh} makes stores, certificates and keys that the broker, the clients and the trainer accept.
 */
class SecuredComposeTest {

    static final Path ROOT = DeploymentFilesTest.ROOT;
    static final Path SECURED = ROOT.resolve("docker-compose.secured.yml");
    static final Path DIR = ROOT.resolve("compose/secured");
    static final Pattern SECRET_NAME = KubernetesSecurityTest.SECRET_NAME;

    @SuppressWarnings("unchecked")
    static Map<String, Map<String, Object>> services() throws IOException {
        return (Map<String, Map<String, Object>>)
                ComposeAndDockerfilesTest.load(SECURED).get("services");
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> env(Map<String, Object> service) {
        return (Map<String, Object>) service.getOrDefault("environment", Map.of());
    }

    /** Where each compose secret of {@code service} is mounted: /run/secrets/TARGET → secret name. */
    static Map<String, String> mountedSecrets(Map<String, Object> service) {
        Map<String, String> out = new TreeMap<>();
        for (Object s : (List<?>) service.getOrDefault("secrets", List.of())) {
            if (s instanceof Map<?, ?> m) {
                String source = String.valueOf(m.get("source"));
                out.put("/run/secrets/" + (m.get("target") == null ? source : m.get("target")), source);
            } else {
                out.put("/run/secrets/" + s, String.valueOf(s));
            }
        }
        return out;
    }

    /** The files the profile's secrets come from, by secret name. */
    @SuppressWarnings("unchecked")
    static Map<String, String> secretFiles() throws IOException {
        Map<String, String> out = new TreeMap<>();
        ((Map<String, Map<String, Object>>)
                        ComposeAndDockerfilesTest.load(SECURED).get("secrets"))
                .forEach((name, spec) -> out.put(name, String.valueOf(spec.get("file"))));
        return out;
    }

    static Properties brokerProperties() throws IOException {
        String script = Files.readString(DIR.resolve("kafka-start.sh"));
        Matcher m = Pattern.compile("(?s)cat > \"\\$conf\" <<PROPERTIES\n(.*?)\nPROPERTIES")
                .matcher(script);
        assertThat(m.find()).as("kafka-start.sh writes server.properties").isTrue();
        Properties p = new Properties();
        p.load(new StringReader(m.group(1)));
        return p;
    }

    @Test
    void theSecuredProfileFollowsTheComposeSpecification() throws IOException {
        Map<String, Object> secured = ComposeAndDockerfilesTest.load(SECURED);
        assertThat(ComposeAndDockerfilesTest.problems(secured, null)).isEmpty();
        assertThat(ComposeAndDockerfilesTest.problems(
                        ComposeAndDockerfilesTest.load(ROOT.resolve("docker-compose.gpu.yml")), secured))
                .as("the GPU overlay applies to the secured profile")
                .isEmpty();
        Map<String, Map<String, Object>> services = services();
        assertThat(services)
                .containsKeys("kafka", "kafka-init", "registry", "schemas", "streams-a", "streams-b", "trainer");
        Map<String, String> files = secretFiles();
        services.forEach((name, s) -> {
            assertThat(files)
                    .as(name + "'s secrets are declared")
                    .containsKeys(mountedSecrets(s).values().toArray(String[]::new));
            assertThat((List<?>) s.getOrDefault("ports", List.of()))
                    .as(name + " publishes on the host's loopback only")
                    .allMatch(p -> String.valueOf(p).startsWith("127.0.0.1:"));
        });
        assertThat(files.values())
                .as("every secret comes from the git-ignored folder prepare.sh fills")
                .allMatch(f -> f.startsWith("./compose/secured/secrets/"));
        assertThat(Files.readAllLines(ROOT.resolve(".gitignore"))).contains("compose/secured/secrets/");
        for (String app : List.of("streams-a", "streams-b", "trainer", "schemas")) {
            Map<String, Object> s = services.get(app);
            assertThat(s.get("read_only")).as(app + " read-only root").isEqualTo(true);
            assertThat(String.valueOf(s.get("cap_drop"))).as(app).isEqualTo("[ALL]");
            assertThat(String.valueOf(s.get("security_opt"))).as(app).contains("no-new-privileges:true");
            assertThat(String.valueOf(s.get("tmpfs")))
                    .as(app + ": native libraries are loaded from /tmp")
                    .contains("/tmp:exec");
        }
    }

    @Test
    void noServiceReachesTheBrokerWithoutSaslSsl() throws IOException {
        Properties broker = brokerProperties();
        Map<String, String> protocols = new HashMap<>();
        for (String entry : broker.getProperty("listener.security.protocol.map").split(",")) {
            String[] kv = entry.split(":");
            protocols.put(kv[0], kv[1]);
        }
        Set<String> controller =
                Set.of(broker.getProperty("controller.listener.names").split(","));
        for (String listener : broker.getProperty("listeners").split(",")) {
            String name = listener.substring(0, listener.indexOf(':'));
            if (controller.contains(name)) {
                assertThat(listener)
                        .as("the controller listener is on the container's loopback")
                        .contains("://localhost:");
            } else {
                assertThat(protocols.get(name)).as("client listener " + name).isEqualTo("SASL_SSL");
            }
        }
        for (String advertised : broker.getProperty("advertised.listeners").split(",")) {
            String name = advertised.substring(0, advertised.indexOf(':'));
            assertThat(protocols.get(name)).as("advertised " + advertised).isEqualTo("SASL_SSL");
        }
        assertThat(broker)
                .containsEntry("allow.everyone.if.no.acl.found", "false")
                .containsEntry("sasl.enabled.mechanisms", "SCRAM-SHA-512")
                .containsKey("authorizer.class.name");

        Map<String, Map<String, Object>> services = services();
        int clients = 0;
        for (var e : services.entrySet()) {
            Map<String, Object> env = env(e.getValue());
            if (env.containsKey("DUOGUARD_KAFKA_BOOTSTRAP_SERVERS")) {
                clients++;
                assertThat(env)
                        .as(e.getKey())
                        .containsEntry("DUOGUARD_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
                        .containsEntry("DUOGUARD_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512");
                String user = String.valueOf(env.get("DUOGUARD_KAFKA_SASL_USERNAME"));
                assertThat(mountedSecrets(e.getValue()))
                        .as(e.getKey() + " reads its own user's password from a mounted secret")
                        .containsEntry(
                                String.valueOf(env.get("DUOGUARD_KAFKA_SASL_PASSWORD_FILE")),
                                "kafka-" + user + "-password");
                assertThat(mountedSecrets(e.getValue()))
                        .containsKey(String.valueOf(env.get("DUOGUARD_KAFKA_SSL_TRUSTSTORE_LOCATION")));
            }
            String text = String.valueOf(e.getValue());
            assertThat(text).as(e.getKey()).doesNotContain("PLAINTEXT");
            if (text.contains("--bootstrap-server")) {
                assertThat(text)
                        .as(e.getKey() + "'s Kafka tools connect with the admin's SASL_SSL settings")
                        .contains("--command-config");
            }
        }
        assertThat(clients).isGreaterThanOrEqualTo(3);
        assertThat(String.valueOf(services.get("kafka-init").get("command"))).contains("security.protocol=SASL_SSL");
        assertThat(Files.readString(DIR.resolve("kafka-start.sh")))
                .contains("security.protocol=SASL_SSL")
                .doesNotContain("security.protocol=PLAINTEXT");
    }

    @Test
    void noSecretIsAnEnvironmentValue() throws IOException {
        services().forEach((name, s) -> {
            Map<String, String> mounted = mountedSecrets(s);
            env(s).forEach((key, value) -> {
                if (SECRET_NAME.matcher(key).matches()) {
                    assertThat(key)
                            .as(name + " sets " + key + ": name a file instead")
                            .endsWith("_FILE");
                    assertThat(mounted)
                            .as(name + "'s " + key + " names a mounted secret")
                            .containsKey(String.valueOf(value));
                }
                assertThat(String.valueOf(value))
                        .as(name + "'s " + key + " takes nothing from the host's environment but paths")
                        .doesNotContainPattern("\\$\\{(?!TRAINING_DATA_DIR)");
            });
        });
    }

    static final Pattern SECRET_PATH = Pattern.compile("/run/secrets/([\\w.-]+)");

    /** The secret files a service reads: /run/secrets paths in its definition, and in the broker's start script. */
    static Set<String> secretPathsRead(String service, Map<String, Object> definition) throws IOException {
        Set<String> paths = new TreeSet<>();
        SECRET_PATH.matcher(String.valueOf(definition)).results().forEach(m -> paths.add(m.group()));
        if (service.equals("kafka")) {
            Path script = DIR.resolve("kafka-start.sh");
            String text = Files.readString(script);
            assertThat(text).contains("s=/run/secrets\n");
            List<String> users = bashArray(script, "users");
            Pattern.compile("\\$s/([\\w.$-]+)").matcher(text).results().forEach(m -> {
                for (String u : users) {
                    paths.add("/run/secrets/" + m.group(1).replace("$u", u));
                }
            });
        }
        return paths;
    }

    @Test
    void everySecretAServiceReadsIsMountedInIt() throws IOException {
        services().forEach((name, s) -> {
            try {
                assertThat(mountedSecrets(s).keySet())
                        .as(name + " mounts the secret files it reads")
                        .containsAll(secretPathsRead(name, s));
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        });
        assertThat(secretPathsRead("kafka", services().get("kafka")))
                .contains("/run/secrets/kafka-duoguard-feedback-password", "/run/secrets/ca-cert");
    }

    @Test
    void theTrainerSignsAndTheStreamsAppsVerify() throws IOException {
        Map<String, Map<String, Object>> services = services();
        Map<String, String> files = secretFiles();
        Map<String, String> trainerSecrets = mountedSecrets(services.get("trainer"));
        String key = String.valueOf(env(services.get("trainer")).get("DUOGUARD_MODELS_SIGNING_KEY_FILE"));
        assertThat(key).endsWith(".key");
        assertThat(files.get(trainerSecrets.get(key))).endsWith("/duoguard.key");
        String pub = key.substring(0, key.length() - 4) + ".pub";
        assertThat(files.get(trainerSecrets.get(pub)))
                .as("the public key sits beside the private key")
                .endsWith("/duoguard.pub");
        services.forEach((name, s) -> assertThat(mountedSecrets(s).containsValue(trainerSecrets.get(key)))
                .as(name + " holds the signing key")
                .isEqualTo(name.equals("trainer")));
        for (String app : List.of("streams-a", "streams-b")) {
            Map<String, Object> env = env(services.get(app));
            assertThat(env).containsEntry("DUOGUARD_MODELS_ALLOW_UNSIGNED", "false");
            String trusted = String.valueOf(env.get("DUOGUARD_MODELS_TRUSTED_KEYS"));
            assertThat(files.get(mountedSecrets(services.get(app)).get(trusted)))
                    .endsWith("/duoguard.pub");
            assertThat(env).containsKey("DUOGUARD_MODELS_ARTIFACT_ROOTS");
            assertThat(mountedSecrets(services.get(app)))
                    .containsKey(String.valueOf(env.get("DUOGUARD_HTTP_ADMIN_TOKEN_FILE")));
        }
    }

    /** The grants of kafka-init's {@code acl USER RESOURCE NAME PATTERN OPS} lines, by user, in Strimzi's terms. */
    static Map<String, Set<Acl>> composeAcls() throws IOException {
        String command = String.valueOf(services().get("kafka-init").get("command"));
        Matcher m = Pattern.compile(
                        "(?m)^\\s*acl (\\S+) (topic|group|transactional-id) (\\S+) (literal|prefixed) (\\S+)$")
                .matcher(command);
        Map<String, Set<Acl>> out = new TreeMap<>();
        while (m.find()) {
            String type = m.group(2).equals("transactional-id") ? "transactionalId" : m.group(2);
            String pattern = m.group(4).equals("prefixed") ? "prefix" : "literal";
            for (String op : m.group(5).split(",")) {
                out.computeIfAbsent(m.group(1), u -> new TreeSet<>()).add(new Acl(type, m.group(3), pattern, op));
            }
        }
        return out;
    }

    static List<String> bashArray(Path script, String name) throws IOException {
        Matcher m = Pattern.compile("(?m)^\\s*" + name + "=\\(([^)]*)\\)").matcher(Files.readString(script));
        assertThat(m.find()).as(script + " defines " + name).isTrue();
        return List.of(m.group(1).trim().split("\\s+"));
    }

    @Test
    void theInitServiceGrantsWhatTheKafkaUsersOfKubernetesGrant() throws IOException {
        Map<String, Set<Acl>> compose = composeAcls();
        Map<String, KafkaUser> k8s = KubernetesSecurityTest.kafkaUsers(KubernetesSecurityTest.byName());
        assertThat(compose).containsKeys("duoguard-streams", "duoguard-trainer", "duoguard-feedback");
        compose.forEach((user, acls) -> assertThat(acls)
                .as(user + " as in k8s/kafka-users.yaml")
                .isEqualTo(KubernetesSecurityTest.acls(k8s.get(user))));

        List<String> users = bashArray(DIR.resolve("prepare.sh"), "kafka_users");
        assertThat(bashArray(DIR.resolve("kafka-start.sh"), "users"))
                .as("the broker creates the users prepare.sh made passwords for")
                .isEqualTo(users);
        assertThat(users).contains("admin").containsAll(compose.keySet());
        Set<String> declared = secretFiles().keySet();
        for (String u : users) {
            assertThat(declared).contains("kafka-" + u + "-password");
        }
    }

    /** Runs prepare.sh into {@code out}; false where keytool or openssl is missing (the test then says so). */
    static boolean prepare(Path out) throws Exception {
        for (String tool : List.of("keytool", "openssl")) {
            if (ComposeAndDockerfilesTest.run(tool, "-help") == -1) {
                return false;
            }
        }
        Process p = new ProcessBuilder("bash", DIR.resolve("prepare.sh").toString(), out.toString())
                .redirectErrorStream(true)
                .start();
        String output = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(output).isZero();
        return true;
    }

    @Test
    void prepareMakesWhatTheBrokerTheClientsAndTheTrainerAccept(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("secrets");
        Assumptions.assumeTrue(prepare(out), "keytool or openssl is not installed here: prepare.sh not run");
        for (String file : secretFiles().values()) {
            assertThat(out.resolve(Path.of(file).getFileName())).as(file).isRegularFile();
        }
        CertificateFactory x509 = CertificateFactory.getInstance("X.509");
        X509Certificate ca;
        try (InputStream in = Files.newInputStream(out.resolve("ca.crt"))) {
            ca = (X509Certificate) x509.generateCertificate(in);
        }
        KeyStore broker = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(out.resolve("kafka-keystore.p12"))) {
            broker.load(
                    in, Files.readString(out.resolve("kafka-keystore.password")).toCharArray());
        }
        X509Certificate cert = (X509Certificate) broker.getCertificate("kafka");
        cert.verify(ca.getPublicKey());
        List<String> names = cert.getSubjectAlternativeNames().stream()
                .map(n -> String.valueOf(n.get(1)))
                .collect(Collectors.toList());
        assertThat(names)
                .as("the names the clients connect to (hostname verification is on)")
                .contains("kafka", "localhost");
        try (InputStream in = Files.newInputStream(out.resolve("registry.crt"))) {
            X509Certificate registry = (X509Certificate) x509.generateCertificate(in);
            registry.verify(ca.getPublicKey());
        }
        assertThat(Files.readString(out.resolve("registry.key"))).startsWith("-----BEGIN PRIVATE KEY-----");

        BundleSignature.Signer signer = BundleSignature.Signer.load(out.resolve("duoguard.key"));
        assertThat(BundleSignature.trustedKeys(List.of(out.resolve("duoguard.pub"))))
                .as("the streams apps trust what the trainer signs with")
                .containsKey(signer.keyId());

        Map<Path, byte[]> before = new TreeMap<>();
        try (var files = Files.list(out)) {
            for (Path f : files.toList()) {
                before.put(f.getFileName(), Files.readAllBytes(f));
            }
        }
        assertThat(prepare(out)).isTrue();
        List<Path> changed = new ArrayList<>();
        for (var e : before.entrySet()) {
            if (!Arrays.equals(e.getValue(), Files.readAllBytes(out.resolve(e.getKey())))) {
                changed.add(e.getKey());
            }
        }
        assertThat(changed)
                .as("a second run keeps every secret (the broker stored the first ones)")
                .isEmpty();
    }
}
