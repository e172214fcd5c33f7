package dev.duoguard.common.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

class ManagementServerTest {

    static final String TOKEN = "test-admin-token-0123456789";
    static final AdminToken NO_TOKEN = AdminToken.of(null, "set test.admin-token");

    static ManagementServer server(AdminToken token, Supplier<String> readiness, Supplier<String> liveness)
            throws IOException {
        return new ManagementServer("127.0.0.1", 0, token, new PrometheusRegistry(), readiness, liveness);
    }

    @Test
    void eachHealthEndpointAnswers200Or503WithTheReason() throws Exception {
        AtomicReference<String> notReady = new AtomicReference<>("kafka streams is REBALANCING");
        AtomicReference<String> notLive = new AtomicReference<>();
        try (ManagementServer server = server(NO_TOKEN, notReady::get, notLive::get)) {
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
        try (ManagementServer server = server(NO_TOKEN, () -> null, () -> {
            throw new IllegalStateException("broken check");
        })) {
            assertThat(get(server, "/health/live"))
                    .startsWith("503 the live check failed")
                    .contains("broken check");
        }
    }

    @Test
    void aCommandRunsOnlyWithTheAdminTokenAndEveryRefusalIsCounted() throws Exception {
        AtomicInteger ran = new AtomicInteger();
        try (ManagementServer server = server(AdminToken.of(TOKEN, "set test.admin-token"), () -> null, () -> null)) {
            server.adminCommand("/models/promote", query -> "promoted " + ran.incrementAndGet() + " " + query);

            HttpResponse<String> none = post(server, "/models/promote?version=2", null);
            assertThat(none.statusCode()).isEqualTo(401);
            assertThat(none.headers().firstValue("WWW-Authenticate"))
                    .get()
                    .asString()
                    .startsWith("Bearer");
            assertThat(post(server, "/models/promote?version=2", "Basic " + TOKEN)
                            .statusCode())
                    .as("another scheme is no bearer token")
                    .isEqualTo(401);
            assertThat(post(server, "/models/promote?version=2", "Bearer ").statusCode())
                    .isEqualTo(401);
            assertThat(post(server, "/models/promote?version=2", "Bearer " + TOKEN + "x")
                            .statusCode())
                    .isEqualTo(403);
            assertThat(post(server, "/models/promote?version=2", "Bearer " + TOKEN.substring(1))
                            .statusCode())
                    .isEqualTo(403);
            assertThat(ran).as("no refused call ran the command").hasValue(0);

            HttpResponse<String> ok = post(server, "/models/promote?version=2", "Bearer " + TOKEN);
            assertThat(ok.statusCode() + " " + ok.body().strip()).isEqualTo("202 promoted 1 version=2");
            assertThat(post(server, "/models/promote", "bearer " + TOKEN).statusCode())
                    .as("the scheme in any case")
                    .isEqualTo(202);
            assertThat(ran).hasValue(2);

            HttpResponse<String> getWithToken = HttpClient.newHttpClient()
                    .send(
                            request(server, "/models/promote")
                                    .header("Authorization", "Bearer " + TOKEN)
                                    .build(),
                            HttpResponse.BodyHandlers.ofString());
            assertThat(getWithToken.statusCode()).isEqualTo(405);
            assertThat(ran).hasValue(2);

            assertThat(get(server, "/metrics"))
                    .as("metrics stay open; the refusals are counted by reason")
                    .startsWith("200 ")
                    .contains(
                            "duoguard_management_refused_total{reason=\"unauthenticated\",route=\"/models/promote\"} 3")
                    .contains("duoguard_management_refused_total{reason=\"wrong_token\",route=\"/models/promote\"} 2")
                    .doesNotContain(TOKEN);
            assertThat(get(server, "/health/ready")).isEqualTo("200 ready");
        }
    }

    @Test
    void withoutATokenCommandsAreDisabledNotOpen() throws Exception {
        AtomicInteger ran = new AtomicInteger();
        try (ManagementServer server = server(NO_TOKEN, () -> null, () -> null)) {
            server.adminCommand("/iterate", query -> "started " + ran.incrementAndGet());
            for (String authorization : List.of("", "Bearer " + TOKEN)) {
                HttpResponse<String> r = post(server, "/iterate", authorization.isEmpty() ? null : authorization);
                assertThat(r.statusCode()).isEqualTo(403);
                assertThat(r.body()).contains("disabled").contains("set test.admin-token");
            }
            assertThat(ran).hasValue(0);
            assertThat(get(server, "/metrics"))
                    .contains("duoguard_management_refused_total{reason=\"disabled\",route=\"/iterate\"} 2");
        }
    }

    @Test
    void theAdminTokenIsLongEnoughAndNeverPrinted() {
        assertThatThrownBy(() -> AdminToken.of("short", "set x"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("at least 16")
                .hasMessageNotContaining("short");
        AdminToken token = AdminToken.of(TOKEN, "set x");
        assertThat(token.toString()).doesNotContain(TOKEN);
        assertThat(token.matches(TOKEN)).isTrue();
        assertThat(token.matches("")).isFalse();
        assertThat(NO_TOKEN.matches("")).isFalse();
    }

    @Test
    void theServerListensOnTheBindAddressOnly() throws Exception {
        try (ManagementServer server = server(NO_TOKEN, () -> null, () -> null)) {
            assertThat(server.address().getAddress().getHostAddress()).isEqualTo("127.0.0.1");
            Optional<InetAddress> other = otherLocalAddress();
            if (other.isPresent()) {
                assertThatThrownBy(() -> new Socket(other.get(), server.port()).close())
                        .as("not reachable on " + other.get())
                        .isInstanceOf(IOException.class);
            }
        }
        try (ManagementServer all =
                new ManagementServer("0.0.0.0", 0, NO_TOKEN, new PrometheusRegistry(), () -> null, () -> null)) {
            assertThat(all.address().getAddress().isAnyLocalAddress()).isTrue();
            assertThat(get(all, "/health/live")).isEqualTo("200 live");
        }
        assertThatThrownBy(() -> new ManagementServer(
                        "no-such-host.invalid", 0, NO_TOKEN, new PrometheusRegistry(), () -> null, () -> null))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("no-such-host.invalid");
    }

    /** An IPv4 address of this machine that is not loopback, if it has one. */
    static Optional<InetAddress> otherLocalAddress() throws IOException {
        for (NetworkInterface nic : Collections.list(NetworkInterface.getNetworkInterfaces())) {
            if (nic.isUp() && !nic.isLoopback()) {
                for (InetAddress a : Collections.list(nic.getInetAddresses())) {
                    if (a instanceof Inet4Address) {
                        return Optional.of(a);
                    }
                }
            }
        }
        return Optional.empty();
    }

    static HttpRequest.Builder request(ManagementServer server, String path) {
        return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path));
    }

    static HttpResponse<String> post(ManagementServer server, String path, String authorization) throws Exception {
        HttpRequest.Builder r = request(server, path).POST(HttpRequest.BodyPublishers.noBody());
        if (authorization != null) {
            r.header("Authorization", authorization);
        }
        return HttpClient.newHttpClient().send(r.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static String get(ManagementServer server, String path) throws Exception {
        HttpResponse<String> r =
                HttpClient.newHttpClient().send(request(server, path).build(), HttpResponse.BodyHandlers.ofString());
        return r.statusCode() + " " + r.body().strip();
    }
}
