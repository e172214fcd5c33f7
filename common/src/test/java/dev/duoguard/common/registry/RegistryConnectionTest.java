package dev.duoguard.common.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.duoguard.common.config.ConfigException;
import dev.duoguard.common.config.LayeredConfig;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RegistryConnectionTest {

    @TempDir
    Path dir;

    private static LayeredConfig config(Map<String, String> env) {
        return LayeredConfig.load(RegistryConnection.DEFAULTS, null, env, Set.of());
    }

    private static RegistryConnection connection(Map<String, String> env) {
        return RegistryConnection.from(config(env));
    }

    private Path truststore(String password) throws IOException, GeneralSecurityException {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        Path f = dir.resolve("truststore.p12");
        try (OutputStream out = Files.newOutputStream(f)) {
            ks.store(out, password.toCharArray());
        }
        return f;
    }

    private static Map<String, String> secured(Path truststore) {
        Map<String, String> env = new HashMap<>();
        env.put("DUOGUARD_REGISTRY_URL", "https://registry:8443/apis/registry/v3/");
        env.put("DUOGUARD_REGISTRY_USERNAME", "streams-app");
        env.put("DUOGUARD_REGISTRY_PASSWORD", "s3cret");
        env.put("DUOGUARD_REGISTRY_SSL_TRUSTSTORE_LOCATION", truststore.toString());
        env.put("DUOGUARD_REGISTRY_SSL_TRUSTSTORE_PASSWORD", "trust-pw");
        return env;
    }

    @Test
    void byDefaultAnonymousHttpThatDoesNotRegister() {
        RegistryConnection c = connection(Map.of());
        assertThat(c.autoRegister()).isFalse();
        assertThat(c.serdeProperties())
                .containsOnly(
                        Map.entry("apicurio.registry.url", "http://localhost:8080/apis/registry/v3"),
                        Map.entry("apicurio.registry.auto-register", "false"));
        assertThat(c.authorize(HttpRequest.newBuilder(URI.create(c.url())))
                        .build()
                        .headers()
                        .map())
                .isEmpty();
        assertThat(connection(Map.of("DUOGUARD_REGISTRY_AUTO_REGISTER", "true")).autoRegister())
                .isTrue();
    }

    @Test
    void httpsWithBasicAuthAndATruststoreGoesToTheSerdesAndTheHttpClient() throws Exception {
        Path store = truststore("trust-pw");
        RegistryConnection c = connection(secured(store));
        assertThat(c.url()).isEqualTo("https://registry:8443/apis/registry/v3");
        assertThat(c.serdeProperties())
                .containsEntry("apicurio.registry.url", "https://registry:8443/apis/registry/v3")
                .containsEntry("apicurio.registry.auth.username", "streams-app")
                .containsEntry("apicurio.registry.auth.password", "s3cret")
                .containsEntry(
                        "apicurio.registry.tls.truststore.location",
                        store.toAbsolutePath().toString())
                .containsEntry("apicurio.registry.tls.truststore.type", "PKCS12")
                .containsEntry("apicurio.registry.tls.truststore.password", "trust-pw")
                .containsEntry("apicurio.registry.auto-register", "false");
        String header = c.authorize(HttpRequest.newBuilder(URI.create(c.url())))
                .build()
                .headers()
                .firstValue("Authorization")
                .orElseThrow();
        assertThat(header)
                .isEqualTo("Basic "
                        + Base64.getEncoder().encodeToString("streams-app:s3cret".getBytes(StandardCharsets.UTF_8)));
        assertThat(c.httpClient().sslContext().getProtocol()).isEqualTo("TLS");
        assertThat(c.toString())
                .contains("as 'streams-app'", store.toAbsolutePath().toString(), "auto-register off")
                .doesNotContain("s3cret")
                .doesNotContain("trust-pw");
        assertThat(c.withAutoRegister(true).serdeProperties())
                .containsEntry("apicurio.registry.auto-register", "true")
                .containsEntry("apicurio.registry.auth.username", "streams-app");
    }

    @Test
    void secretsComeFromFilesAndAreMaskedWhereConfigurationIsShown() throws Exception {
        Path store = truststore("trust-pw");
        Map<String, String> env = secured(store);
        env.remove("DUOGUARD_REGISTRY_PASSWORD");
        env.remove("DUOGUARD_REGISTRY_SSL_TRUSTSTORE_PASSWORD");
        env.put(
                "DUOGUARD_REGISTRY_PASSWORD_FILE",
                Files.writeString(dir.resolve("pw"), "from-file\n").toString());
        env.put(
                "DUOGUARD_REGISTRY_SSL_TRUSTSTORE_PASSWORD_FILE",
                Files.writeString(dir.resolve("tpw"), "trust-pw\n").toString());
        assertThat(connection(env).serdeProperties())
                .containsEntry("apicurio.registry.auth.password", "from-file")
                .containsEntry("apicurio.registry.tls.truststore.password", "trust-pw");

        String shown = config(secured(store)).describe();
        assertThat(shown)
                .contains("registry.password = ****", "registry.ssl.truststore.password = ****")
                .contains("registry.username = streams-app")
                .doesNotContain("s3cret")
                .doesNotContain("trust-pw");
    }

    @Test
    void aPemTruststoreIsReadAsItsCertificates() throws Exception {
        Path pem = dir.resolve("ca.pem");
        Files.writeString(pem, "not a certificate");
        Map<String, String> env = secured(pem);
        env.remove("DUOGUARD_REGISTRY_SSL_TRUSTSTORE_PASSWORD");
        env.put("DUOGUARD_REGISTRY_SSL_TRUSTSTORE_TYPE", "PEM");
        assertThatThrownBy(() -> connection(env))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("registry.ssl.truststore.location")
                .hasMessageContaining("PEM");
    }

    @Test
    void eachProblemIsOneClearErrorThatNamesTheKey() throws Exception {
        Path store = truststore("trust-pw");

        Map<String, String> noPassword = secured(store);
        noPassword.remove("DUOGUARD_REGISTRY_PASSWORD");
        assertThatThrownBy(() -> connection(noPassword))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("registry.username 'streams-app'")
                .hasMessageContaining("needs registry.password");

        Map<String, String> noUser = secured(store);
        noUser.remove("DUOGUARD_REGISTRY_USERNAME");
        assertThatThrownBy(() -> connection(noUser))
                .hasMessageContaining("registry.password is set but registry.username");

        Map<String, String> plainHttp = new HashMap<>(Map.of(
                "DUOGUARD_REGISTRY_URL", "http://registry:8080/apis/registry/v3",
                "DUOGUARD_REGISTRY_USERNAME", "app",
                "DUOGUARD_REGISTRY_PASSWORD", "pw"));
        assertThatThrownBy(() -> connection(plainHttp))
                .hasMessageContaining("registry.url is http")
                .hasMessageContaining("registry.allow-http-credentials=true");
        plainHttp.put("DUOGUARD_REGISTRY_ALLOW_HTTP_CREDENTIALS", "true");
        assertThat(connection(plainHttp).serdeProperties()).containsEntry("apicurio.registry.auth.username", "app");

        Map<String, String> storeOverHttp = secured(store);
        storeOverHttp.put("DUOGUARD_REGISTRY_URL", "http://registry:8080");
        storeOverHttp.remove("DUOGUARD_REGISTRY_USERNAME");
        storeOverHttp.remove("DUOGUARD_REGISTRY_PASSWORD");
        assertThatThrownBy(() -> connection(storeOverHttp))
                .hasMessageContaining("registry.ssl.truststore.location is set")
                .hasMessageContaining("is http");

        Map<String, String> missingStore = secured(dir.resolve("nope.p12"));
        assertThatThrownBy(() -> connection(missingStore))
                .hasMessageContaining("registry.ssl.truststore.location")
                .hasMessageContaining("is not a readable file");

        Map<String, String> wrongPassword = secured(store);
        wrongPassword.put("DUOGUARD_REGISTRY_SSL_TRUSTSTORE_PASSWORD", "wrong");
        assertThatThrownBy(() -> connection(wrongPassword))
                .hasMessageContaining("registry.ssl.truststore.location")
                .hasMessageContaining("does not open as a PKCS12 store");

        Map<String, String> badType = secured(store);
        badType.put("DUOGUARD_REGISTRY_SSL_TRUSTSTORE_TYPE", "BKS");
        assertThatThrownBy(() -> connection(badType)).hasMessageContaining("registry.ssl.truststore.type");

        Map<String, String> passwordWithoutStore = new HashMap<>(secured(store));
        passwordWithoutStore.remove("DUOGUARD_REGISTRY_SSL_TRUSTSTORE_LOCATION");
        assertThatThrownBy(() -> connection(passwordWithoutStore))
                .hasMessageContaining("registry.ssl.truststore.password is set but registry.ssl.truststore.location");

        assertThatThrownBy(() -> connection(Map.of("DUOGUARD_REGISTRY_URL", "https://app:pw@registry/apis")))
                .hasMessageContaining("contains credentials")
                .hasMessageNotContaining("pw@");
        assertThatThrownBy(() -> connection(Map.of("DUOGUARD_REGISTRY_URL", "registry:8080")))
                .hasMessageContaining("must be an http:// or https:// URL");
        assertThatThrownBy(() -> connection(Map.of("DUOGUARD_REGISTRY_AUTO_REGISTER", "maybe")))
                .hasMessageContaining("registry.auto-register");
    }
}
