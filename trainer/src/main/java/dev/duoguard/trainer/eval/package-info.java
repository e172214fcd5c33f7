/**
 * Evaluation of a classifier on held-out and eval-only sets: metrics, the report and its charts.
 *
 * <p>May depend on: runtime.policy, runtime.scoring, trainer.data.
 */
package dev.duoguard.trainer.eval;
