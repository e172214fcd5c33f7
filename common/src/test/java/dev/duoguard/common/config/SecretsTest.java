package dev.duoguard.common.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class SecretsTest {

    @Test
    void secretKeysAreMaskedWhole() {
        for (String key : new String[] {
            "kafka.sasl.password",
            "kafka.sasl.jaas.config",
            "kafka.ssl.key.password",
            "kafka.ssl.keystore.password",
            "kafka.ssl.truststore.password",
            "streams.sasl.jaas.config",
            "registry.client-secret",
            "management.token",
            "registry.credentials"
        }) {
            assertThat(Secrets.mask(key, "hunter2")).as(key).isEqualTo("****");
        }
        assertThat(Secrets.mask("kafka.sasl.password", "")).isEmpty();
        assertThat(Secrets.mask("kafka.sasl.password.file", "/run/secrets/kafka"))
                .isEqualTo("/run/secrets/kafka");
        assertThat(Secrets.mask("kafka.sasl.username", "app")).isEqualTo("app");
    }

    @Test
    void credentialsInsideUrlsAreMasked() {
        assertThat(Secrets.maskUrlCredentials("https://user:pass@registry:8443/apis/registry/v3"))
                .isEqualTo("https://user:****@registry:8443/apis/registry/v3");
        assertThat(Secrets.mask("registry.url", "http://a:b@h,https://c:d@i/x"))
                .isEqualTo("http://a:****@h,https://c:****@i/x");
        assertThat(Secrets.mask("registry.url", "http://registry:8080/apis/registry/v3"))
                .isEqualTo("http://registry:8080/apis/registry/v3");
    }

    @Test
    void theDescriptionShowsEveryKeyButNoSecret() {
        LayeredConfig c = LayeredConfig.load(
                Map.of("kafka.sasl.password", "", "registry.url", "", "kafka.sasl.username", ""),
                null,
                Map.of(
                        "DUOGUARD_KAFKA_SASL_PASSWORD", "hunter2",
                        "DUOGUARD_REGISTRY_URL", "https://ops:hunter3@registry/apis",
                        "DUOGUARD_KAFKA_SASL_USERNAME", "app"),
                Set.of());
        assertThat(c.describe())
                .isEqualTo("  kafka.sasl.password = ****\n  kafka.sasl.username = app\n"
                        + "  registry.url = https://ops:****@registry/apis\n")
                .isEqualTo(c.toString());
    }
}
