package dev.duoguard.common.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.duoguard.common.config.ConfigException;
import dev.duoguard.common.config.LayeredConfig;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.common.config.types.Password;
import org.apache.kafka.common.security.JaasContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class KafkaConnectionTest {

    @TempDir
    Path dir;

    private static KafkaConnection connection(Map<String, String> env) {
        return KafkaConnection.from(LayeredConfig.load(KafkaConnection.DEFAULTS, null, env, Set.of()));
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

    private static Map<String, String> saslSsl(Path truststore) {
        Map<String, String> env = new HashMap<>();
        env.put("DUOGUARD_KAFKA_BOOTSTRAP_SERVERS", "broker:9093");
        env.put("DUOGUARD_KAFKA_SECURITY_PROTOCOL", "SASL_SSL");
        env.put("DUOGUARD_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512");
        env.put("DUOGUARD_KAFKA_SASL_USERNAME", "streams-app");
        env.put("DUOGUARD_KAFKA_SASL_PASSWORD", "s3cret");
        env.put("DUOGUARD_KAFKA_SSL_TRUSTSTORE_LOCATION", truststore.toString());
        env.put("DUOGUARD_KAFKA_SSL_TRUSTSTORE_PASSWORD", "trust-pw");
        return env;
    }

    @Test
    void byDefaultOnlyTheServersAndPlaintext() {
        Map<String, Object> p =
                connection(Map.of("DUOGUARD_KAFKA_BOOTSTRAP_SERVERS", "k:9092")).clientProperties();
        assertThat(p)
                .containsOnly(Map.entry("bootstrap.servers", "k:9092"), Map.entry("security.protocol", "PLAINTEXT"));
        assertThat(KafkaConnection.plaintext("k:9092").clientProperties())
                .containsOnly(Map.entry("bootstrap.servers", "k:9092"));
    }

    @Test
    void saslSslWithScramGivesTheClientPropertiesWithSecretsHidden() throws Exception {
        KafkaConnection k = connection(saslSsl(truststore("trust-pw")));
        Map<String, Object> p = k.clientProperties();
        assertThat(p)
                .containsEntry("bootstrap.servers", "broker:9093")
                .containsEntry("security.protocol", "SASL_SSL")
                .containsEntry("sasl.mechanism", "SCRAM-SHA-512")
                .containsEntry(
                        "ssl.truststore.location", dir.resolve("truststore.p12").toString())
                .containsEntry("ssl.truststore.type", "PKCS12")
                .containsEntry("ssl.endpoint.identification.algorithm", "https");
        assertThat(p.get("sasl.jaas.config")).isInstanceOf(Password.class);
        assertThat(p.get("sasl.jaas.config").toString()).doesNotContain("s3cret");
        assertThat(((Password) p.get("sasl.jaas.config")).value())
                .isEqualTo("org.apache.kafka.common.security.scram.ScramLoginModule required "
                        + "username=\"streams-app\" password=\"s3cret\";");
        assertThat(((Password) p.get("ssl.truststore.password")).value()).isEqualTo("trust-pw");
        assertThat(k.toString())
                .isEqualTo("broker:9093 (SASL_SSL SCRAM-SHA-512 as 'streams-app')")
                .doesNotContain("s3cret");
        p.put("group.id", "mine");
        assertThat(k.clientProperties()).doesNotContainKey("group.id"); // each client gets a map of its own
    }

    @Test
    void secretsComeFromFilesWithoutTheTrailingLineBreak() throws Exception {
        Path secret = Files.writeString(dir.resolve("password"), "from-a-secret\n");
        Map<String, String> env = saslSsl(truststore("trust-pw"));
        env.remove("DUOGUARD_KAFKA_SASL_PASSWORD");
        env.put("DUOGUARD_KAFKA_SASL_PASSWORD_FILE", secret.toString());
        Password jaas = (Password) connection(env).clientProperties().get("sasl.jaas.config");
        assertThat(jaas.value()).contains("password=\"from-a-secret\";");

        env.put("DUOGUARD_KAFKA_SASL_PASSWORD", "also-set");
        assertThatThrownBy(() -> connection(env))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("set either kafka.sasl.password or kafka.sasl.password.file, not both");

        env.remove("DUOGUARD_KAFKA_SASL_PASSWORD");
        env.put("DUOGUARD_KAFKA_SASL_PASSWORD_FILE", dir.resolve("missing").toString());
        assertThatThrownBy(() -> connection(env))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("cannot read kafka.sasl.password.file")
                .hasMessageContaining("DUOGUARD_KAFKA_SASL_PASSWORD_FILE");
    }

    @Test
    void theJaasLineEscapesQuotesAndBackslashesAsKafkaParsesThem() {
        String line = KafkaConnection.jaasLine("PLAIN", "us\"er", "pa\\ss\"word");
        var entry = JaasContext.loadClientContext(Map.of("sasl.jaas.config", new Password(line)))
                .configurationEntries()
                .get(0);
        assertThat(entry.getLoginModuleName()).isEqualTo("org.apache.kafka.common.security.plain.PlainLoginModule");
        Map<String, ?> options = entry.getOptions();
        assertThat(options.get("username")).isEqualTo("us\"er");
        assertThat(options.get("password")).isEqualTo("pa\\ss\"word");
    }

    @Test
    void aRawJaasLineIsTakenAsItIs() throws Exception {
        Map<String, String> env = saslSsl(truststore("trust-pw"));
        env.remove("DUOGUARD_KAFKA_SASL_USERNAME");
        env.remove("DUOGUARD_KAFKA_SASL_PASSWORD");
        String jaas = "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"a\" password=\"b\";";
        env.put("DUOGUARD_KAFKA_SASL_JAAS_CONFIG", jaas);
        assertThat(((Password) connection(env).clientProperties().get("sasl.jaas.config")).value())
                .isEqualTo(jaas);
        env.put("DUOGUARD_KAFKA_SASL_USERNAME", "a");
        assertThatThrownBy(() -> connection(env)).hasMessageContaining("not both");
    }

    @Test
    void eachProblemIsOneClearError() throws Exception {
        Map<String, String> noMechanism = saslSsl(truststore("trust-pw"));
        noMechanism.remove("DUOGUARD_KAFKA_SASL_MECHANISM");
        assertThatThrownBy(() -> connection(noMechanism))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("kafka.sasl.mechanism is required with kafka.security.protocol=SASL_SSL");

        Map<String, String> badMechanism = saslSsl(truststore("trust-pw"));
        badMechanism.put("DUOGUARD_KAFKA_SASL_MECHANISM", "GSSAPI");
        assertThatThrownBy(() -> connection(badMechanism))
                .hasMessageContaining("'kafka.sasl.mechanism' must be one of");

        Map<String, String> noPassword = saslSsl(truststore("trust-pw"));
        noPassword.remove("DUOGUARD_KAFKA_SASL_PASSWORD");
        assertThatThrownBy(() -> connection(noPassword))
                .hasMessageContaining("needs credentials")
                .hasMessageContaining("kafka.sasl.password is not set");

        Map<String, String> missingStore = saslSsl(dir.resolve("nowhere.p12"));
        assertThatThrownBy(() -> connection(missingStore))
                .hasMessageContaining("kafka.ssl.truststore.location '" + dir.resolve("nowhere.p12") + "'")
                .hasMessageContaining("is not a readable file");

        Map<String, String> wrongPassword = saslSsl(truststore("trust-pw"));
        wrongPassword.put("DUOGUARD_KAFKA_SSL_TRUSTSTORE_PASSWORD", "wrong");
        assertThatThrownBy(() -> connection(wrongPassword))
                .hasMessageContaining("does not open as a PKCS12 store with the configured password");

        assertThatThrownBy(() -> connection(Map.of("DUOGUARD_KAFKA_SECURITY_PROTOCOL", "TLS")))
                .hasMessageContaining("'kafka.security.protocol' must be one of");

        // credentials with a protocol that would not send them: the operator believes the connection is secured
        assertThatThrownBy(() -> connection(Map.of("DUOGUARD_KAFKA_SASL_USERNAME", "app")))
                .hasMessageContaining("kafka.sasl.username is set")
                .hasMessageContaining("kafka.security.protocol is PLAINTEXT");
        assertThatThrownBy(() -> connection(Map.of(
                        "DUOGUARD_KAFKA_SECURITY_PROTOCOL",
                        "SASL_PLAINTEXT",
                        "DUOGUARD_KAFKA_SASL_MECHANISM",
                        "PLAIN",
                        "DUOGUARD_KAFKA_SASL_USERNAME",
                        "app",
                        "DUOGUARD_KAFKA_SASL_PASSWORD",
                        "pw",
                        "DUOGUARD_KAFKA_SSL_TRUSTSTORE_LOCATION",
                        "/x")))
                .hasMessageContaining("kafka.ssl.truststore.location is set")
                .hasMessageContaining("SASL_PLAINTEXT");
    }
}
