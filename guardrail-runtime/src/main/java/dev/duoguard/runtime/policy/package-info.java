/**
 * From 12 category scores to a decision: thresholds per category, language and tenant, ALLOW/REVIEW/BLOCK.
 *
 * <p>May depend on: runtime.taxonomy.
 */
package dev.duoguard.runtime.policy;
