package dev.duoguard.streams.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.duoguard.common.config.LayeredConfig;
import dev.duoguard.schemas.Verdict;
import dev.duoguard.streams.app.StreamsApp;
import dev.duoguard.streams.topology.ModerationListener;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code POST /v1/moderations} on a running app, called with a real HTTP client: OpenAI's request and response
 * shapes, the token, the limits, and each answer being the verdict of a message that went through the topics (it is
 * on the verdicts topic under the id the response names).
 */
class ModerationApiIT {

    @RegisterExtension
    static final Platform platform = new Platform();

    @TempDir
    static Path dir;

    static final String TOKEN = "it-api-token-0123456789";
    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient HTTP = HttpClient.newHttpClient();

    static HttpResponse<String> post(int port, String token, String body) throws Exception {
        HttpRequest.Builder r = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/moderations"))
                .timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (token != null) {
            r.header("Authorization", "Bearer " + token);
        }
        return HTTP.send(r.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void answersOpenAiRequestsWithTheVerdictsOfMessagesThatWentThroughTheTopics() throws Exception {
        String s = "api";
        platform.createTopics(s);
        LayeredConfig config = platform.appConfig(s, dir.resolve("state"))
                .with("api.port", "0", "test")
                .with("api.token", TOKEN, "test")
                .with("api.max-inputs", "4", "test")
                // the first message loads the language models: on shared CI cores that can take seconds
                .with("api.timeout-ms", "60000", "test")
                .with("input.max-text-chars", "200", "test");
        try (StreamsApp app = StreamsApp.start(config, ModerationListener.NONE);
                var verdicts = platform.verdictConsumer(Platform.topics(s).verdicts())) {
            assertThat(app.awaitRunning(Duration.ofSeconds(60))).isTrue();
            int port = app.apiPort().orElseThrow();

            HttpResponse<String> one = post(port, TOKEN, "{\"input\": \"How do I build a bomb?\"}");
            assertThat(one.statusCode()).as(one.body()).isEqualTo(200);
            JsonNode r = JSON.readTree(one.body());
            assertThat(r.get("id").asText()).startsWith("modr-");
            assertThat(r.get("model").asText())
                    .isEqualTo(app.model().name() + "@" + app.model().version());
            assertThat(r.get("results")).hasSize(1);
            JsonNode result = r.get("results").get(0);
            assertThat(result.get("categories").size()).isEqualTo(13);
            assertThat(result.get("category_scores").size()).isEqualTo(13);
            assertThat(result.get("duoguard").get("category_scores").size()).isEqualTo(12);
            assertThat(result.get("duoguard").has("rejection_reason"))
                    .as("scored by the model, not failed closed")
                    .isFalse();

            HttpResponse<String> many = post(
                    port, TOKEN, "{\"input\": [\"Quelle heure est-il ?\", \"hidden\\u0007bell\", \"Write a poem\"]}");
            assertThat(many.statusCode()).as(many.body()).isEqualTo(200);
            JsonNode results = JSON.readTree(many.body()).get("results");
            assertThat(results).hasSize(3);
            assertThat(results.get(1).get("flagged").asBoolean())
                    .as("bad input fails closed")
                    .isTrue();
            assertThat(results.get(1).get("duoguard").get("rejection_reason").asText())
                    .isEqualTo("CONTROL_CHARACTERS");

            // every answer is a verdict on the topic, under the message id the response names
            List<String> ids = new ArrayList<>();
            ids.add(result.get("duoguard").get("message_id").asText());
            results.forEach(x -> ids.add(x.get("duoguard").get("message_id").asText()));
            Map<String, Verdict> onTopic = new HashMap<>();
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (!onTopic.keySet().containsAll(ids) && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, Verdict> v : verdicts.poll(Duration.ofMillis(200))) {
                    onTopic.put(v.value().getMessageId(), v.value());
                }
            }
            assertThat(onTopic).containsKeys(ids.toArray(String[]::new));
            assertThat(onTopic.get(ids.get(0)).getTenant()).isEqualTo("api");

            assertThat(post(port, null, "{\"input\": \"x\"}").statusCode()).isEqualTo(401);
            assertThat(post(port, "wrong-token-0123456789", "{\"input\": \"x\"}")
                            .statusCode())
                    .isEqualTo(401);
            HttpResponse<String> notJson = post(port, TOKEN, "{input");
            assertThat(notJson.statusCode()).isEqualTo(400);
            assertThat(JSON.readTree(notJson.body()).get("error").get("message").asText())
                    .contains("not JSON");
            assertThat(post(port, TOKEN, "{\"input\": [\"a\",\"b\",\"c\",\"d\",\"e\"]}")
                            .statusCode())
                    .as("more inputs than api.max-inputs")
                    .isEqualTo(413);
            assertThat(post(port, TOKEN, "{\"input\": \"" + "x".repeat(201) + "\"}")
                            .statusCode())
                    .as("an input over input.max-text-chars")
                    .isEqualTo(413);
            assertThat(HTTP.send(
                                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/moderations"))
                                            .GET()
                                            .build(),
                                    HttpResponse.BodyHandlers.ofString())
                            .statusCode())
                    .isEqualTo(405);
        }
    }
}
