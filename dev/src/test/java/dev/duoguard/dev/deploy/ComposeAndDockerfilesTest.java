package dev.duoguard.dev.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;

/**
 * {@code docker-compose.yml} (and its GPU override) and the Dockerfiles, checked without a Docker engine or the
 * compose CLI (neither exists where CI runs): the YAML loads with anchors and merge keys resolved as compose
 * resolves them; every top-level, service and healthcheck key is one the Compose Specification defines; every
 * build points at a Dockerfile that exists; every dependency names a service, with a valid condition, and a
 * service_healthy one has a healthcheck; named volumes are declared; ports parse. Each Dockerfile is multi-stage,
 * ends as a non-root user, and copies only paths that exist.
 */
class ComposeAndDockerfilesTest {

    static final Path ROOT = DeploymentFilesTest.ROOT;

    static final Set<String> TOP_LEVEL =
            Set.of("version", "name", "services", "networks", "volumes", "configs", "secrets", "include", "models");
    /** The service attributes of the Compose Specification. */
    static final Set<String> SERVICE_KEYS = Set.of(
            "annotations",
            "attach",
            "blkio_config",
            "build",
            "cap_add",
            "cap_drop",
            "cgroup",
            "cgroup_parent",
            "command",
            "configs",
            "container_name",
            "cpu_count",
            "cpu_percent",
            "cpu_period",
            "cpu_quota",
            "cpu_rt_period",
            "cpu_rt_runtime",
            "cpu_shares",
            "cpus",
            "cpuset",
            "credential_spec",
            "depends_on",
            "deploy",
            "develop",
            "device_cgroup_rules",
            "devices",
            "dns",
            "dns_opt",
            "dns_search",
            "domainname",
            "entrypoint",
            "env_file",
            "environment",
            "expose",
            "extends",
            "external_links",
            "extra_hosts",
            "gpus",
            "group_add",
            "healthcheck",
            "hostname",
            "image",
            "init",
            "ipc",
            "isolation",
            "labels",
            "links",
            "logging",
            "mac_address",
            "mem_limit",
            "mem_reservation",
            "mem_swappiness",
            "memswap_limit",
            "network_mode",
            "networks",
            "oom_kill_disable",
            "oom_score_adj",
            "pid",
            "pids_limit",
            "platform",
            "ports",
            "post_start",
            "pre_stop",
            "privileged",
            "profiles",
            "pull_policy",
            "read_only",
            "restart",
            "runtime",
            "scale",
            "secrets",
            "security_opt",
            "shm_size",
            "stdin_open",
            "stop_grace_period",
            "stop_signal",
            "storage_opt",
            "sysctls",
            "tmpfs",
            "tty",
            "ulimits",
            "user",
            "userns_mode",
            "uts",
            "volumes",
            "volumes_from",
            "working_dir");

    static final Set<String> HEALTHCHECK_KEYS =
            Set.of("test", "interval", "timeout", "retries", "start_period", "start_interval", "disable");
    static final Set<String> BUILD_KEYS = Set.of(
            "context",
            "dockerfile",
            "dockerfile_inline",
            "args",
            "ssh",
            "cache_from",
            "cache_to",
            "additional_contexts",
            "entitlements",
            "extra_hosts",
            "isolation",
            "labels",
            "network",
            "no_cache",
            "platforms",
            "privileged",
            "pull",
            "secrets",
            "shm_size",
            "tags",
            "target",
            "ulimits");
    static final Set<String> CONDITIONS =
            Set.of("service_started", "service_healthy", "service_completed_successfully");
    /** [host IP:][host port(s):]container port(s)[/protocol] */
    static final Pattern PORT =
            Pattern.compile("^((\\d{1,3}\\.){3}\\d{1,3}:)?(\\d{1,5}(-\\d{1,5})?:)?\\d{1,5}(-\\d{1,5})?(/(tcp|udp))?$");

    @SuppressWarnings("unchecked")
    static Map<String, Object> load(Path f) throws IOException {
        return (Map<String, Object>) new Yaml().load(Files.readString(f));
    }

    @SuppressWarnings("unchecked")
    static List<String> problems(Map<String, Object> compose, Map<String, Object> base) {
        List<String> errors = new ArrayList<>();
        for (String k : compose.keySet()) {
            if (!TOP_LEVEL.contains(k) && !k.startsWith("x-")) {
                errors.add("top-level key '" + k + "' is not in the Compose Specification");
            }
        }
        Map<String, Object> services = (Map<String, Object>) compose.getOrDefault("services", Map.of());
        Map<String, Object> allServices = base == null ? services : (Map<String, Object>) base.get("services");
        Map<String, Object> volumes =
                (Map<String, Object>) (base == null ? compose : base).getOrDefault("volumes", Map.of());
        services.forEach((name, raw) -> {
            Map<String, Object> s = (Map<String, Object>) raw;
            String at = "service " + name + ": ";
            if (base != null && !allServices.containsKey(name)) {
                errors.add(at + "the override names a service the base file does not define");
            }
            s.keySet().stream()
                    .filter(k -> !SERVICE_KEYS.contains(k))
                    .forEach(k -> errors.add(at + "unknown key '" + k + "'"));
            if (base == null && !s.containsKey("image") && !s.containsKey("build")) {
                errors.add(at + "neither image nor build");
            }
            if (s.get("build") instanceof Map<?, ?> build) {
                build.keySet().stream()
                        .filter(k -> !BUILD_KEYS.contains(k))
                        .forEach(k -> errors.add(at + "unknown build key '" + k + "'"));
                Path context = ROOT.resolve(String.valueOf(build.get("context") == null ? "." : build.get("context")));
                Path dockerfile = context.resolve(
                        String.valueOf(build.get("dockerfile") == null ? "Dockerfile" : build.get("dockerfile")));
                if (!Files.isRegularFile(dockerfile)) {
                    errors.add(at + "Dockerfile " + dockerfile + " does not exist");
                }
            }
            if (s.get("healthcheck") instanceof Map<?, ?> hc) {
                hc.keySet().stream()
                        .filter(k -> !HEALTHCHECK_KEYS.contains(k))
                        .forEach(k -> errors.add(at + "unknown healthcheck key '" + k + "'"));
            }
            Object deps = s.get("depends_on");
            if (deps instanceof List<?> list) {
                list.forEach(d -> {
                    if (!allServices.containsKey(String.valueOf(d))) {
                        errors.add(at + "depends on unknown service " + d);
                    }
                });
            } else if (deps instanceof Map<?, ?> map) {
                map.forEach((d, spec) -> {
                    if (!allServices.containsKey(String.valueOf(d))) {
                        errors.add(at + "depends on unknown service " + d);
                        return;
                    }
                    Object condition = spec instanceof Map<?, ?> m ? m.get("condition") : null;
                    if (condition != null && !CONDITIONS.contains(String.valueOf(condition))) {
                        errors.add(at + "unknown depends_on condition " + condition);
                    }
                    if ("service_healthy".equals(condition)
                            && !((Map<String, Object>) allServices.get(String.valueOf(d))).containsKey("healthcheck")) {
                        errors.add(at + "waits for " + d + " to be healthy, but " + d + " has no healthcheck");
                    }
                });
            }
            if (s.get("environment") instanceof Map<?, ?> env) {
                env.forEach((k, v) -> {
                    if (v instanceof Map || v instanceof List) {
                        errors.add(at + "environment " + k + " is not a scalar");
                    }
                });
            }
            for (Object p : (List<Object>) s.getOrDefault("ports", List.of())) {
                if (!PORT.matcher(String.valueOf(p)).matches()) {
                    errors.add(at + "port '" + p + "' does not parse");
                }
            }
            for (Object v : (List<Object>) s.getOrDefault("volumes", List.of())) {
                String source = String.valueOf(v).split(":")[0];
                boolean named = !source.startsWith(".")
                        && !source.startsWith("/")
                        && !source.startsWith("$")
                        && !source.startsWith("~");
                if (String.valueOf(v).contains(":") && named && !volumes.containsKey(source)) {
                    errors.add(at + "named volume " + source + " is not declared");
                }
            }
            Object restart = s.get("restart");
            if (restart != null && !String.valueOf(restart).matches("no|always|unless-stopped|on-failure(:\\d+)?")) {
                errors.add(at + "restart '" + restart + "' is not a restart policy");
            }
        });
        return errors;
    }

    @Test
    void theComposeFilesFollowTheComposeSpecification() throws IOException {
        Map<String, Object> compose = load(ROOT.resolve("docker-compose.yml"));
        assertThat(problems(compose, null)).isEmpty();
        assertThat(problems(load(ROOT.resolve("docker-compose.gpu.yml")), compose))
                .isEmpty();

        @SuppressWarnings("unchecked")
        Map<String, Map<String, Object>> services = (Map<String, Map<String, Object>>) compose.get("services");
        assertThat(services).containsKeys("kafka", "registry", "topics", "streams-a", "streams-b", "trainer");
        assertThat(String.valueOf(services.get("kafka").get("image"))).startsWith("apache/kafka:");
        assertThat(String.valueOf(services.get("topics").get("command")))
                .contains("guardrail.models")
                .contains("cleanup.policy=compact");
        for (String s : List.of("streams-a", "streams-b", "trainer")) {
            assertThat(String.valueOf(services.get(s).get("volumes")))
                    .as(s + " shares the artifact volume")
                    .contains("artifacts:/artifacts");
        }
        services.forEach((name, s) -> assertThat((List<?>) s.getOrDefault("ports", List.of()))
                .as(name + " publishes its ports on the host's loopback only")
                .allMatch(p -> String.valueOf(p).startsWith("127.0.0.1:")));
        @SuppressWarnings("unchecked")
        Map<String, Object> a = (Map<String, Object>) services.get("streams-a").get("environment");
        assertThat(a)
                .as("anchors and merge keys resolved")
                .containsKeys("DUOGUARD_KAFKA_BOOTSTRAP_SERVERS", "DUOGUARD_STREAMS_GROUP_INSTANCE_ID");
    }

    @Test
    void theComposeCheckCatchesMistakes() throws IOException {
        Map<String, Object> compose = load(ROOT.resolve("docker-compose.yml"));
        @SuppressWarnings("unchecked")
        Map<String, Map<String, Object>> services = (Map<String, Map<String, Object>>) compose.get("services");
        services.get("trainer").put("enviroment", Map.of());
        services.get("streams-a").put("depends_on", Map.of("kafak", Map.of("condition", "service_healthy")));
        services.get("streams-b").put("ports", List.of("80:80:80"));
        assertThat(problems(compose, null)).hasSize(3);
    }

    @Test
    void dockerComposeConfigAcceptsTheFilesWhereTheComposeCliExists() throws Exception {
        Assumptions.assumeTrue(
                run("docker", "compose", "version") == 0,
                "the docker compose CLI is not installed here (CI has none): the Compose Specification check above "
                        + "stands in for it");
        assertThat(run(
                        "docker",
                        "compose",
                        "-f",
                        "docker-compose.yml",
                        "-f",
                        "docker-compose.gpu.yml",
                        "config",
                        "--quiet"))
                .isZero();
        assertThat(run(
                        "docker",
                        "compose",
                        "-f",
                        "docker-compose.secured.yml",
                        "-f",
                        "docker-compose.gpu.yml",
                        "config",
                        "--quiet"))
                .isZero();
    }

    static int run(String... command) throws Exception {
        try {
            Process p = new ProcessBuilder(command)
                    .directory(ROOT.toFile())
                    .inheritIO()
                    .start();
            return p.waitFor();
        } catch (IOException e) {
            return -1; // not installed
        }
    }

    static List<Path> dockerfiles() throws IOException {
        List<Path> out = new ArrayList<>();
        for (String module : List.of("streams-app", "trainer")) {
            try (var files = Files.list(ROOT.resolve(module))) {
                files.filter(p -> p.getFileName().toString().startsWith("Dockerfile"))
                        .forEach(out::add);
            }
        }
        return out;
    }

    /** The reactor's modules, from the root POM. */
    static List<String> modules() throws IOException {
        return Pattern.compile("<module>([^<]+)</module>")
                .matcher(Files.readString(ROOT.resolve("pom.xml")))
                .results()
                .map(m -> m.group(1))
                .toList();
    }

    /**
     * The modules a Dockerfile's build stage does not copy: Maven reads every module of the reactor, even under
     * {@code -pl}, so each needs at least its POM in the image (its sources when the image's module depends on it).
     */
    static List<String> modulesNotCopied(String dockerfile, List<String> modules) {
        return modules.stream()
                .filter(m -> !Pattern.compile("(?m)^COPY " + Pattern.quote(m) + "/(pom\\.xml)? ")
                        .matcher(dockerfile)
                        .find())
                .toList();
    }

    @Test
    void dockerfilesCopyEveryModuleOfTheReactor() throws IOException {
        List<String> modules = modules();
        assertThat(modules).contains("common", "model-lifecycle", "streams-app", "trainer", "dev");
        for (Path f : dockerfiles()) {
            assertThat(modulesNotCopied(Files.readString(f), modules))
                    .as(f + " copies every module")
                    .isEmpty();
        }
        String planted =
                Files.readString(ROOT.resolve("trainer/Dockerfile")).replace("COPY dev/pom.xml dev/pom.xml\n", "");
        assertThat(modulesNotCopied(planted, modules))
                .as("the check catches a missing module")
                .containsExactly("dev");
    }

    @Test
    void dockerfilesAreMultiStageNonRootAndCopyWhatExists() throws IOException {
        List<Path> files = dockerfiles();
        assertThat(files)
                .extracting(p -> ROOT.relativize(p).toString().replace('\\', '/'))
                .contains(
                        "streams-app/Dockerfile",
                        "streams-app/Dockerfile.gpu",
                        "trainer/Dockerfile",
                        "trainer/Dockerfile.gpu");
        Pattern copy = Pattern.compile("(?m)^COPY (?!--from)(\\S+) ");
        for (Path f : files) {
            String text = Files.readString(f);
            assertThat(Pattern.compile("(?m)^FROM ").matcher(text).results().count())
                    .as(f + " is multi-stage")
                    .isGreaterThanOrEqualTo(2);
            List<String> users = Pattern.compile("(?m)^USER (\\S+)")
                    .matcher(text)
                    .results()
                    .map(m -> m.group(1))
                    .toList();
            assertThat(users).as(f + " ends as a non-root user").isNotEmpty();
            assertThat(users.get(users.size() - 1)).isNotIn("root", "0");
            Matcher m = copy.matcher(text);
            while (m.find()) {
                assertThat(ROOT.resolve(m.group(1)))
                        .as(f + " copies " + m.group(1))
                        .exists();
            }
            if (f.getFileName().toString().endsWith(".gpu")) {
                assertThat(text)
                        .as(f + " runs on a CUDA runtime image")
                        .contains("FROM nvidia/cuda:")
                        .contains("-Pgpu");
            }
        }
    }
}
