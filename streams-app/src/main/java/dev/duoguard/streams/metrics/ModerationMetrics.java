package dev.duoguard.streams.metrics;

import dev.duoguard.runtime.scoring.Scorer;
import dev.duoguard.schemas.Category;
import dev.duoguard.schemas.SeedReason;
import dev.duoguard.schemas.Verdict;
import dev.duoguard.streams.topology.DeadLetter;
import dev.duoguard.streams.topology.ModerationListener;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.Locale;

/**
 * Prometheus metrics of moderation: verdicts by decision and language, fired categories, dead letters by reason,
 * seeds by reason, end-to-end scoring latency, model time per flush, messages per flush, and an info gauge
 * with the serving model's name and version.
 */
public final class ModerationMetrics implements ModerationListener {

    private final Counter verdicts;
    private final Counter categories;
    private final Counter deadLetters;
    private final Counter seeds;
    private final Counter failClosed;
    private final Counter unknownTenants;
    private final Counter feedbackRejected;
    private final Histogram latency;
    private final Histogram batchSize;
    private final Histogram modelSeconds;
    private final Histogram modelCallSize;
    private final Gauge modelInfo;
    private final Counter modelEvents;
    private final Gauge openReplies;
    private final Counter replyVerdicts;
    private final Counter replyChunks;

    public ModerationMetrics(PrometheusRegistry registry) {
        verdicts = Counter.builder()
                .name("duoguard_verdicts_total")
                .help("Verdicts emitted, by decision, role and detected language")
                .labelNames("decision", "role", "language")
                .register(registry);
        categories = Counter.builder()
                .name("duoguard_category_fired_total")
                .help("Categories at or above their REVIEW threshold, by category and language")
                .labelNames("category", "language")
                .register(registry);
        deadLetters = Counter.builder()
                .name("duoguard_dead_letters_total")
                .help("Records sent to the dead-letter topic, by reason and source topic")
                .labelNames("reason", "topic")
                .register(registry);
        failClosed = Counter.builder()
                .name("duoguard_fail_closed_verdicts_total")
                .help("Verdicts given without scoring (the tenant's fail-closed decision), by reason")
                .labelNames("reason")
                .register(registry);
        unknownTenants = Counter.builder()
                .name("duoguard_unknown_tenant_total")
                .help("Verdicts for a tenant not on tenants.allowed, decided with the strictest policy")
                .register(registry);
        feedbackRejected = Counter.builder()
                .name("duoguard_feedback_rejected_total")
                .help("Feedback that joined a scored message but made no seed, by reason (tenant_mismatch: the "
                        + "feedback's tenant is not the message's); feedback without a tenant is dead-lettered")
                .labelNames("reason")
                .register(registry);
        seeds = Counter.builder()
                .name("duoguard_seeds_total")
                .help("Seeds emitted for the trainer, by reason")
                .labelNames("reason")
                .register(registry);
        latency = Histogram.builder()
                .name("duoguard_scoring_latency_seconds")
                .help("From a message reaching the scorer to its verdict (batching wait + model time)")
                .classicUpperBounds(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
                .register(registry);
        batchSize = Histogram.builder()
                .name("duoguard_batch_size")
                .help("Messages per scoring flush")
                .classicUpperBounds(1, 2, 4, 8, 16, 32, 64, 128, 256)
                .register(registry);
        modelSeconds = Histogram.builder()
                .name("duoguard_batch_model_seconds")
                .help("Model time (tokenize + ONNX + policy) per scoring flush")
                .classicUpperBounds(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
                .register(registry);
        modelCallSize = Histogram.builder()
                .name("duoguard_model_call_size")
                .help("Texts per model call: the batcher merges concurrent flushes (stream threads) into one call")
                .classicUpperBounds(1, 2, 4, 8, 16, 32, 64, 128, 256)
                .register(registry);
        modelInfo = Gauge.builder()
                .name("duoguard_model")
                .help("The model this instance serves (value 1)")
                .labelNames("name", "version", "device")
                .register(registry);
        modelEvents = Counter.builder()
                .name("duoguard_model_events_total")
                .help("Model version events on this instance: swapped, failed (an ACTIVE version that did not verify "
                        + "or load), shadow_failed (a candidate that did not), shadow_promoted, shadow_rejected, "
                        + "undecodable (a models-topic record skipped), watcher_failed (the watcher restarted), "
                        + "crashed (a version the previous process died loading or shadowing), skipped (a version "
                        + "not tried because it crashed this instance)")
                .labelNames("event")
                .register(registry);
        openReplies = Gauge.builder()
                .name("duoguard_replies_open")
                .help("Streamed replies held open on this instance (chunks assembled, no FINAL verdict yet)")
                .register(registry);
        replyVerdicts = Counter.builder()
                .name("duoguard_reply_verdicts_total")
                .help("Verdicts of streamed replies, by stage (stop, final) and whether the FINAL was given on part "
                        + "of the reply (incomplete: idle timeout, a missing chunk, a bound or a bad chunk)")
                .labelNames("stage", "incomplete")
                .register(registry);
        replyChunks = Counter.builder()
                .name("duoguard_reply_chunks_irregular_total")
                .help("Reply chunks not assembled as they came: duplicate (ignored), out_of_order (held until the "
                        + "gap is filled), late (its reply already had its FINAL verdict; ignored)")
                .labelNames("kind")
                .register(registry);
    }

    /** Counts a model version event ({@link dev.duoguard.streams.model.ModelWatcher.Event}). */
    public void modelEvent(String event) {
        modelEvents.labelValues(event).inc();
    }

    public void model(Scorer.ModelIdentity model) {
        modelInfo.clear();
        modelInfo.labelValues(model.name(), model.version(), model.device()).set(1);
    }

    @Override
    public void verdict(Verdict v) {
        verdicts.labelValues(v.getDecision().name(), v.getRole().name(), v.getLanguage())
                .inc();
        for (Category c : v.getFiredCategories()) {
            categories
                    .labelValues(c.name().toLowerCase(Locale.ROOT), v.getLanguage())
                    .inc();
        }
        latency.observe(v.getScoringLatencyUs() / 1e6);
    }

    @Override
    public void deadLetter(DeadLetter reason, String sourceTopic) {
        deadLetters.labelValues(reason.metricLabel(), sourceTopic).inc();
    }

    @Override
    public void failClosed(DeadLetter reason) {
        failClosed.labelValues(reason.metricLabel()).inc();
    }

    @Override
    public void unknownTenant() {
        unknownTenants.inc();
    }

    @Override
    public void feedbackTenantMismatch() {
        feedbackRejected.labelValues("tenant_mismatch").inc();
    }

    @Override
    public void seed(SeedReason reason) {
        seeds.labelValues(reason.name()).inc();
    }

    /** One model call of the live model's batcher, of {@code texts} texts (windows of long texts count once). */
    public void modelCall(int texts) {
        modelCallSize.observe(texts);
    }

    @Override
    public void openReplies(int delta) {
        openReplies.inc(delta);
    }

    @Override
    public void replyStop() {
        replyVerdicts.labelValues("stop", "false").inc();
    }

    @Override
    public void replyFinal(boolean incomplete) {
        replyVerdicts.labelValues("final", Boolean.toString(incomplete)).inc();
    }

    @Override
    public void replyChunk(String kind) {
        replyChunks.labelValues(kind).inc();
    }

    @Override
    public void batch(int messages, long modelMicros) {
        batchSize.observe(messages);
        modelSeconds.observe(modelMicros / 1e6);
    }
}
