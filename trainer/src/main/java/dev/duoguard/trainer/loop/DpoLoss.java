package dev.duoguard.trainer.loop;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Activation;
import dev.duoguard.trainer.engine.Scalars;

/**
 * DPO with the RPO term, as DuoGuard trains its generator (β = 0.01, α = 0.4):
 * <pre>
 *   margin = β · ((log π(c) − log π_ref(c)) − (log π(r) − log π_ref(r)))
 *   L      = −log σ(margin) + α · NLL(c) / |c|
 * </pre>
 * over sequence log-probabilities of the chosen (c: a sample the classifier got wrong) and rejected (r: one it got
 * right) completions of the same prompt; the RPO term is the chosen completion's mean token negative log-likelihood,
 * which keeps the policy from drifting away from fluent text while the margin grows.
 */
public final class DpoLoss {

    private DpoLoss() {}

    /**
     * @param policyChosen    (P) Σ log π over each chosen completion's tokens
     * @param policyRejected  (P)
     * @param refChosen       (P) the same under the frozen reference
     * @param refRejected     (P)
     * @param chosenTokens    (P) token counts of the chosen completions
     * @return the mean loss; β and α are multiplied in with {@link Scalars} (the backward pass reads them)
     */
    public static NDArray loss(
            NDArray policyChosen,
            NDArray policyRejected,
            NDArray refChosen,
            NDArray refRejected,
            NDArray chosenTokens,
            float beta,
            float alpha) {
        NDArray margin = Scalars.mul(policyChosen.sub(refChosen).sub(policyRejected.sub(refRejected)), beta);
        NDArray dpo = Activation.softPlus(margin.neg());
        NDArray rpo = policyChosen.neg().div(chosenTokens);
        return dpo.add(Scalars.mul(rpo, alpha)).mean();
    }

    /** The same for one pair in plain Java, the tests' yardstick. */
    public static double reference(
            double pc, double pr, double rc, double rr, int chosenTokens, double beta, double alpha) {
        double margin = beta * ((pc - rc) - (pr - rr));
        return Math.log1p(Math.exp(-margin)) + alpha * (-pc / chosenTokens);
    }
}
