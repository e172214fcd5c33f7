package dev.duoguard.streams.config;

import dev.duoguard.common.config.ConfigException;
import dev.duoguard.common.config.LayeredConfig;
import dev.duoguard.common.config.SecretValue;
import dev.duoguard.common.http.AdminToken;
import dev.duoguard.common.kafka.KafkaConnection;
import dev.duoguard.common.redact.Redactor;
import dev.duoguard.common.registry.RegistryConnection;
import dev.duoguard.common.topics.Topics;
import dev.duoguard.runtime.onnx.ExecutionDevice;
import dev.duoguard.runtime.policy.Decision;
import dev.duoguard.runtime.policy.DecisionPolicy;
import dev.duoguard.runtime.policy.Thresholds;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * The streams app's typed configuration, validated at start: a bad value stops the app with a message that
 * names the key. The README's configuration reference is the list of {@link #DEFAULTS}.
 */
public record AppConfig(
        KafkaConnection kafka,
        RegistryConnection registry,
        String applicationId,
        String processingGuarantee,
        Map<String, String> streamsOverrides,
        Topics.Names topics,
        int topicPartitions,
        boolean createTopics,
        Path modelPath,
        ExecutionDevice device,
        int modelThreads,
        Scoring scoring,
        Duration registryRetryBudget,
        int maxTextChars,
        DecisionPolicy policy,
        Duration feedbackJoinWindow,
        Set<String> feedbackTenants,
        Languages languages,
        Management management,
        Path stateDir,
        RocksDbMemory rocksDb,
        boolean watchModels,
        Shadowing shadow,
        Redactor seedRedactor,
        ModelSources modelSources,
        Api api,
        Replies replies) {

    /**
     * The one bound on RocksDB's off-heap memory for all state stores of the process (see
     * {@code BoundedRocksDbMemory}): a block cache of {@code totalBytes}, index and filter blocks included, of which
     * memtables may take {@code writeBufferBytes}.
     */
    public record RocksDbMemory(long totalBytes, long writeBufferBytes) {}

    /**
     * The management port.
     *
     * @param bind       the address it listens on (README, "Management port": this host only unless set)
     * @param port       -1: no management port
     * @param adminToken what its commands (promote, rollback) require; null: the commands are disabled
     */
    public record Management(String bind, int port, SecretValue adminToken) {}

    /**
     * The OpenAI-compatible moderation endpoint ({@code POST /v1/moderations}), off unless {@code api.port} is set;
     * it needs a bearer token. Its messages go through the topics like any other, under {@code tenant}.
     */
    public record Api(String bind, int port, SecretValue token, int maxInputs, Duration timeout, String tenant) {}

    /**
     * Moderation of streamed replies ({@code chat.reply-chunks}; README, "Streaming replies").
     *
     * @param maxOpen            replies held open per stream task; a reply that would exceed it gets its FINAL
     *                           verdict at once, incomplete (fail closed)
     * @param maxChars           characters per reply, held chunks included; past it the reply gets its FINAL verdict
     *                           on what arrived, incomplete
     * @param maxHeldChunks      chunks held ahead of a gap per reply; past it, the same
     * @param scoreEveryChars    the growing reply is scored when this many characters arrived since its last scoring
     * @param scoreAtSentenceEnd ... or when its text ends a sentence
     * @param stopAt             the decision (BLOCK, or REVIEW) at which an early STOP verdict is given
     * @param idleTimeout        a reply with no chunk for this long gets its FINAL verdict on what arrived
     * @param finalisedRetention how long a finalised reply's marker stays, so that its late chunks are ignored
     * @param decoderCache       score a reply's new text with a per-reply key/value cache when the model's bundle
     *                           has an incremental decoder graph (docs/reply-moderation-decoder.md); false: rescore
     * @param decoderCacheReplies the most reply caches a stream task keeps (least recently used evicted, rebuilt in
     *                           one pass when the reply goes on); each holds at most the model window's tokens
     */
    public record Replies(
            int maxOpen,
            int maxChars,
            int maxHeldChunks,
            int scoreEveryChars,
            boolean scoreAtSentenceEnd,
            Decision stopAt,
            Duration idleTimeout,
            Duration finalisedRetention,
            boolean decoderCache,
            int decoderCacheReplies) {

        /** The {@link #DEFAULTS}' values: for tests and tools that build a topology without a config file. */
        public static final Replies DEFAULT = replies(LayeredConfig.load(AppConfig.DEFAULTS, null, Map.of(), Set.of()));
    }

    /** Shadow scoring of candidate versions and the bounds for promoting one automatically. */
    public record Shadowing(
            float share, int minSamples, float minAgreement, float maxUnsafeRateDelta, boolean autoPromote) {}

    /**
     * What a version on the models topic must be to be served (see {@code TrustedArtifacts}): signed by one of the
     * {@code trustedKeys} (files or directories of Ed25519 public keys) unless {@code allowUnsigned}, and inside one
     * of the {@code artifactRoots}.
     */
    public record ModelSources(List<Path> trustedKeys, List<Path> artifactRoots, boolean allowUnsigned) {}

    public static final Map<String, String> DEFAULTS;

    static {
        Map<String, String> d = new LinkedHashMap<>();
        d.putAll(KafkaConnection.DEFAULTS); // kafka.bootstrap.servers and the client security keys
        d.putAll(RegistryConnection.DEFAULTS); // registry.url, its credentials and truststore, auto-register
        d.put("application.id", "duoguard-streams");
        d.put("processing.guarantee", "exactly_once_v2");
        d.putAll(Topics.Names.DEFAULTS.asConfig());
        d.put("models.watch", "true");
        d.put("seeds.redact", "true");
        d.put("models.trusted-keys", "");
        d.put("models.artifact-roots", "");
        d.put("models.allow-unsigned", "false");
        d.put("shadow.share", "0.2");
        d.put("shadow.min-samples", "500");
        d.put("shadow.min-agreement", "0.9");
        d.put("shadow.max-unsafe-rate-delta", "0.05");
        d.put("shadow.auto-promote", "true");
        d.put("topics.partitions", "4");
        d.put("topics.create", "true");
        d.put("model.path", "");
        d.put("model.device", "auto");
        d.put("model.threads", "0");
        d.put("scoring.max-batch", "32");
        d.put("scoring.max-wait-ms", "10");
        d.put("scoring.timeout-ms", "10000");
        d.put("scoring.batch-deadline-ms", "15000");
        d.put("scoring.retries", "2");
        d.put("registry.retry-budget-ms", "15000");
        d.put("input.max-text-chars", "32768");
        d.put("policy.review-threshold", "0.3");
        d.put("policy.block-threshold", "");
        d.put("policy.uncertainty-band", "0.1");
        d.put("policy.fail-closed", "REVIEW");
        d.put("tenants.allowed", "");
        d.put("feedback.join-window-hours", "48");
        d.put("feedback.tenants", "*");
        d.put("language.codes", "en,fr,es,de");
        d.put("language.low-accuracy", "false");
        d.put("language.detect", "true");
        d.put("language.threads", "0");
        d.put("http.port", "8081");
        d.put("http.bind", "127.0.0.1");
        d.put("http.admin-token", "");
        d.put("http.admin-token.file", "");
        d.put("api.port", "-1");
        d.put("api.bind", "127.0.0.1");
        d.put("api.token", "");
        d.put("api.token.file", "");
        d.put("api.max-inputs", "32");
        d.put("api.timeout-ms", "5000");
        d.put("api.tenant", "api");
        d.put("replies.max-open", "10000");
        d.put("replies.max-chars", "32768");
        d.put("replies.max-held-chunks", "256");
        d.put("replies.score-every-chars", "200");
        d.put("replies.score-at-sentence-end", "true");
        d.put("replies.stop-at", "BLOCK");
        d.put("replies.idle-timeout-ms", "30000");
        d.put("replies.finalised-retention-ms", "600000");
        d.put("replies.decoder-cache", "true");
        d.put("replies.decoder-cache-replies", "64");
        d.put("state.dir", System.getProperty("java.io.tmpdir") + "/duoguard-streams");
        d.put("state.rocksdb.memory-mb", "64");
        d.put("state.rocksdb.write-buffer-share", "0.5");
        DEFAULTS = Map.copyOf(d);
    }

    /**
     * {@code seeds.redact.pattern.<name> = regex}: the operator's own redaction patterns, each match replaced by
     * {@code [NAME]} (the name upper-cased, dots and dashes as underscores, so that {@code employee-id} and
     * {@code DUOGUARD_SEEDS_REDACT_PATTERN_EMPLOYEE_ID} both give {@code [EMPLOYEE_ID]}).
     */
    public static final String REDACT_PATTERN_PREFIX = "seeds.redact.pattern.";

    /** Keys under these prefixes are free-form: Kafka Streams properties, per-category/per-tenant policy, redaction. */
    public static final Set<String> OPEN_PREFIXES = Set.of("streams.", "policy.", REDACT_PATTERN_PREFIX);

    /**
     * Language identification (see {@code LanguageDetection}).
     *
     * @param detect  false: no detection, a message's language is its hint or "und"
     * @param threads 0: on the stream thread; more: on that many threads of their own, a batch spread over them
     */
    public record Languages(List<String> codes, boolean lowAccuracy, boolean detect, int threads) {}

    /**
     * @param maxBatch      texts per model call
     * @param maxWait       longest a buffered text waits for its batch
     * @param timeout       bound on one model call
     * @param retries       extra attempts of a batch whose model call failed (not timed out)
     * @param batchDeadline every message of a flushed batch has its verdict within this (scored, or fail-closed
     *                      with MODEL_TIMEOUT), so a flush always ends inside the transaction timeout
     */
    public record Scoring(int maxBatch, Duration maxWait, Duration timeout, int retries, Duration batchDeadline) {}

    /**
     * The producer transaction timeout the app sets under exactly-once unless {@code
     * streams.producer.transaction.timeout.ms} says otherwise (Kafka Streams' own default is 10 s). A flush must end
     * well inside it, or the broker aborts the transaction and the batch is replayed forever; a longer timeout
     * lets read_committed readers of chat.verdicts wait that long after an instance dies mid-transaction.
     */
    public static final long TRANSACTION_TIMEOUT_MS = 30_000;

    public static LayeredConfig layered(Path file, Map<String, String> env) {
        return LayeredConfig.load(DEFAULTS, file, env, OPEN_PREFIXES);
    }

    /**
     * The typed configuration. It does not depend on the model: a BLOCK threshold the operator does not set
     * follows the model that scores each message (see {@link #policy}), so a swapped-in model brings its own.
     */
    public static AppConfig from(LayeredConfig c) {
        checkWaitsAreBounded(c);
        String guarantee = c.oneOf("processing.guarantee", Set.of("exactly_once_v2", "at_least_once"));
        String languages = c.string("language.codes");
        String model = c.string("model.path");
        ExecutionDevice device;
        try {
            device = ExecutionDevice.parse(c.string("model.device"));
        } catch (IllegalArgumentException e) {
            throw new ConfigException(
                    "config key 'model.device': " + e.getMessage() + " (from " + c.origin("model.device") + ")");
        }
        return new AppConfig(
                KafkaConnection.from(c),
                RegistryConnection.from(c),
                c.required("application.id"),
                guarantee,
                c.withPrefix("streams."),
                Topics.Names.from(c),
                c.integer("topics.partitions", 1, 10_000),
                c.bool("topics.create"),
                model.isBlank() ? null : Path.of(model),
                device,
                c.integer("model.threads", 0, 1024),
                new Scoring(
                        c.integer("scoring.max-batch", 1, 4096),
                        Duration.ofMillis(c.integer("scoring.max-wait-ms", 1, 60_000)),
                        Duration.ofMillis(c.integer("scoring.timeout-ms", 100, 240_000)),
                        c.integer("scoring.retries", 0, 10),
                        Duration.ofMillis(c.integer("scoring.batch-deadline-ms", 100, 600_000))),
                Duration.ofMillis(c.integer("registry.retry-budget-ms", 0, 600_000)),
                c.integer("input.max-text-chars", 1, 10_000_000),
                policy(c),
                Duration.ofHours(c.integer("feedback.join-window-hours", 1, 24 * 365)),
                feedbackTenants(c),
                new Languages(
                        List.of(languages.split("\\s*,\\s*")),
                        c.bool("language.low-accuracy"),
                        c.bool("language.detect"),
                        languageThreads(c)),
                new Management(
                        c.required("http.bind"),
                        c.integer("http.port", -1, 65535),
                        SecretValue.read(c, "http.admin-token")),
                Path.of(c.required("state.dir")),
                rocksDbMemory(c),
                c.bool("models.watch"),
                new Shadowing(
                        c.decimal("shadow.share", 0f, 1f),
                        c.integer("shadow.min-samples", 1, 100_000_000),
                        c.decimal("shadow.min-agreement", 0f, 1f),
                        c.decimal("shadow.max-unsafe-rate-delta", 0f, 1f),
                        c.bool("shadow.auto-promote")),
                seedRedactor(c),
                modelSources(c),
                api(c),
                replies(c));
    }

    static Replies replies(LayeredConfig c) {
        return new Replies(
                c.integer("replies.max-open", 1, 10_000_000),
                c.integer("replies.max-chars", 1, 10_000_000),
                c.integer("replies.max-held-chunks", 1, 1_000_000),
                c.integer("replies.score-every-chars", 1, 10_000_000),
                c.bool("replies.score-at-sentence-end"),
                Decision.valueOf(c.oneOf("replies.stop-at", Set.of("REVIEW", "BLOCK"))),
                Duration.ofMillis(c.integer("replies.idle-timeout-ms", 100, 24 * 3_600_000)),
                Duration.ofMillis(c.integer("replies.finalised-retention-ms", 0, 7 * 24 * 3_600_000)),
                c.bool("replies.decoder-cache"),
                c.integer("replies.decoder-cache-replies", 1, 1_000_000));
    }

    private static Api api(LayeredConfig c) {
        Api api = new Api(
                c.required("api.bind"),
                c.integer("api.port", -1, 65535),
                SecretValue.read(c, "api.token"),
                c.integer("api.max-inputs", 1, 4096),
                Duration.ofMillis(c.integer("api.timeout-ms", 100, 600_000)),
                c.required("api.tenant"));
        if (api.port() >= 0 && api.token() == null) {
            throw new ConfigException("api.port is set but no api.token (or api.token.file): the moderation"
                    + " endpoint only answers callers with its bearer token; set one, or api.port=-1 to turn it off");
        }
        if (api.token() != null && api.token().value().length() < AdminToken.MIN_LENGTH) {
            throw new ConfigException("api.token must have at least " + AdminToken.MIN_LENGTH
                    + " characters (it could be guessed through the port); it has "
                    + api.token().value().length());
        }
        return api;
    }

    /** {@code models.trusted-keys}, {@code models.artifact-roots}, {@code models.allow-unsigned}; also read by the
     * {@code models} command, which checks a version as the instances will before it promotes it. */
    public static ModelSources modelSources(LayeredConfig c) {
        return new ModelSources(
                paths(c.string("models.trusted-keys")),
                paths(c.string("models.artifact-roots")),
                c.bool("models.allow-unsigned"));
    }

    /** {@code language.threads}, refused when set explicitly while detection is off (it would do nothing). */
    static int languageThreads(LayeredConfig c) {
        int threads = c.integer("language.threads", 0, 256);
        // the default applies to detection; an operator's own value with detection off is a misunderstanding
        if (threads > 0
                && !c.bool("language.detect")
                && !c.origin("language.threads").equals("default")) {
            throw new ConfigException("language.threads (from " + c.origin("language.threads")
                    + ") has no effect with language.detect=false: remove it or turn detection on");
        }
        return threads;
    }

    /**
     * {@code feedback.tenants}: the tenants whose messages can receive feedback, comma-separated; {@code *} (the
     * default) is every tenant, an empty value none. Only their scored messages go through the feedback join (a
     * repartition record and a join-store write each): the rest skip it. Null means every tenant.
     */
    static Set<String> feedbackTenants(LayeredConfig c) {
        String v = c.string("feedback.tenants").trim();
        if (v.equals("*")) {
            return null;
        }
        Set<String> tenants = new TreeSet<>();
        for (String t : v.split(",")) {
            String tenant = t.trim();
            if (tenant.equals("*")) {
                throw new ConfigException("feedback.tenants (from " + c.origin("feedback.tenants")
                        + ") mixes '*' with tenant names: use '*' alone for every tenant, or list them");
            }
            if (!tenant.isEmpty()) {
                tenants.add(tenant);
            }
        }
        Set<String> allowed = new TreeSet<>();
        for (String t : c.string("tenants.allowed").split(",")) {
            if (!t.isBlank()) {
                allowed.add(t.trim());
            }
        }
        if (!allowed.isEmpty() && !allowed.containsAll(tenants)) {
            Set<String> unknown = new TreeSet<>(tenants);
            unknown.removeAll(allowed);
            // a typo here would dead-letter a real tenant's feedback
            throw new ConfigException("feedback.tenants (from " + c.origin("feedback.tenants") + ") names " + unknown
                    + ", not in tenants.allowed: fix the name or add the tenant to tenants.allowed");
        }
        return Set.copyOf(tenants);
    }

    /**
     * What redacts seed text before it goes to the seeds topic (the trainer reads that topic; raw chat text should
     * not travel there): the built-in patterns plus the operator's, or null when {@code seeds.redact} is false.
     */
    static Redactor seedRedactor(LayeredConfig c) {
        Map<String, String> raw = c.withPrefix(REDACT_PATTERN_PREFIX);
        if (!c.bool("seeds.redact")) {
            if (!raw.isEmpty()) {
                throw new ConfigException("config keys " + REDACT_PATTERN_PREFIX + "* are set but seeds.redact is false"
                        + " (from " + c.origin("seeds.redact") + "): remove them or turn redaction on");
            }
            return null;
        }
        Map<String, Pattern> patterns = new LinkedHashMap<>();
        raw.forEach((name, regex) -> {
            String key = REDACT_PATTERN_PREFIX + name;
            try {
                patterns.put(name.toUpperCase(Locale.ROOT).replaceAll("[.-]", "_"), Pattern.compile(regex));
            } catch (PatternSyntaxException e) {
                throw new ConfigException("config key '" + key + "': not a regular expression (" + e.getDescription()
                        + ") (from " + c.origin(key) + ")");
            }
        });
        try {
            return new Redactor(patterns);
        } catch (IllegalArgumentException e) {
            throw new ConfigException("config keys " + REDACT_PATTERN_PREFIX + "*: " + e.getMessage());
        }
    }

    /** A comma-separated list of paths; blank: none. */
    private static List<Path> paths(String value) {
        return Arrays.stream(value.split(","))
                .map(String::trim)
                .filter(v -> !v.isEmpty())
                .map(Path::of)
                .toList();
    }

    /** At least 8 MB, and a write-buffer share in [0.1, 0.9], so that neither memtables nor block reads starve. */
    static RocksDbMemory rocksDbMemory(LayeredConfig c) {
        long total = c.integer("state.rocksdb.memory-mb", 8, 1024 * 1024) * 1024L * 1024L;
        float share = c.decimal("state.rocksdb.write-buffer-share", 0.1f, 0.9f);
        return new RocksDbMemory(total, (long) (total * (double) share));
    }

    /**
     * Waits on the stream thread must end well inside the limits that would otherwise abort or fence it: a flush
     * (bounded by {@code scoring.batch-deadline-ms}) and a wait for an unreachable registry (bounded by {@code
     * registry.retry-budget-ms}) each take at most half of {@code max.poll.interval.ms} and, under exactly-once,
     * half of the producer's transaction timeout. Past either limit the broker would abort the transaction or
     * fence the thread, the batch would be replayed, and the replay would hit the same limit: a livelock.
     */
    static void checkWaitsAreBounded(LayeredConfig c) {
        long timeout = c.integer("scoring.timeout-ms", 100, 240_000);
        long deadline = c.integer("scoring.batch-deadline-ms", 100, 600_000);
        long registry = c.integer("registry.retry-budget-ms", 0, 600_000);
        if (timeout > deadline) {
            throw new ConfigException("scoring.timeout-ms (" + timeout + ") must not exceed scoring.batch-deadline-ms ("
                    + deadline + "): one model call has to fit in the batch's deadline");
        }
        Map<String, String> streams = c.withPrefix("streams.");
        long maxPoll = longValue(streams, "max.poll.interval.ms", 300_000);
        checkHalf("scoring.batch-deadline-ms", deadline, "streams.max.poll.interval.ms", maxPoll);
        checkHalf("registry.retry-budget-ms", registry, "streams.max.poll.interval.ms", maxPoll);
        if (c.string("processing.guarantee").startsWith("exactly_once")) {
            long txn = longValue(streams, "producer.transaction.timeout.ms", TRANSACTION_TIMEOUT_MS);
            checkHalf("scoring.batch-deadline-ms", deadline, "streams.producer.transaction.timeout.ms", txn);
            checkHalf("registry.retry-budget-ms", registry, "streams.producer.transaction.timeout.ms", txn);
        }
    }

    private static void checkHalf(String key, long value, String limitKey, long limit) {
        if (value * 2 > limit) {
            throw new ConfigException(key + " (" + value + " ms) must be at most half of " + limitKey + " (" + limit
                    + " ms), or a slow model or registry gets the transaction aborted or the thread fenced and the "
                    + "same batch replayed forever; lower " + key + " or raise " + limitKey);
        }
    }

    private static long longValue(Map<String, String> values, String key, long fallback) {
        String v = values.get(key);
        if (v == null || v.isBlank()) {
            return fallback;
        }
        try {
            return Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            throw new ConfigException("config key 'streams." + key + "' must be an integer but is '" + v + "'");
        }
    }

    /**
     * Builds the decision policy: BLOCK thresholds default to the model's own for the message's language (the
     * manifest's calibrated thresholds, DuoGuard's 0.5 without them), taken from the model that scored the batch;
     * REVIEW to {@code policy.review-threshold} (never above BLOCK). Operator values win: {@code
     * policy.block-threshold}, per category {@code policy.block.<category>}, {@code policy.review.<category>}; per
     * tenant {@code policy.tenant.<tenant>.block[.<category>]} and {@code .review[.<category>]}. A non-empty
     * {@code tenants.allowed} (comma-separated) gives every other tenant the strictest policy (see {@link
     * DecisionPolicy}); a tenant with its own policy keys must then be on it, or its keys would never apply.
     */
    static DecisionPolicy policy(LayeredConfig c) {
        float review = c.decimal("policy.review-threshold", 0.001f, 1f);
        Thresholds base = Thresholds.followingModel(review);
        if (!c.string("policy.block-threshold").isBlank()) {
            float block = c.decimal("policy.block-threshold", 0.001f, 1f);
            float[] blocks = new float[SafetyCategory.COUNT];
            float[] reviews = new float[SafetyCategory.COUNT];
            Arrays.fill(blocks, block);
            Arrays.fill(reviews, Math.min(review, block));
            base = new Thresholds(reviews, blocks);
        }
        Map<String, String> raw = c.withPrefix("policy.");
        Thresholds defaults = applyOverrides(base, raw, "", c);
        Set<String> tenants = new TreeSet<>();
        for (String k : raw.keySet()) {
            if (k.startsWith("tenant.")) {
                String rest = k.substring("tenant.".length());
                int dot = rest.indexOf('.');
                if (dot <= 0) {
                    throw new ConfigException(
                            "config key 'policy." + k + "' must look like policy.tenant.<tenant>.block[.<category>]");
                }
                String level = rest.substring(dot + 1);
                if (!level.equals("fail-closed") && !level.matches("(block|review)(\\..+)?")) {
                    throw new ConfigException("unknown config key 'policy." + k
                            + "': a tenant sets block[.<category>], " + "review[.<category>] or fail-closed");
                }
                tenants.add(rest.substring(0, dot));
            } else if (!Set.of("review-threshold", "block-threshold", "uncertainty-band", "fail-closed")
                            .contains(k)
                    && !k.startsWith("block.")
                    && !k.startsWith("review.")) {
                throw new ConfigException("unknown config key 'policy." + k + "'");
            }
        }
        Map<String, Thresholds> perTenant = new HashMap<>();
        Map<String, Decision> failClosedPerTenant = new HashMap<>();
        for (String tenant : tenants) {
            perTenant.put(tenant, applyOverrides(defaults, raw, "tenant." + tenant + ".", c));
            String key = "policy.tenant." + tenant + ".fail-closed";
            if (raw.containsKey("tenant." + tenant + ".fail-closed")) {
                failClosedPerTenant.put(tenant, failClosed(c, key));
            }
        }
        Set<String> allowed = new TreeSet<>();
        for (String t : c.string("tenants.allowed").split(",")) {
            if (!t.isBlank()) {
                allowed.add(t.trim());
            }
        }
        if (!allowed.isEmpty() && !allowed.containsAll(tenants)) {
            Set<String> missing = new TreeSet<>(tenants);
            missing.removeAll(allowed);
            throw new ConfigException(
                    "config keys policy.tenant." + missing.iterator().next()
                            + ".* are set but tenants.allowed (from " + c.origin("tenants.allowed") + ") does not list "
                            + missing + ": add them or remove their keys");
        }
        return new DecisionPolicy(
                defaults,
                perTenant,
                c.decimal("policy.uncertainty-band", 0f, 0.49f),
                failClosed(c, "policy.fail-closed"),
                failClosedPerTenant,
                allowed);
    }

    /** REVIEW or BLOCK: what cannot be read or scored is never allowed. */
    private static Decision failClosed(LayeredConfig c, String key) {
        return Decision.valueOf(c.oneOf(key, Set.of("REVIEW", "BLOCK")));
    }

    private static Thresholds applyOverrides(Thresholds base, Map<String, String> raw, String prefix, LayeredConfig c) {
        float[] review = base.review().clone();
        float[] block = base.block().clone();
        boolean[] followsModel = base.blockFollowsModel().clone();
        for (Map.Entry<String, String> e : raw.entrySet()) {
            if (!e.getKey().startsWith(prefix)) {
                continue;
            }
            String rest = e.getKey().substring(prefix.length());
            String fullKey = "policy." + e.getKey();
            String level = rest.contains(".") ? rest.substring(0, rest.indexOf('.')) : rest;
            if (!level.equals("block") && !level.equals("review")) {
                continue;
            }
            float value = c.decimal(fullKey, 0.001f, 1f);
            float[] target = level.equals("block") ? block : review;
            if (rest.equals(level)) {
                Arrays.fill(target, value);
                if (level.equals("block")) {
                    Arrays.fill(followsModel, false);
                }
            } else {
                String category = rest.substring(level.length() + 1);
                int i;
                try {
                    i = SafetyCategory.parse(category).ordinal();
                } catch (IllegalArgumentException ex) {
                    throw new ConfigException("config key '" + fullKey + "': " + ex.getMessage());
                }
                target[i] = value;
                if (level.equals("block")) {
                    followsModel[i] = false;
                }
            }
        }
        try {
            return new Thresholds(review, block, followsModel);
        } catch (IllegalArgumentException ex) {
            throw new ConfigException(
                    "policy thresholds" + (prefix.isEmpty() ? "" : " of " + prefix) + ": " + ex.getMessage());
        }
    }
}
