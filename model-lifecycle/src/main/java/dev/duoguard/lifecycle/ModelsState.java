package dev.duoguard.lifecycle;

import dev.duoguard.lifecycle.ModelAction.Ignore;
import dev.duoguard.lifecycle.ModelAction.Promote;
import dev.duoguard.lifecycle.ModelAction.Reject;
import dev.duoguard.lifecycle.ModelAction.Serve;
import dev.duoguard.lifecycle.ModelAction.StartShadow;
import dev.duoguard.lifecycle.ModelAction.StopShadow;
import dev.duoguard.schemas.ModelVersion;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * What one serving instance knows of {@code guardrail.models}, and what it does about each record: the reading
 * side of the protocol as pure functions, this state and an input in, a {@link Step} (the next state and the
 * {@link ModelAction}s to carry out) out. No Kafka, no files, no clock: the model watcher polls, decodes, feeds
 * each record to {@link #onRecord} and carries out the actions. The rules:
 * <ul>
 * <li>While catching up (reading the topic to the end it had at the start) history is not replayed: only the
 * newest ACTIVE pointer and the newest CANDIDATE are remembered. {@link #onCaughtUp} serves that pointer (unless
 * it is what serves already) and then shadows that candidate if it was published after the pointer.</li>
 * <li>A FAILED record coming after the remembered pointer or candidate cancels it: it was tried and failed, most
 * likely by this instance's start-up (which tries the newest ACTIVE version first), and trying again would fail
 * again. The pointer written again later (an operator promoting the version again) counts again.</li>
 * <li>Caught up, each ACTIVE pointer for another version than the one serving is served. A pointer for the
 * version being shadowed (promoted here, by another instance or by an operator) stops the shadow first.</li>
 * <li>A CANDIDATE of this model (with shadowing on) replaces the shadow, unless that is the same bundle.</li>
 * <li>A FAILED record for the shadowed version stops the shadow: the first verdict wins, whoever reached it. A
 * FAILED record for the serving version changes nothing, nor does a tombstone: what serves keeps serving until
 * ACTIVE points elsewhere (a guardrail never unloads into nothing).</li>
 * <li>With auto-promotion the shadow's comparisons decide ({@link #onShadowStats}): inside the bounds it is
 * promoted (its ACTIVE pointer written, which comes back as a record and is then served), outside it is
 * rejected (marked FAILED).</li>
 * </ul>
 * The state assumes that its actions succeed. Before each input the watcher tells it what really serves and what
 * is really shadowed ({@link #observe}), so a load that failed, or a model swapped in by other means, is seen as
 * it is. Versions that crashed the process before are the watcher's to skip (it keeps the attempt markers).
 *
 * @param serving         the version serving now
 * @param shadow          the candidate being shadow-scored, or null
 * @param caughtUp        the topic was read to the end it had at the start, and acted on
 * @param pendingPointer  while catching up: the newest ACTIVE pointer not failed since, or null
 * @param pendingCandidate while catching up: the newest candidate not failed since, or null
 */
public record ModelsState(
        Policy policy,
        ModelKey serving,
        ModelVersion shadow,
        boolean caughtUp,
        ModelVersion pendingPointer,
        ModelVersion pendingCandidate) {

    /** The model this instance serves, and whether and how it shadow-scores candidates of it. */
    public record Policy(String model, boolean shadowCandidates, boolean autoPromote, ShadowStats.Bounds bounds) {

        public Policy {
            Objects.requireNonNull(model, "model");
            if (autoPromote && bounds == null) {
                throw new IllegalArgumentException("auto-promotion needs bounds");
            }
        }

        /** Follows the ACTIVE pointer only. */
        public static Policy servingOnly(String model) {
            return new Policy(model, false, false, null);
        }

        /** Also shadow-scores candidates; with {@code autoPromote}, promotes or rejects them inside {@code bounds}. */
        public static Policy shadowing(String model, ShadowStats.Bounds bounds, boolean autoPromote) {
            return new Policy(model, true, autoPromote, bounds);
        }
    }

    /** The state after an input, and what to do about it (in order). */
    public record Step(ModelsState state, List<ModelAction> actions) {

        public Step {
            actions = List.copyOf(actions);
        }
    }

    public ModelsState {
        Objects.requireNonNull(policy, "policy");
        Objects.requireNonNull(serving, "serving");
        if (!serving.name().equals(policy.model())) {
            throw new IllegalArgumentException("serving " + serving + ", not a version of " + policy.model());
        }
    }

    /** A state catching up from the start of the topic while {@code servingVersion} serves. */
    public static ModelsState catchingUp(Policy policy, String servingVersion) {
        return new ModelsState(policy, new ModelKey(policy.model(), servingVersion), null, false, null, null);
    }

    /** This state with what really serves and what is really shadowed now ({@code shadowed} may be null). */
    public ModelsState observe(String servingVersion, ModelVersion shadowed) {
        return new ModelsState(
                policy,
                new ModelKey(policy.model(), servingVersion),
                shadowed,
                caughtUp,
                pendingPointer,
                pendingCandidate);
    }

    /** A record read from the topic: its key and value, null for a tombstone. */
    public Step onRecord(String key, ModelVersion value) {
        if (value == null) {
            return key.equals(policy.model())
                    ? ignore("a tombstone for the ACTIVE pointer of " + key + ": nothing is unloaded")
                    : nothing();
        }
        if (!policy.model().equals(value.getModelName())) {
            return nothing();
        }
        return switch (value.getStatus()) {
            case ACTIVE -> ModelsTopic.isActivePointer(key, value, policy.model()) ? onPointer(value) : nothing();
            case CANDIDATE -> onCandidate(value);
            case FAILED -> onFailed(value);
            default -> nothing(); // SHADOW, RETIRED: not written by anyone this side acts on
        };
    }

    /** The topic was read to the end it had at the start: act on what was remembered. */
    public Step onCaughtUp() {
        if (caughtUp) {
            return nothing();
        }
        Step step = new Step(new ModelsState(policy, serving, shadow, true, null, null), List.of());
        if (pendingPointer != null) {
            step = step.state().serve(pendingPointer);
        }
        if (pendingCandidate != null) {
            Step next;
            if (pendingPointer != null && !pendingCandidate.getCreatedAt().isAfter(pendingPointer.getCreatedAt())) {
                next = step.state()
                        .ignore(ModelKey.of(pendingCandidate) + " was published before the ACTIVE " + "pointer to "
                                + ModelKey.of(pendingPointer) + ": not shadowed");
            } else {
                next = step.state().onCandidate(pendingCandidate);
            }
            step = new Step(next.state(), concat(step.actions(), next.actions()));
        }
        return step;
    }

    /** The shadow's comparisons so far: with auto-promotion, promotes or rejects it once they decide. */
    public Step onShadowStats(ShadowStats stats) {
        if (shadow == null || !policy.autoPromote()) {
            return nothing();
        }
        ModelsState unshadowed = new ModelsState(policy, serving, null, caughtUp, pendingPointer, pendingCandidate);
        return switch (stats.decide(policy.bounds())) {
            case WAIT -> nothing();
            case PROMOTE ->
                new Step(
                        unshadowed,
                        List.of(
                                new StopShadow(shadow, "inside the shadow bounds"),
                                new Promote(shadow, "promoted automatically; " + stats.summary())));
            case REJECT ->
                new Step(
                        unshadowed,
                        List.of(
                                new StopShadow(shadow, "outside the shadow bounds"),
                                new Reject(shadow, "rejected by shadow scoring; " + stats.summary())));
        };
    }

    private Step onPointer(ModelVersion pointer) {
        if (!caughtUp) {
            return new Step(new ModelsState(policy, serving, shadow, false, pointer, pendingCandidate), List.of());
        }
        return serve(pointer);
    }

    /** Serves {@code pointer} unless it serves already; a shadow of the same version is stopped first. */
    private Step serve(ModelVersion pointer) {
        ModelKey key = ModelKey.of(pointer);
        List<ModelAction> actions = new ArrayList<>();
        ModelVersion shadowNext = shadow;
        if (is(shadow, key)) {
            actions.add(new StopShadow(shadow, "it is ACTIVE now"));
            shadowNext = null;
        }
        ModelKey servingNext = serving;
        if (key.equals(serving)) {
            actions.add(new Ignore(key + " is ACTIVE and serves here already"));
        } else {
            actions.add(new Serve(pointer));
            servingNext = key;
        }
        return new Step(
                new ModelsState(policy, servingNext, shadowNext, caughtUp, pendingPointer, pendingCandidate), actions);
    }

    private Step onCandidate(ModelVersion candidate) {
        if (!policy.shadowCandidates()) {
            return nothing();
        }
        ModelKey key = ModelKey.of(candidate);
        if (key.equals(serving)) {
            return ignore(key + " is published as a candidate but serves here already");
        }
        if (!caughtUp) {
            return new Step(new ModelsState(policy, serving, shadow, false, pendingPointer, candidate), List.of());
        }
        // the same record read again, or the same bundle published again: shadowing it again would only start
        // its comparisons over
        if (is(shadow, key) && shadow.getSha256().equals(candidate.getSha256())) {
            return ignore("shadow-scoring " + key + " already");
        }
        return new Step(
                new ModelsState(policy, serving, candidate, true, pendingPointer, pendingCandidate),
                List.of(new StartShadow(candidate)));
    }

    private Step onFailed(ModelVersion failed) {
        ModelKey key = ModelKey.of(failed);
        List<ModelAction> actions = new ArrayList<>();
        ModelVersion shadowNext = shadow;
        if (is(shadow, key)) {
            actions.add(new StopShadow(shadow, "marked FAILED on the models topic (" + failed.getStatusReason() + ")"));
            shadowNext = null;
        } else if (key.equals(serving)) {
            actions.add(new Ignore(key + " was marked FAILED (" + failed.getStatusReason() + ") but serves here: it "
                    + "keeps serving until ACTIVE points elsewhere"));
        }
        ModelVersion pointerNext = is(pendingPointer, key) ? null : pendingPointer;
        ModelVersion candidateNext = is(pendingCandidate, key) ? null : pendingCandidate;
        return new Step(new ModelsState(policy, serving, shadowNext, caughtUp, pointerNext, candidateNext), actions);
    }

    /** True when {@code v} is not null and of version {@code key}. */
    private static boolean is(ModelVersion v, ModelKey key) {
        return v != null && ModelKey.of(v).equals(key);
    }

    private Step nothing() {
        return new Step(this, List.of());
    }

    private Step ignore(String why) {
        return new Step(this, List.of(new Ignore(why)));
    }

    private static List<ModelAction> concat(List<ModelAction> a, List<ModelAction> b) {
        List<ModelAction> out = new ArrayList<>(a);
        out.addAll(b);
        return out;
    }
}
