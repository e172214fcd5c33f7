package dev.duoguard.runtime.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.duoguard.runtime.taxonomy.SafetyCategory;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class DecisionPolicyTest {

    static final float[] MODEL = filled(0.5f);

    static float[] filled(float v) {
        float[] a = new float[SafetyCategory.COUNT];
        Arrays.fill(a, v);
        return a;
    }

    static float[] with(SafetyCategory c, float p) {
        float[] a = filled(0.01f);
        a[c.ordinal()] = p;
        return a;
    }

    final DecisionPolicy policy = new DecisionPolicy(
            Thresholds.uniform(0.3f, 0.5f),
            Map.of(
                    "kids-app",
                    Thresholds.uniform(0.3f, 0.5f).with(SafetyCategory.SEXUAL_CONTENT, 0.1f, 0.2f),
                    "medical",
                    Thresholds.uniform(0.3f, 0.5f).with(SafetyCategory.SPECIALIZED_ADVICE, 0.9f, 0.95f)),
            0.1f);

    @Test
    void anItemScoredExactlyAtTheModelThresholdIsNeitherUnsafeNorBlockedUnlessTheOperatorSetBlockThere() {
        float[] p = with(SafetyCategory.HATE, 0.5f);
        DecisionPolicy followsModel = new DecisionPolicy(Thresholds.followingModel(0.3f), Map.of(), 0.1f);
        DecisionPolicy.Result r = followsModel.decide("t", p, MODEL);
        assertThat(r.unsafe()).as("DuoGuard's rule: strictly above").isFalse();
        assertThat(r.decision()).as("BLOCK agrees with unsafe").isEqualTo(Decision.REVIEW);
        assertThat(followsModel
                        .decide("t", with(SafetyCategory.HATE, 0.5001f), MODEL)
                        .decision())
                .isEqualTo(Decision.BLOCK);

        DecisionPolicy operator = new DecisionPolicy(Thresholds.uniform(0.3f, 0.5f), Map.of(), 0.1f);
        assertThat(operator.decide("t", p, MODEL).decision())
                .as("an operator's BLOCK threshold is reached at it")
                .isEqualTo(Decision.BLOCK);
    }

    @Test
    void duoGuardRuleAndThreeLevels() {
        var allow = policy.decide("t", with(SafetyCategory.HATE, 0.2f), MODEL);
        assertThat(allow.decision()).isEqualTo(Decision.ALLOW);
        assertThat(allow.unsafe()).isFalse();
        assertThat(allow.fired()).isEmpty();

        var review = policy.decide("t", with(SafetyCategory.HATE, 0.45f), MODEL);
        assertThat(review.decision()).isEqualTo(Decision.REVIEW);
        assertThat(review.unsafe()).isFalse();
        assertThat(review.fired()).containsExactly(SafetyCategory.HATE);

        float[] two = with(SafetyCategory.HATE, 0.7f);
        two[SafetyCategory.VIOLENT_CRIMES.ordinal()] = 0.9f;
        var block = policy.decide("t", two, MODEL);
        assertThat(block.decision()).isEqualTo(Decision.BLOCK);
        assertThat(block.unsafe()).isTrue();
        assertThat(block.unsafeScore()).isEqualTo(0.9f);
        assertThat(block.fired()).containsExactly(SafetyCategory.VIOLENT_CRIMES, SafetyCategory.HATE);
    }

    @Test
    void tenantOverridesApplyOnlyToThatTenant() {
        float[] mild = with(SafetyCategory.SEXUAL_CONTENT, 0.25f);
        assertThat(policy.decide("kids-app", mild, MODEL).decision()).isEqualTo(Decision.BLOCK);
        assertThat(policy.decide("other", mild, MODEL).decision()).isEqualTo(Decision.ALLOW);
        float[] advice = with(SafetyCategory.SPECIALIZED_ADVICE, 0.8f);
        assertThat(policy.decide("medical", advice, MODEL).decision()).isEqualTo(Decision.ALLOW);
        assertThat(policy.decide("medical", advice, MODEL).unsafe())
                .as("the model rule is not a tenant setting")
                .isTrue();
        assertThat(policy.decide("other", advice, MODEL).decision()).isEqualTo(Decision.BLOCK);
    }

    @Test
    void uncertaintyBandIsAroundTheModelThresholdOfTheTopCategory() {
        assertThat(policy.decide("t", with(SafetyCategory.HATE, 0.41f), MODEL).uncertain())
                .isTrue();
        assertThat(policy.decide("t", with(SafetyCategory.HATE, 0.59f), MODEL).uncertain())
                .isTrue();
        assertThat(policy.decide("t", with(SafetyCategory.HATE, 0.39f), MODEL).uncertain())
                .isFalse();
        assertThat(policy.decide("t", with(SafetyCategory.HATE, 0.95f), MODEL).uncertain())
                .isFalse();
    }

    @Test
    void invalidThresholdsAreRefusedWithTheCategory() {
        assertThatThrownBy(() -> Thresholds.uniform(0.3f, 0.5f).with(SafetyCategory.PRIVACY, 0.8f, null))
                .hasMessageContaining("privacy")
                .hasMessageContaining("above its block threshold");
        assertThatThrownBy(() -> new DecisionPolicy(Thresholds.uniform(0.3f, 0.5f), Map.of(), 0.7f))
                .hasMessageContaining("uncertainty band");
    }

    @Test
    void blockThatFollowsTheModelUsesTheThresholdsOfEachDecisionWhileAnOperatorValueWins() {
        DecisionPolicy following = new DecisionPolicy(
                Thresholds.followingModel(0.3f),
                Map.of("fixed", Thresholds.followingModel(0.3f).with(SafetyCategory.HATE, null, 0.8f)),
                0.05f);
        float[] hate = with(SafetyCategory.HATE, 0.6f);
        assertThat(following.decide("t", hate, MODEL).decision()).isEqualTo(Decision.BLOCK);
        assertThat(following.decide("t", hate, filled(0.7f)).decision())
                .as("model threshold 0.7: only review")
                .isEqualTo(Decision.REVIEW);
        assertThat(following.decide("fixed", hate, filled(0.1f)).decision())
                .as("operator BLOCK 0.8 wins")
                .isEqualTo(Decision.REVIEW);
        // a model threshold calibrated below REVIEW: the blocking category is still among the fired ones
        var low = following.decide("t", with(SafetyCategory.HATE, 0.2f), filled(0.15f));
        assertThat(low.decision()).isEqualTo(Decision.BLOCK);
        assertThat(low.unsafe()).isTrue();
        assertThat(low.fired()).containsExactly(SafetyCategory.HATE);
    }

    @Test
    void anUnknownTenantIsDecidedByEveryThresholdSetAtOnceAndFailsClosedWithBlock() {
        DecisionPolicy allowListed = new DecisionPolicy(
                Thresholds.followingModel(0.3f),
                Map.of(
                        "kids-app",
                        Thresholds.followingModel(0.3f).with(SafetyCategory.SEXUAL_CONTENT, 0.1f, 0.2f),
                        "lax",
                        Thresholds.uniform(0.8f, 0.9f)),
                0.05f,
                Decision.REVIEW,
                Map.of("lax", Decision.REVIEW),
                Set.of("kids-app", "lax"));
        float[] sexual = with(SafetyCategory.SEXUAL_CONTENT, 0.25f);
        assertThat(allowListed.decide("lax", sexual, MODEL).decision()).isEqualTo(Decision.ALLOW);
        assertThat(allowListed.decide("kids-app", sexual, MODEL).decision()).isEqualTo(Decision.BLOCK);
        for (String unknown : new String[] {"mallory", null}) {
            var r = allowListed.decide(unknown, sexual, MODEL);
            assertThat(r.decision()).as("kids-app's BLOCK at 0.2").isEqualTo(Decision.BLOCK);
            assertThat(r.fired()).containsExactly(SafetyCategory.SEXUAL_CONTENT);
            assertThat(allowListed.failClosed(unknown)).isEqualTo(Decision.BLOCK);
        }
        float[] hate = with(SafetyCategory.HATE, 0.6f);
        assertThat(allowListed.decide("mallory", hate, filled(0.7f)).decision())
                .as("BLOCK that follows the model: the model's threshold for the item, not lowered")
                .isEqualTo(Decision.REVIEW);
        assertThat(allowListed.decide("mallory", hate, MODEL).decision()).isEqualTo(Decision.BLOCK);
        assertThat(allowListed
                        .decide("mallory", with(SafetyCategory.HATE, 0.5f), MODEL)
                        .decision())
                .as("each set compares as it does for its own tenant: at the model threshold is not above it")
                .isEqualTo(Decision.REVIEW);
        assertThat(policy.knows(null))
                .as("no allow-list: every tenant is known")
                .isTrue();
    }
}
