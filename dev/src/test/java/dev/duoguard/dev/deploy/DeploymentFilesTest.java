package dev.duoguard.dev.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.common.config.LayeredConfig;
import dev.duoguard.streams.config.AppConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.streams.StreamsConfig;
import org.junit.jupiter.api.Test;

/**
 * Every DUOGUARD_* environment variable the deployment files set (docker-compose.yml, k8s/, Dockerfiles) is one
 * the apps read: a config key of the streams app (its env name), a Kafka Streams/consumer/producer setting passed
 * through DUOGUARD_STREAMS_*, or a name the apps' sources read literally (the trainer's options, the launcher's).
 * A typo would otherwise be ignored silently. Lives in the dev module because it sees both apps.
 */
class DeploymentFilesTest {

    static final Path ROOT = Path.of("..");
    static final Pattern ENV = Pattern.compile("DUOGUARD_[A-Z0-9_]+");

    static Set<String> found(Path file) throws IOException {
        Set<String> out = new TreeSet<>();
        Matcher m = ENV.matcher(Files.readString(file));
        while (m.find()) {
            out.add(m.group());
        }
        return out;
    }

    static List<Path> deploymentFiles() throws IOException {
        List<Path> files = new ArrayList<>(List.of(
                ROOT.resolve("docker-compose.yml"),
                ROOT.resolve("docker-compose.gpu.yml"),
                ROOT.resolve("docker-compose.secured.yml")));
        try (Stream<Path> k8s = Files.walk(ROOT.resolve("k8s"))) {
            k8s.filter(p -> p.toString().endsWith(".yaml") || p.toString().endsWith(".yml"))
                    .forEach(files::add);
        }
        for (String module : List.of("streams-app", "trainer")) {
            try (Stream<Path> docker = Files.list(ROOT.resolve(module))) {
                docker.filter(p -> p.getFileName().toString().startsWith("Dockerfile"))
                        .forEach(files::add);
            }
        }
        return files;
    }

    static Set<String> readByTheApps() throws IOException {
        Set<String> names = new HashSet<>();
        AppConfig.DEFAULTS.keySet().forEach(k -> names.add(LayeredConfig.envName(k)));
        try (Stream<Path> sources = Files.walk(ROOT)) {
            for (Path p : (Iterable<Path>) sources.filter(p ->
                    p.toString().contains("/src/main/java/") && p.toString().endsWith(".java"))::iterator) {
                names.addAll(found(p));
            }
        }
        names.addAll(found(ROOT.resolve("duoguard"))); // the launcher
        return names;
    }

    static boolean kafkaSetting(String env) {
        String prefix = LayeredConfig.envName("streams.");
        if (!env.startsWith(prefix)) {
            return false;
        }
        String key = env.substring(prefix.length()).toLowerCase(Locale.ROOT).replace('_', '.');
        return StreamsConfig.configDef().names().contains(key)
                || ConsumerConfig.configNames().contains(key)
                || ProducerConfig.configNames().contains(key);
    }

    @Test
    void everyEnvironmentVariableTheDeploymentFilesSetIsReadByAnApp() throws IOException {
        Set<String> known = readByTheApps();
        List<Path> files = deploymentFiles();
        assertThat(files).isNotEmpty();
        int checked = 0;
        for (Path f : files) {
            for (String env : found(f)) {
                checked++;
                assertThat(known.contains(env) || kafkaSetting(env))
                        .as("%s sets %s, which no app reads", f, env)
                        .isTrue();
            }
        }
        assertThat(checked).as("the files set DUOGUARD_* variables at all").isGreaterThan(3);
    }

    @Test
    void theCheckCatchesATypo() {
        assertThat(kafkaSetting(LayeredConfig.envName("streams.num.stream.threads")))
                .isTrue();
        assertThat(kafkaSetting("DUOGUARD_STREAMS_NUM_STREAM_THREDS")).isFalse();
        assertThat(kafkaSetting("DUOGUARD_STREAMS_GROUP_INSTANCE_ID"))
                .as("a consumer setting")
                .isTrue();
    }
}
