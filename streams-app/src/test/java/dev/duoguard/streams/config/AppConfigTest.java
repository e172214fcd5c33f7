package dev.duoguard.streams.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.duoguard.common.config.ConfigException;
import dev.duoguard.common.config.LayeredConfig;
import dev.duoguard.runtime.policy.Decision;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AppConfigTest {

    static final float[] MODEL = half();

    static float[] half() {
        float[] t = new float[12];
        Arrays.fill(t, 0.5f);
        return t;
    }

    @TempDir
    Path dir;

    Path file(String content) throws IOException {
        Path f = dir.resolve("app.properties");
        Files.writeString(f, content);
        return f;
    }

    @Test
    void defaultsThenFileThenEnvironment() throws IOException {
        Path f = file("scoring.max-batch=8\nscoring.max-wait-ms=20\nstreams.num.stream.threads=2\n");
        LayeredConfig c = AppConfig.layered(
                f,
                Map.of(
                        "DUOGUARD_SCORING_MAX_BATCH",
                        "64",
                        "DUOGUARD_STREAMS_GROUP_INSTANCE_ID",
                        "pod-0",
                        "UNRELATED",
                        "x"));
        AppConfig app = AppConfig.from(c);
        assertThat(app.scoring().maxBatch()).isEqualTo(64);
        assertThat(c.origin("scoring.max-batch")).isEqualTo("environment variable DUOGUARD_SCORING_MAX_BATCH");
        assertThat(app.scoring().maxWait().toMillis()).isEqualTo(20);
        assertThat(app.topics().messages()).isEqualTo("chat.messages");
        assertThat(app.processingGuarantee()).isEqualTo("exactly_once_v2");
        assertThat(app.streamsOverrides())
                .containsEntry("num.stream.threads", "2")
                .containsEntry("group.instance.id", "pod-0");
    }

    @Test
    void replySettingsHaveDefaultsAndStopOnlyAtReviewOrBlock() {
        AppConfig.Replies d = AppConfig.from(AppConfig.layered(null, Map.of())).replies();
        assertThat(d).isEqualTo(AppConfig.Replies.DEFAULT);
        assertThat(d.stopAt()).isEqualTo(Decision.BLOCK);
        assertThat(d.idleTimeout()).isEqualTo(Duration.ofSeconds(30));
        assertThat(d.scoreEveryChars()).isEqualTo(200);

        AppConfig.Replies r = AppConfig.from(AppConfig.layered(
                        null, Map.of("DUOGUARD_REPLIES_STOP_AT", "REVIEW", "DUOGUARD_REPLIES_MAX_OPEN", "5")))
                .replies();
        assertThat(r.stopAt()).isEqualTo(Decision.REVIEW);
        assertThat(r.maxOpen()).isEqualTo(5);

        assertThatThrownBy(() -> AppConfig.from(AppConfig.layered(null, Map.of("DUOGUARD_REPLIES_STOP_AT", "ALLOW"))))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("replies.stop-at");
    }

    @Test
    void seedRedactionPatternsComeFromFileOrEnvironmentAndBadOnesNameTheirKey() throws IOException {
        LayeredConfig c = AppConfig.layered(
                file("seeds.redact.pattern.employee-id=EMP-\\\\d{6}\n"),
                Map.of("DUOGUARD_SEEDS_REDACT_PATTERN_TICKET_NO", "TCK-\\d+"));
        assertThat(AppConfig.from(c).seedRedactor().redact("EMP-123456 opened TCK-7 for a@b.org"))
                .isEqualTo("[EMPLOYEE_ID] opened [TICKET_NO] for [EMAIL]");

        LayeredConfig bad = AppConfig.layered(null, Map.of("DUOGUARD_SEEDS_REDACT_PATTERN_X", "(unclosed"));
        assertThatThrownBy(() -> AppConfig.from(bad))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("'seeds.redact.pattern.x'")
                .hasMessageContaining("not a regular expression");

        LayeredConfig off = AppConfig.layered(null, Map.of("DUOGUARD_SEEDS_REDACT", "false"));
        assertThat(AppConfig.from(off).seedRedactor()).as("redaction off").isNull();
        LayeredConfig offWithPatterns = AppConfig.layered(
                null, Map.of("DUOGUARD_SEEDS_REDACT", "false", "DUOGUARD_SEEDS_REDACT_PATTERN_X", "y"));
        assertThatThrownBy(() -> AppConfig.from(offWithPatterns)).hasMessageContaining("seeds.redact is false");
    }

    @Test
    void theModerationEndpointIsOffByDefaultAndNeedsALongEnoughToken() {
        assertThat(AppConfig.from(AppConfig.layered(null, Map.of())).api().port())
                .isEqualTo(-1);
        assertThatThrownBy(() -> AppConfig.from(AppConfig.layered(null, Map.of("DUOGUARD_API_PORT", "8090"))))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("no api.token");
        assertThatThrownBy(() -> AppConfig.from(
                        AppConfig.layered(null, Map.of("DUOGUARD_API_PORT", "8090", "DUOGUARD_API_TOKEN", "short"))))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("at least 16 characters");
        AppConfig.Api api = AppConfig.from(AppConfig.layered(
                        null, Map.of("DUOGUARD_API_PORT", "8090", "DUOGUARD_API_TOKEN", "0123456789abcdef")))
                .api();
        assertThat(api.port()).isEqualTo(8090);
        assertThat(api.tenant()).isEqualTo("api");
    }

    @Test
    void feedbackIsCollectedForEveryTenantUnlessListedAndLanguageDetectionIsOnTheStreamThread() {
        AppConfig defaults = AppConfig.from(AppConfig.layered(null, Map.of()));
        assertThat(defaults.feedbackTenants()).as("'*': every tenant").isNull();
        assertThat(defaults.languages())
                .isEqualTo(new AppConfig.Languages(List.of("en", "fr", "es", "de"), false, true, 0));
        assertThat(AppConfig.from(AppConfig.layered(null, Map.of("DUOGUARD_LANGUAGE_DETECT", "false")))
                        .languages()
                        .detect())
                .as("detection off with the default thread count is fine")
                .isFalse();
        assertThat(AppConfig.from(AppConfig.layered(null, Map.of("DUOGUARD_FEEDBACK_TENANTS", " acme, globex ")))
                        .feedbackTenants())
                .containsExactlyInAnyOrder("acme", "globex");
        assertThat(AppConfig.from(AppConfig.layered(null, Map.of("DUOGUARD_FEEDBACK_TENANTS", "")))
                        .feedbackTenants())
                .as("empty: none")
                .isEmpty();
        assertThatThrownBy(() -> AppConfig.from(AppConfig.layered(null, Map.of("DUOGUARD_FEEDBACK_TENANTS", "acme,*"))))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("feedback.tenants")
                .hasMessageContaining("'*' alone");
        assertThatThrownBy(() -> AppConfig.from(AppConfig.layered(
                        null, Map.of("DUOGUARD_TENANTS_ALLOWED", "acme", "DUOGUARD_FEEDBACK_TENANTS", "acne"))))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("[acne], not in tenants.allowed");
        assertThatThrownBy(() -> AppConfig.from(AppConfig.layered(
                        null, Map.of("DUOGUARD_LANGUAGE_DETECT", "false", "DUOGUARD_LANGUAGE_THREADS", "2"))))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("no effect with language.detect=false");
    }

    @Test
    void badValueNamesTheKeyAndWhereItCameFrom() {
        LayeredConfig c = AppConfig.layered(null, Map.of("DUOGUARD_SCORING_MAX_BATCH", "lots"));
        assertThatThrownBy(() -> AppConfig.from(c))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("'scoring.max-batch'")
                .hasMessageContaining("'lots'")
                .hasMessageContaining("DUOGUARD_SCORING_MAX_BATCH");
        LayeredConfig g = AppConfig.layered(null, Map.of("DUOGUARD_PROCESSING_GUARANTEE", "exactly_once"));
        assertThatThrownBy(() -> AppConfig.from(g))
                .hasMessageContaining("processing.guarantee")
                .hasMessageContaining("at_least_once");
    }

    @Test
    void scoringAndRegistryWaitsMustFitInHalfTheTransactionTimeoutAndThePollInterval() {
        LayeredConfig slowCall = AppConfig.layered(null, Map.of("DUOGUARD_SCORING_TIMEOUT_MS", "20000"));
        assertThatThrownBy(() -> AppConfig.from(slowCall))
                .hasMessageContaining("scoring.timeout-ms")
                .hasMessageContaining("scoring.batch-deadline-ms");

        LayeredConfig longDeadline = AppConfig.layered(null, Map.of("DUOGUARD_SCORING_BATCH_DEADLINE_MS", "20000"));
        assertThatThrownBy(() -> AppConfig.from(longDeadline))
                .hasMessageContaining("scoring.batch-deadline-ms")
                .hasMessageContaining("streams.producer.transaction.timeout.ms");
        LayeredConfig raisedTxn = AppConfig.layered(
                null,
                Map.of(
                        "DUOGUARD_SCORING_BATCH_DEADLINE_MS",
                        "20000",
                        "DUOGUARD_STREAMS_PRODUCER_TRANSACTION_TIMEOUT_MS",
                        "60000"));
        assertThat(AppConfig.from(raisedTxn).scoring().batchDeadline().toMillis())
                .isEqualTo(20000);
        LayeredConfig atLeastOnce = AppConfig.layered(
                null,
                Map.of(
                        "DUOGUARD_SCORING_BATCH_DEADLINE_MS",
                        "20000",
                        "DUOGUARD_PROCESSING_GUARANTEE",
                        "at_least_once"));
        assertThat(AppConfig.from(atLeastOnce).scoring().batchDeadline().toMillis())
                .as("no transaction under at-least-once")
                .isEqualTo(20000);

        LayeredConfig shortPoll = AppConfig.layered(
                null,
                Map.of(
                        "DUOGUARD_PROCESSING_GUARANTEE",
                        "at_least_once",
                        "DUOGUARD_STREAMS_MAX_POLL_INTERVAL_MS",
                        "20000"));
        assertThatThrownBy(() -> AppConfig.from(shortPoll)).hasMessageContaining("streams.max.poll.interval.ms");

        LayeredConfig registry = AppConfig.layered(null, Map.of("DUOGUARD_REGISTRY_RETRY_BUDGET_MS", "16000"));
        assertThatThrownBy(() -> AppConfig.from(registry))
                .hasMessageContaining("registry.retry-budget-ms")
                .hasMessageContaining("streams.producer.transaction.timeout.ms");

        AppConfig defaults = AppConfig.from(AppConfig.layered(null, Map.of()));
        assertThat(defaults.scoring().batchDeadline().toMillis() * 2)
                .isLessThanOrEqualTo(AppConfig.TRANSACTION_TIMEOUT_MS);
    }

    @Test
    void rocksDbMemoryIs64MbHalfForMemtablesByDefaultAndNonsenseIsRefusedByKey() {
        AppConfig defaults = AppConfig.from(AppConfig.layered(null, Map.of()));
        assertThat(defaults.rocksDb()).isEqualTo(new AppConfig.RocksDbMemory(64L << 20, 32L << 20));
        AppConfig set = AppConfig.from(AppConfig.layered(
                null,
                Map.of(
                        "DUOGUARD_STATE_ROCKSDB_MEMORY_MB",
                        "1024",
                        "DUOGUARD_STATE_ROCKSDB_WRITE_BUFFER_SHARE",
                        "0.1")));
        assertThat(set.rocksDb().totalBytes()).isEqualTo(1L << 30);
        assertThat(set.rocksDb().writeBufferBytes()).isCloseTo((1L << 30) / 10, Offset.offset(1024L));
        for (String mb : new String[] {"0", "-64", "4", "lots", "64MB", "2000000"}) {
            LayeredConfig c = AppConfig.layered(null, Map.of("DUOGUARD_STATE_ROCKSDB_MEMORY_MB", mb));
            assertThatThrownBy(() -> AppConfig.from(c))
                    .as(mb)
                    .isInstanceOf(ConfigException.class)
                    .hasMessageContaining("'state.rocksdb.memory-mb'");
        }
        for (String share : new String[] {"0", "1", "0.95", "-0.5", "half"}) {
            LayeredConfig c = AppConfig.layered(null, Map.of("DUOGUARD_STATE_ROCKSDB_WRITE_BUFFER_SHARE", share));
            assertThatThrownBy(() -> AppConfig.from(c))
                    .as(share)
                    .isInstanceOf(ConfigException.class)
                    .hasMessageContaining("'state.rocksdb.write-buffer-share'");
        }
    }

    @Test
    void theFailClosedDecisionIsReviewByDefaultBlockPerTenantAndNeverAllow() throws Exception {
        AppConfig defaults = AppConfig.from(AppConfig.layered(null, Map.of()));
        assertThat(defaults.policy().failClosed("any")).isEqualTo(Decision.REVIEW);
        AppConfig perTenant =
                AppConfig.from(AppConfig.layered(file("policy.tenant.bank.fail-closed=BLOCK\n"), Map.of()));
        assertThat(perTenant.policy().failClosed("bank")).isEqualTo(Decision.BLOCK);
        assertThat(perTenant.policy().failClosed("other")).isEqualTo(Decision.REVIEW);
        assertThatThrownBy(
                        () -> AppConfig.from(AppConfig.layered(null, Map.of("DUOGUARD_POLICY_FAIL_CLOSED", "ALLOW"))))
                .hasMessageContaining("policy.fail-closed")
                .hasMessageContaining("BLOCK");
    }

    @Test
    void unknownKeyInTheFileIsRefused() throws IOException {
        Path f = file("scoring.max_batch=8\n");
        assertThatThrownBy(() -> AppConfig.layered(f, Map.of()))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("unknown config key 'scoring.max_batch'");
    }

    @Test
    void policyThresholdsPerCategoryAndPerTenant() throws IOException {
        Path f = file("""
                policy.review-threshold=0.25
                policy.block.specialized_advice=0.8
                policy.tenant.kids.block=0.3
                policy.tenant.kids.review=0.1
                policy.tenant.kids.block.sexual_content=0.15
                """);
        AppConfig app = AppConfig.from(AppConfig.layered(f, Map.of()));
        float[] advice = new float[12];
        advice[SafetyCategory.SPECIALIZED_ADVICE.ordinal()] = 0.7f;
        assertThat(app.policy().decide("acme", advice, MODEL).decision()).isEqualTo(Decision.REVIEW);
        assertThat(app.policy().decide("kids", advice, MODEL).decision()).isEqualTo(Decision.BLOCK);
        float[] sexual = new float[12];
        sexual[SafetyCategory.SEXUAL_CONTENT.ordinal()] = 0.2f;
        assertThat(app.policy().decide("kids", sexual, MODEL).decision()).isEqualTo(Decision.BLOCK);
        assertThat(app.policy().decide("acme", sexual, MODEL).decision()).isEqualTo(Decision.ALLOW);
    }

    @Test
    void tenantsNotOnTheAllowListGetTheStrictestPolicyOfAllTenants() throws IOException {
        Path f = file("""
                tenants.allowed = acme, kids
                policy.block.specialized_advice=0.8
                policy.tenant.kids.block.specialized_advice=0.5
                policy.tenant.acme.fail-closed=REVIEW
                """);
        AppConfig app = AppConfig.from(AppConfig.layered(f, Map.of()));
        float[] advice = new float[12];
        advice[SafetyCategory.SPECIALIZED_ADVICE.ordinal()] = 0.6f;
        assertThat(app.policy().knows("acme")).isTrue();
        assertThat(app.policy().decide("acme", advice, MODEL).decision()).isEqualTo(Decision.REVIEW);
        assertThat(app.policy().decide("kids", advice, MODEL).decision()).isEqualTo(Decision.BLOCK);
        assertThat(app.policy().knows("mallory")).isFalse();
        assertThat(app.policy().knows(null)).isFalse();
        assertThat(app.policy().decide("mallory", advice, MODEL).decision())
                .as("kids' lower BLOCK threshold applies to an unknown tenant")
                .isEqualTo(Decision.BLOCK);
        assertThat(app.policy().failClosed("acme")).isEqualTo(Decision.REVIEW);
        assertThat(app.policy().failClosed("mallory")).isEqualTo(Decision.BLOCK);

        AppConfig open = AppConfig.from(AppConfig.layered(null, Map.of()));
        assertThat(open.policy().knows("anyone"))
                .as("no allow-list: every tenant is known")
                .isTrue();
        assertThat(open.policy().failClosed("anyone")).isEqualTo(Decision.REVIEW);

        Path unlisted = file("tenants.allowed=acme\npolicy.tenant.kids.block=0.3\n");
        assertThatThrownBy(() -> AppConfig.from(AppConfig.layered(unlisted, Map.of())))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("tenants.allowed")
                .hasMessageContaining("kids");
    }

    @Test
    void blockDefaultsToTheThresholdsOfTheModelThatScoredWhileOperatorValuesWin() throws IOException {
        float[] hate = new float[12];
        hate[SafetyCategory.HATE.ordinal()] = 0.4f;
        float[] calibratedFr = half();
        calibratedFr[SafetyCategory.HATE.ordinal()] = 0.35f;
        AppConfig defaults = AppConfig.from(AppConfig.layered(null, Map.of()));
        assertThat(defaults.policy().decide("acme", hate, MODEL).decision()).isEqualTo(Decision.REVIEW);
        assertThat(defaults.policy().decide("acme", hate, calibratedFr).decision())
                .isEqualTo(Decision.BLOCK);
        AppConfig fixed = AppConfig.from(AppConfig.layered(file("policy.block-threshold=0.6\n"), Map.of()));
        assertThat(fixed.policy().decide("acme", hate, calibratedFr).decision()).isEqualTo(Decision.REVIEW);
        AppConfig perCategory = AppConfig.from(
                AppConfig.layered(file("policy.block.hate=0.6\n" + "policy.tenant.kids.block.hate=0.35\n"), Map.of()));
        assertThat(perCategory.policy().decide("acme", hate, calibratedFr).decision())
                .isEqualTo(Decision.REVIEW);
        assertThat(perCategory.policy().decide("kids", hate, MODEL).decision()).isEqualTo(Decision.BLOCK);
        float[] violent = new float[12];
        violent[SafetyCategory.VIOLENT_CRIMES.ordinal()] = 0.4f;
        float[] low = half();
        low[SafetyCategory.VIOLENT_CRIMES.ordinal()] = 0.3f;
        assertThat(perCategory.policy().decide("acme", violent, low).decision())
                .as("other categories still follow the model")
                .isEqualTo(Decision.BLOCK);
    }

    @Test
    void reviewAboveTheModelsBlockIsClampedAtDecisionTime() throws IOException {
        AppConfig app = AppConfig.from(AppConfig.layered(file("policy.review.hate=0.9\n"), Map.of()));
        float[] hate = new float[12];
        hate[SafetyCategory.HATE.ordinal()] = 0.6f;
        var r = app.policy().decide("acme", hate, MODEL);
        assertThat(r.decision()).isEqualTo(Decision.BLOCK);
        assertThat(r.fired()).containsExactly(SafetyCategory.HATE);
    }

    @Test
    void inconsistentPolicyIsRefusedWithTheCategory() throws IOException {
        Path f = file("policy.block.hate=0.5\npolicy.review.hate=0.9\n");
        assertThatThrownBy(() -> AppConfig.from(AppConfig.layered(f, Map.of())))
                .hasMessageContaining("hate")
                .hasMessageContaining("above its block threshold");
        Path g = file("policy.block.elections=0.9\n");
        assertThatThrownBy(() -> AppConfig.from(AppConfig.layered(g, Map.of())))
                .hasMessageContaining("policy.block.elections")
                .hasMessageContaining("unknown safety category");
    }

    @Test
    void secretsAreMaskedInTheDescription() throws IOException {
        Path f = file(
                "streams.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule password=\"hunter2\";\n");
        String described = AppConfig.layered(f, Map.of()).describe();
        assertThat(described).contains("streams.sasl.jaas.config = ****").doesNotContain("hunter2");
    }

    @Test
    void theManagementPortListensOnThisHostOnlyAndItsTokenComesFromASecretFile() throws IOException {
        AppConfig.Management defaults =
                AppConfig.from(AppConfig.layered(null, Map.of())).management();
        assertThat(defaults.bind()).isEqualTo("127.0.0.1");
        assertThat(defaults.adminToken()).as("no token: commands disabled").isNull();

        Path secret = Files.writeString(dir.resolve("admin-token"), "from-a-mounted-secret-0123\n");
        LayeredConfig raw = AppConfig.layered(
                null, Map.of("DUOGUARD_HTTP_BIND", "0.0.0.0", "DUOGUARD_HTTP_ADMIN_TOKEN_FILE", secret.toString()));
        AppConfig c = AppConfig.from(raw);
        assertThat(c.management().bind()).isEqualTo("0.0.0.0");
        assertThat(c.management().adminToken().value()).isEqualTo("from-a-mounted-secret-0123");
        assertThat(c.toString()).doesNotContain("from-a-mounted-secret");

        LayeredConfig inline = AppConfig.layered(null, Map.of("DUOGUARD_HTTP_ADMIN_TOKEN", "inline-token-0123456789"));
        assertThat(inline.describe()).doesNotContain("inline-token");
    }
}
