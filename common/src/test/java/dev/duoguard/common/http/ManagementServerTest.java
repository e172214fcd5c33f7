package dev.duoguard.common.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class ManagementServerTest {

    @Test
    void eachHealthEndpointAnswers200Or503WithTheReason() throws Exception {
        AtomicReference<String> notReady = new AtomicReference<>("kafka streams is REBALANCING");
        AtomicReference<String> notLive = new AtomicReference<>();
        try (ManagementServer server = new ManagementServer(0, new PrometheusRegistry(), notReady::get, notLive::get)) {
            assertThat(get(server, "/health/ready")).isEqualTo("503 kafka streams is REBALANCING");
            assertThat(get(server, "/health/live")).isEqualTo("200 live");

            notReady.set(null);
            notLive.set("the model watcher is closed");
            assertThat(get(server, "/health/ready")).isEqualTo("200 ready");
            assertThat(get(server, "/health/live")).isEqualTo("503 the model watcher is closed");
        }
    }

    @Test
    void aCheckThatThrowsCountsAsFailing() throws Exception {
        try (ManagementServer server = new ManagementServer(0, new PrometheusRegistry(), () -> null, () -> {
            throw new IllegalStateException("broken check");
        })) {
            assertThat(get(server, "/health/live"))
                    .startsWith("503 the live check failed")
                    .contains("broken check");
        }
    }

    @Test
    void withoutALivenessCheckAnsweringIsBeingLive() throws Exception {
        try (ManagementServer server = new ManagementServer(0, new PrometheusRegistry(), () -> "not yet")) {
            assertThat(get(server, "/health/live")).isEqualTo("200 live");
        }
    }

    private static String get(ManagementServer server, String path) throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient()
                .send(
                        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
        return r.statusCode() + " " + r.body().strip();
    }
}
