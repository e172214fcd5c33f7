package dev.duoguard.lifecycle;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.lifecycle.ModelAction.Ignore;
import dev.duoguard.lifecycle.ModelAction.Promote;
import dev.duoguard.lifecycle.ModelAction.Reject;
import dev.duoguard.lifecycle.ModelAction.Serve;
import dev.duoguard.lifecycle.ModelAction.StartShadow;
import dev.duoguard.lifecycle.ModelAction.StopShadow;
import dev.duoguard.lifecycle.ModelsState.Policy;
import dev.duoguard.lifecycle.ModelsState.Step;
import dev.duoguard.schemas.ModelStatus;
import dev.duoguard.schemas.ModelVersion;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The watcher's rules, record by record, without Kafka: each test reads a models topic and checks the actions. */
class ModelsStateTest {

    static final String M = "m";
    static final ShadowStats.Bounds BOUNDS = new ShadowStats.Bounds(100, 0.9, 0.05);
    static final Policy SERVING_ONLY = Policy.servingOnly(M);
    static final Policy SHADOWING = Policy.shadowing(M, BOUNDS, true);

    /** A record of version {@code v} of model m, written {@code at} seconds after the epoch. */
    static ModelVersion record(String v, ModelStatus status, long at) {
        return ModelVersion.newBuilder()
                .setModelName(M)
                .setVersion(v)
                .setArtifactUri("file:/bundles/" + v)
                .setSha256("sha-" + v)
                .setCategories(List.of())
                .setThresholds(List.of())
                .setStatus(status)
                .setCreatedAt(Instant.ofEpochSecond(at))
                .setStatusReason(status == ModelStatus.FAILED ? "broken" : null)
                .build();
    }

    static ModelVersion active(String v, long at) {
        return record(v, ModelStatus.ACTIVE, at);
    }

    static ModelVersion candidate(String v, long at) {
        return record(v, ModelStatus.CANDIDATE, at);
    }

    static ModelVersion failed(String v, long at) {
        return record(v, ModelStatus.FAILED, at);
    }

    /** The key each record is written under: the model name for the pointer, name@version for the rest. */
    static String keyOf(ModelVersion v) {
        return v.getStatus() == ModelStatus.ACTIVE
                ? v.getModelName()
                : ModelKey.of(v).toString();
    }

    static Step read(ModelsState s, ModelVersion v) {
        return s.onRecord(keyOf(v), v);
    }

    /** {@code s} after reading {@code records} (their actions dropped). */
    static ModelsState readAll(ModelsState s, ModelVersion... records) {
        for (ModelVersion v : records) {
            s = read(s, v).state();
        }
        return s;
    }

    static ModelsState caughtUp(Policy policy, String serving) {
        return ModelsState.catchingUp(policy, serving).onCaughtUp().state();
    }

    static ShadowStats stats(long compared, long agreed, long activeUnsafe, long candidateUnsafe) {
        return new ShadowStats(
                Map.of("en", new ShadowStats.Language(compared, agreed, activeUnsafe, candidateUnsafe)),
                Map.of(),
                2.0,
                0);
    }

    // --- the ACTIVE pointer

    @Test
    void whileCatchingUpOnlyTheNewestPointerIsRememberedAndServedOnceCaughtUp() {
        ModelsState s = ModelsState.catchingUp(SERVING_ONLY, "1");
        Step two = read(s, active("2", 10));
        assertThat(two.actions()).as("history is not replayed").isEmpty();
        ModelsState before = readAll(two.state(), active("3", 20));

        Step up = before.onCaughtUp();
        assertThat(up.actions()).containsExactly(new Serve(active("3", 20)));
        assertThat(up.state().serving()).isEqualTo(new ModelKey(M, "3"));
        assertThat(up.state().caughtUp()).isTrue();
        assertThat(up.state().onCaughtUp().actions()).as("caught up once").isEmpty();
    }

    @Test
    void caughtUpEachPointerForAnotherVersionIsServedAndRollingBackIsJustAnotherPointer() {
        ModelsState s = caughtUp(SERVING_ONLY, "1");
        Step two = read(s, active("2", 10));
        assertThat(two.actions()).containsExactly(new Serve(active("2", 10)));
        Step three = read(two.state(), active("3", 20));
        assertThat(three.actions()).containsExactly(new Serve(active("3", 20)));

        Step back = read(three.state(), active("2", 30)); // what ModelsTopic.rollback writes
        assertThat(back.actions()).containsExactly(new Serve(active("2", 30)));
        assertThat(back.state().serving()).isEqualTo(new ModelKey(M, "2"));
    }

    @Test
    void aPointerForTheVersionServingIsIgnoredSoDuplicatesChangeNothing() {
        ModelsState s = caughtUp(SERVING_ONLY, "1");
        Step first = read(s, active("2", 10));
        Step again = read(first.state(), active("2", 10));
        assertThat(again.actions()).singleElement().isInstanceOf(Ignore.class);
        assertThat(again.state()).isEqualTo(first.state());

        Step atStart = ModelsState.catchingUp(SERVING_ONLY, "2")
                .onRecord(M, active("2", 10))
                .state()
                .onCaughtUp();
        assertThat(atStart.actions())
                .as("the version start-up chose")
                .singleElement()
                .isInstanceOf(Ignore.class);
    }

    @Test
    void onlyThisModelsPointerKeyedByItsNameCounts() {
        ModelsState s = caughtUp(SERVING_ONLY, "1");
        assertThat(s.onRecord(ModelKey.of(active("2", 10)).toString(), active("2", 10))
                        .actions())
                .as("ACTIVE under a version key is not the pointer")
                .isEmpty();
        ModelVersion other =
                ModelVersion.newBuilder(active("2", 10)).setModelName("other").build();
        assertThat(s.onRecord("other", other).actions())
                .as("another model's pointer")
                .isEmpty();
        assertThat(s.onRecord(M, other).actions())
                .as("another model's record under this name")
                .isEmpty();
    }

    @Test
    void aPointerToAVersionNeverPublishedBeforeIsServedItCarriesItsBundle() {
        Step step = read(caughtUp(SERVING_ONLY, "1"), active("7", 10));
        assertThat(step.actions()).containsExactly(new Serve(active("7", 10)));
    }

    @Test
    void aPointerMarkedFailedAfterItWasWrittenIsNotTriedAgainWhenCatchingUp() {
        ModelsState s = readAll(
                ModelsState.catchingUp(SERVING_ONLY, "2"),
                active("2", 10),
                active("3", 20),
                failed("3", 21)); // start-up tried 3, it failed, 2 serves
        assertThat(s.onCaughtUp().actions()).isEmpty();
    }

    @Test
    void aPointerWrittenAgainAfterTheVersionFailedIsTriedAgain() {
        ModelsState catchingUp = readAll(
                ModelsState.catchingUp(SERVING_ONLY, "2"),
                active("3", 20),
                failed("3", 21),
                active("3", 30)); // an operator promotes it again
        assertThat(catchingUp.onCaughtUp().actions()).containsExactly(new Serve(active("3", 30)));

        ModelsState caughtUp = readAll(caughtUp(SERVING_ONLY, "2"), failed("3", 21));
        assertThat(read(caughtUp, active("3", 30)).actions()).containsExactly(new Serve(active("3", 30)));
    }

    @Test
    void aFailedRecordForTheServingVersionKeepsItServing() {
        ModelsState s = caughtUp(SERVING_ONLY, "2");
        Step step = read(s, failed("2", 10));
        assertThat(step.actions())
                .singleElement()
                .isInstanceOfSatisfying(
                        Ignore.class, i -> assertThat(i.why()).contains("m@2").contains("keeps serving"));
        assertThat(step.state().serving()).isEqualTo(new ModelKey(M, "2"));
    }

    @Test
    void aLoadThatFailedIsSeenThroughObserveAndTheNextPointerForItIsTriedAgain() {
        Step serve = read(caughtUp(SERVING_ONLY, "1"), active("2", 10));
        assertThat(serve.state().serving()).as("assumed to succeed").isEqualTo(new ModelKey(M, "2"));
        ModelsState stillOne = serve.state().observe("1", null); // the load failed: 1 still serves
        assertThat(read(stillOne, active("2", 20)).actions()).containsExactly(new Serve(active("2", 20)));
    }

    // --- tombstones

    @Test
    void tombstonesUnloadNothing() {
        ModelsState catchingUp = readAll(ModelsState.catchingUp(SERVING_ONLY, "1"), active("2", 10));
        Step pointerDeleted = catchingUp.onRecord(M, null);
        assertThat(pointerDeleted.actions()).singleElement().isInstanceOf(Ignore.class);
        assertThat(pointerDeleted.state().onCaughtUp().actions())
                .as("the pointer read before still counts")
                .containsExactly(new Serve(active("2", 10)));

        ModelsState s = caughtUp(SHADOWING, "2");
        Step serving = s.onRecord(M, null);
        assertThat(serving.actions()).singleElement().isInstanceOf(Ignore.class);
        assertThat(serving.state()).isEqualTo(s);
        ModelsState shadowing = read(s, candidate("3", 10)).state();
        assertThat(shadowing.onRecord("m@3", null).actions())
                .as("a version's own record deleted")
                .isEmpty();
        assertThat(shadowing.onRecord("m@3", null).state().shadow()).isEqualTo(candidate("3", 10));
    }

    // --- candidates and the shadow

    @Test
    void caughtUpACandidateIsShadowScoredOnlyWhenShadowingIsOn() {
        Step step = read(caughtUp(SHADOWING, "1"), candidate("2", 10));
        assertThat(step.actions()).containsExactly(new StartShadow(candidate("2", 10)));
        assertThat(step.state().shadow()).isEqualTo(candidate("2", 10));

        assertThat(read(caughtUp(SERVING_ONLY, "1"), candidate("2", 10)).actions())
                .isEmpty();
    }

    @Test
    void theSameCandidateAgainIsIgnoredAnotherBundleOrVersionReplacesTheShadow() {
        ModelsState shadowing =
                read(caughtUp(SHADOWING, "1"), candidate("2", 10)).state();
        Step again = read(shadowing, candidate("2", 10));
        assertThat(again.actions()).singleElement().isInstanceOf(Ignore.class);
        assertThat(again.state()).isEqualTo(shadowing);
        assertThat(read(shadowing, candidate("2", 15)).actions())
                .as("republished, same bundle")
                .singleElement()
                .isInstanceOf(Ignore.class);

        ModelVersion rebuilt =
                ModelVersion.newBuilder(candidate("2", 20)).setSha256("other").build();
        assertThat(read(shadowing, rebuilt).actions()).containsExactly(new StartShadow(rebuilt));
        assertThat(read(shadowing, candidate("3", 20)).actions()).containsExactly(new StartShadow(candidate("3", 20)));
    }

    @Test
    void aCandidateOfTheVersionServingIsNotShadowed() {
        assertThat(read(caughtUp(SHADOWING, "2"), candidate("2", 10)).actions())
                .singleElement()
                .isInstanceOf(Ignore.class);
    }

    @Test
    void aFailedRecordForTheShadowedVersionStopsTheShadowWhoeverWroteIt() {
        ModelsState shadowing =
                read(caughtUp(SHADOWING, "1"), candidate("2", 10)).state();
        Step step = read(shadowing, failed("2", 20));
        assertThat(step.actions()).singleElement().isInstanceOfSatisfying(StopShadow.class, stop -> {
            assertThat(stop.version()).isEqualTo(candidate("2", 10));
            assertThat(stop.why()).contains("FAILED").contains("broken");
        });
        assertThat(step.state().shadow()).isNull();
        assertThat(read(step.state(), failed("2", 20)).actions())
                .as("the same record again")
                .isEmpty();
        assertThat(read(shadowing, failed("3", 20)).actions())
                .as("another version's")
                .isEmpty();
    }

    @Test
    void aPointerForTheShadowedVersionStopsTheShadowThenServesIt() {
        ModelsState shadowing =
                read(caughtUp(SHADOWING, "1"), candidate("2", 10)).state();
        Step step = read(shadowing, active("2", 20));
        assertThat(step.actions())
                .containsExactly(new StopShadow(candidate("2", 10), "it is ACTIVE now"), new Serve(active("2", 20)));
        assertThat(step.state().shadow()).isNull();
    }

    @Test
    void caughtUpTheNewestCandidateIsShadowedWhenPublishedAfterThePointer() {
        ModelsState s = readAll(
                ModelsState.catchingUp(SHADOWING, "1"),
                candidate("2", 10),
                active("2", 20),
                candidate("3", 30),
                candidate("4", 40));
        assertThat(s.onCaughtUp().actions())
                .containsExactly(new Serve(active("2", 20)), new StartShadow(candidate("4", 40)));

        ModelsState noPointer = readAll(ModelsState.catchingUp(SHADOWING, "1"), candidate("3", 30));
        assertThat(noPointer.onCaughtUp().actions()).containsExactly(new StartShadow(candidate("3", 30)));
    }

    @Test
    void outOfOrderWhileCatchingUpACandidateWrittenBeforeThePointerIsNotShadowed() {
        // later in the log than the pointer, but created before it: it was judged (promoted or passed over)
        ModelsState s = readAll(ModelsState.catchingUp(SHADOWING, "1"), active("3", 30), candidate("2", 20));
        Step step = s.onCaughtUp();
        assertThat(step.actions()).hasSize(2).first().isEqualTo(new Serve(active("3", 30)));
        assertThat(step.actions().get(1))
                .isInstanceOfSatisfying(
                        Ignore.class, i -> assertThat(i.why()).contains("m@2").contains("before the ACTIVE pointer"));

        ModelsState failedFirst = readAll(ModelsState.catchingUp(SHADOWING, "1"), failed("3", 5), active("3", 30));
        assertThat(failedFirst.onCaughtUp().actions())
                .as("a failure older than the pointer in the log")
                .containsExactly(new Serve(active("3", 30)));
    }

    @Test
    void whileCatchingUpACandidateRejectedSinceOrNowServingIsNotShadowed() {
        ModelsState rejected = readAll(ModelsState.catchingUp(SHADOWING, "1"), candidate("2", 10), failed("2", 20));
        assertThat(rejected.onCaughtUp().actions())
                .as("another instance judged it")
                .isEmpty();

        // republished as a candidate after its own promotion: what serves is not shadowed
        ModelsState promoted = readAll(ModelsState.catchingUp(SHADOWING, "1"), active("2", 20), candidate("2", 30));
        Step step = promoted.onCaughtUp();
        assertThat(step.actions()).hasSize(2).first().isEqualTo(new Serve(active("2", 20)));
        assertThat(step.actions().get(1)).isInstanceOf(Ignore.class);
        assertThat(step.state().shadow()).isNull();
    }

    // --- judging the shadow

    @Test
    void insideTheBoundsTheShadowIsPromotedAndItsPointerComingBackServesIt() {
        ModelsState shadowing =
                read(caughtUp(SHADOWING, "1"), candidate("2", 10)).state();
        assertThat(shadowing.onShadowStats(stats(50, 50, 5, 5)).actions())
                .as("too few items yet")
                .isEmpty();

        Step judged = shadowing.onShadowStats(stats(200, 198, 20, 21));
        assertThat(judged.actions()).hasSize(2);
        assertThat(judged.actions().get(0)).isEqualTo(new StopShadow(candidate("2", 10), "inside the shadow bounds"));
        assertThat(judged.actions().get(1)).isInstanceOfSatisfying(Promote.class, p -> {
            assertThat(p.version()).isEqualTo(candidate("2", 10));
            assertThat(p.reason()).startsWith("promoted automatically; shadow: 200 items, agreement 0.990");
        });
        assertThat(judged.state().shadow()).isNull();
        assertThat(judged.state().onShadowStats(stats(200, 198, 20, 21)).actions())
                .as("judged once")
                .isEmpty();

        assertThat(read(judged.state(), active("2", 30)).actions()).containsExactly(new Serve(active("2", 30)));
    }

    @Test
    void outsideTheBoundsTheShadowIsRejected() {
        ModelsState shadowing =
                read(caughtUp(SHADOWING, "1"), candidate("2", 10)).state();
        Step disagrees = shadowing.onShadowStats(stats(200, 150, 20, 70));
        assertThat(disagrees.actions())
                .hasSize(2)
                .first()
                .isEqualTo(new StopShadow(candidate("2", 10), "outside the shadow bounds"));
        assertThat(disagrees.actions().get(1))
                .isInstanceOfSatisfying(
                        Reject.class,
                        r -> assertThat(r.reason()).startsWith("rejected by shadow scoring; shadow: 200 items"));
    }

    @Test
    void withoutAutoPromotionOrAShadowNothingIsJudged() {
        Policy manual = Policy.shadowing(M, BOUNDS, false);
        ModelsState shadowing = read(caughtUp(manual, "1"), candidate("2", 10)).state();
        assertThat(shadowing.onShadowStats(stats(200, 200, 20, 20)).actions()).isEmpty();
        assertThat(caughtUp(SHADOWING, "1")
                        .onShadowStats(stats(200, 200, 20, 20))
                        .actions())
                .isEmpty();
    }
}
