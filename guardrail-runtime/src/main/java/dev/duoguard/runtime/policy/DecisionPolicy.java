package dev.duoguard.runtime.policy;

import dev.duoguard.runtime.taxonomy.SafetyCategory;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Maps category probabilities to a decision.
 *
 * <ol>
 *   <li>DuoGuard's rule, from the model's own thresholds (0.5 by default): the item is <b>unsafe</b> when any
 *       category probability exceeds its threshold. This is what evaluation reports.</li>
 *   <li>The platform's policy: BLOCK when any category reaches its BLOCK threshold, else REVIEW when any reaches
 *       its REVIEW threshold, else ALLOW. Thresholds are per category and can be overridden per tenant; a BLOCK
 *       threshold the operator did not set is the model's own for the item (see {@link Thresholds}).</li>
 *   <li><b>Uncertain</b>: the top category's probability lies within {@code uncertaintyBand} of the model's
 *       threshold; such items become seeds for the two-player loop.</li>
 *   <li><b>Fail closed</b>: what cannot be read or scored (bad input, a model that fails or times out on the
 *       item) gets the tenant's fail-closed decision, REVIEW by default or BLOCK, never ALLOW.</li>
 *   <li><b>Unknown tenants</b>: with a non-empty allow-list, a tenant not on it (null included) gets the
 *       <i>strictest</i> policy: per category, BLOCK when the defaults or any configured tenant's thresholds would
 *       block the item, REVIEW when any of them would send it to review (so the lowest REVIEW and BLOCK thresholds
 *       over all of them, each compared as its own set compares it), and BLOCK as its fail-closed decision. The
 *       tenant string is a claim of the payload: a client must not pick a laxer tenant's policy by naming one it
 *       is not, nor escape its own by inventing one.</li>
 * </ol>
 */
public final class DecisionPolicy {

    private final Thresholds defaults;
    private final Map<String, Thresholds> perTenant;
    private final float uncertaintyBand;
    private final Decision failClosed;
    private final Map<String, Decision> failClosedPerTenant;
    private final Set<String> allowedTenants;
    private final List<Thresholds> strictest;

    /** A policy whose fail-closed decision is REVIEW for every tenant. */
    public DecisionPolicy(Thresholds defaults, Map<String, Thresholds> perTenant, float uncertaintyBand) {
        this(defaults, perTenant, uncertaintyBand, Decision.REVIEW, Map.of());
    }

    /**
     * @param failClosed          the decision for items that cannot be scored (REVIEW or BLOCK)
     * @param failClosedPerTenant tenants that override it
     */
    public DecisionPolicy(
            Thresholds defaults,
            Map<String, Thresholds> perTenant,
            float uncertaintyBand,
            Decision failClosed,
            Map<String, Decision> failClosedPerTenant) {
        this(defaults, perTenant, uncertaintyBand, failClosed, failClosedPerTenant, Set.of());
    }

    /**
     * @param allowedTenants the tenants whose own policy applies; any other gets the strictest one (see above).
     *                       Empty: no allow-list, every tenant is known (unconfigured ones get the defaults)
     */
    public DecisionPolicy(
            Thresholds defaults,
            Map<String, Thresholds> perTenant,
            float uncertaintyBand,
            Decision failClosed,
            Map<String, Decision> failClosedPerTenant,
            Set<String> allowedTenants) {
        if (!(uncertaintyBand >= 0 && uncertaintyBand < 0.5f)) {
            throw new IllegalArgumentException("uncertainty band must be in [0, 0.5) but is " + uncertaintyBand);
        }
        if (failClosed == Decision.ALLOW || failClosedPerTenant.containsValue(Decision.ALLOW)) {
            throw new IllegalArgumentException("a fail-closed decision must be REVIEW or BLOCK, never ALLOW");
        }
        this.defaults = defaults;
        this.perTenant = Map.copyOf(perTenant);
        this.uncertaintyBand = uncertaintyBand;
        this.failClosed = failClosed;
        this.failClosedPerTenant = Map.copyOf(failClosedPerTenant);
        this.allowedTenants = Set.copyOf(allowedTenants);
        List<Thresholds> all = new ArrayList<>(perTenant.values());
        all.add(defaults);
        this.strictest = List.copyOf(all);
    }

    /** Whether {@code tenant}'s own policy applies: there is no allow-list, or it is on it. */
    public boolean knows(String tenant) {
        return allowedTenants.isEmpty() || (tenant != null && allowedTenants.contains(tenant));
    }

    /**
     * The decision for an item of {@code tenant} that could not be scored: BLOCK for an unknown tenant (see
     * {@link #knows}), else the tenant's own or the default (also for a null or unconfigured tenant).
     */
    public Decision failClosed(String tenant) {
        if (!knows(tenant)) {
            return Decision.BLOCK;
        }
        return tenant == null ? failClosed : failClosedPerTenant.getOrDefault(tenant, failClosed);
    }

    /**
     * @param modelThresholds the thresholds of the model that scored the item, for the item's language
     *                        ({@code ModelIdentity#thresholds(String)}): DuoGuard's rule, the uncertainty band, and
     *                        BLOCK wherever the operator set none
     */
    public Result decide(String tenant, float[] probabilities, float[] modelThresholds) {
        List<Thresholds> sets = knows(tenant)
                ? List.of(tenant == null ? defaults : perTenant.getOrDefault(tenant, defaults))
                : strictest;
        boolean block = false;
        boolean review = false;
        int top = 0;
        List<SafetyCategory> fired = new ArrayList<>();
        for (SafetyCategory c : SafetyCategory.ordered()) {
            int i = c.ordinal();
            float p = probabilities[i];
            boolean categoryReviews = false;
            for (Thresholds t : sets) {
                // a BLOCK threshold that follows the model is DuoGuard's rule (strictly above), so BLOCK and unsafe
                // agree on an item scored exactly at a calibrated threshold; an operator's BLOCK threshold is
                // reached at it
                float blockAt = t.blockAt(i, modelThresholds);
                if (t.blockFollowsModel()[i] ? p > blockAt : p >= blockAt) {
                    block = true;
                }
                categoryReviews |= p >= t.reviewAt(i, modelThresholds);
            }
            if (categoryReviews) {
                review = true;
                fired.add(c);
            }
            if (p > probabilities[top]) {
                top = i;
            }
        }
        boolean unsafe = isUnsafe(probabilities, modelThresholds);
        fired.sort(Comparator.comparingDouble((SafetyCategory c) -> probabilities[c.ordinal()])
                .reversed());
        Decision decision = block ? Decision.BLOCK : review ? Decision.REVIEW : Decision.ALLOW;
        boolean uncertain = Math.abs(probabilities[top] - modelThresholds[top]) <= uncertaintyBand;
        return new Result(decision, unsafe, probabilities[top], List.copyOf(fired), uncertain);
    }

    /** DuoGuard's rule: unsafe when any category probability exceeds its model threshold. */
    public static boolean isUnsafe(float[] probabilities, float[] modelThresholds) {
        for (int i = 0; i < probabilities.length; i++) {
            if (probabilities[i] > modelThresholds[i]) {
                return true;
            }
        }
        return false;
    }

    /**
     * @param unsafe      DuoGuard's rule (max p above the model threshold)
     * @param unsafeScore max category probability
     * @param fired       categories at or above their REVIEW threshold, most probable first
     * @param uncertain   top probability within the uncertainty band of the model threshold
     */
    public record Result(
            Decision decision, boolean unsafe, float unsafeScore, List<SafetyCategory> fired, boolean uncertain) {}
}
