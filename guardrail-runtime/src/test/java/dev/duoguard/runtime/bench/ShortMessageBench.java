package dev.duoguard.runtime.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.duoguard.runtime.onnx.ExecutionDevice;
import dev.duoguard.runtime.scoring.GuardrailModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Measurement, not a check (no timed assertion): how fast bundles score short chat messages (4–20 words, en/fr/es/de)
 * through the scorer the streams app uses (GuardrailModel, ONNX Runtime on 2 threads, CPU): messages/s at batch 32 and
 * p50/p99 of one message per call. Several bundles are measured in one run, interleaved round by round (A B A B …)
 * so that a noisy, shared machine hurts them alike; report their ratio, not only the absolute numbers.
 *
 * <p>{@code ./mvnw -o -B -pl guardrail-runtime test -Dtest=ShortMessageBench -Dsurefire.failIfNoSpecifiedTests=false
 * -Dduoguard.bench=true -Dduoguard.bench.models=../models/default,/path/to/other-bundle}; writes
 * {@code target/bench/short-messages.json}.
 */
@EnabledIfSystemProperty(named = "duoguard.bench", matches = "true")
class ShortMessageBench {

    static final String[] EN = ("how do i get to the station tomorrow morning please tell me what the weather will be "
                    + "like and whether i should bring an umbrella or a coat for the trip with my friends")
            .split(" ");
    static final String[] FR = ("comment aller à la gare demain matin dis moi quel temps il fera et si je dois prendre "
                    + "un parapluie ou un manteau pour le voyage avec mes amis")
            .split(" ");
    static final String[] ES = ("cómo llego a la estación mañana por la mañana dime qué tiempo hará y si debo llevar "
                    + "un paraguas o un abrigo para el viaje con mis amigos")
            .split(" ");
    static final String[] DE = ("wie komme ich morgen früh zum bahnhof sag mir wie das wetter wird und ob ich einen "
                    + "schirm oder einen mantel für die reise mit meinen freunden brauche")
            .split(" ");

    @Test
    void shortMessagesPerSecondAndOneByOneLatency() throws Exception {
        List<Path> bundles = Arrays.stream(System.getProperty("duoguard.bench.models", "../models/default")
                        .split(","))
                .map(String::trim)
                .map(Path::of)
                .toList();
        List<String> messages = messages(3200, new Random(7));
        int rounds = 3;
        Map<Path, List<Double>> throughput = new LinkedHashMap<>();
        Map<Path, List<Double>> oneByOne = new LinkedHashMap<>();
        List<GuardrailModel> models = new ArrayList<>();
        try {
            for (Path b : bundles) {
                models.add(GuardrailModel.load(b, ExecutionDevice.CPU, 2, 32));
                throughput.put(b, new ArrayList<>());
                oneByOne.put(b, new ArrayList<>());
            }
            for (GuardrailModel m : models) { // warm-up
                for (int i = 0; i < 10; i++) {
                    m.score(messages.subList(i * 32, i * 32 + 32));
                    m.score(List.of(messages.get(i)));
                }
            }
            for (int r = 0; r < rounds; r++) {
                for (int k = 0; k < models.size(); k++) {
                    GuardrailModel m = models.get(k);
                    long start = System.nanoTime();
                    for (int i = 0; i + 32 <= messages.size(); i += 32) {
                        m.score(messages.subList(i, i + 32));
                    }
                    throughput.get(bundles.get(k)).add(messages.size() / ((System.nanoTime() - start) / 1e9));
                    for (int i = 0; i < 200; i++) {
                        long t = System.nanoTime();
                        m.score(List.of(messages.get(i)));
                        oneByOne.get(bundles.get(k)).add((System.nanoTime() - t) / 1e6);
                    }
                }
            }
        } finally {
            for (GuardrailModel m : models) {
                m.close();
            }
        }

        ObjectMapper json = new ObjectMapper();
        ObjectNode out = json.createObjectNode();
        out.put("messages", messages.size());
        out.put(
                "mean_words",
                messages.stream().mapToInt(s -> s.split(" ").length).average().orElse(0));
        out.put("rounds", rounds);
        out.put("cpus", Runtime.getRuntime().availableProcessors());
        ArrayNode rows = out.putArray("bundles");
        System.out.printf("%-40s %18s %12s %12s%n", "bundle", "msgs/s (batch 32)", "p50 ms (1)", "p99 ms (1)");
        double first = 0;
        for (Path b : bundles) {
            double best = throughput.get(b).stream()
                    .mapToDouble(Double::doubleValue)
                    .max()
                    .orElse(0);
            double median = median(throughput.get(b));
            double[] lat = oneByOne.get(b).stream()
                    .mapToDouble(Double::doubleValue)
                    .sorted()
                    .toArray();
            double p50 = lat[lat.length / 2];
            double p99 = lat[(int) Math.floor(lat.length * 0.99)];
            first = first == 0 ? median : first;
            System.out.printf("%-40s %10.0f (%5.2fx) %12.2f %12.2f%n", tail(b), median, median / first, p50, p99);
            ObjectNode row = rows.addObject();
            row.put("bundle", b.toAbsolutePath().normalize().toString());
            row.put("messages_per_s_batch32_median", median);
            row.put("messages_per_s_batch32_best", best);
            row.put("ratio_to_first", median / first);
            row.put("p50_ms_batch1", p50);
            row.put("p99_ms_batch1", p99);
        }
        Path file = Path.of("target/bench/short-messages.json");
        Files.createDirectories(file.getParent());
        json.writerWithDefaultPrettyPrinter().writeValue(file.toFile(), out);
        System.out.println("wrote " + file.toAbsolutePath());
    }

    static List<String> messages(int n, Random random) {
        String[][] languages = {EN, FR, ES, DE};
        List<String> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            String[] words = languages[i % languages.length];
            int len = 4 + random.nextInt(17);
            StringBuilder sb = new StringBuilder();
            int at = random.nextInt(words.length);
            for (int w = 0; w < len; w++) {
                sb.append(w == 0 ? "" : " ").append(words[(at + w) % words.length]);
            }
            out.add(sb.append(random.nextBoolean() ? "?" : ".").toString());
        }
        return out;
    }

    static double median(List<Double> values) {
        double[] v = values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return v[v.length / 2];
    }

    static String tail(Path p) {
        Path n = p.toAbsolutePath().normalize();
        return n.getNameCount() >= 2 ? n.getName(n.getNameCount() - 2) + "/" + n.getFileName() : n.toString();
    }
}
