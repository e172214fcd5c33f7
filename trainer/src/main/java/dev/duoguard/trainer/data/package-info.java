/**
 * Training and evaluation data: the shared JSONL datasets, field mappings, the training mix and its split policy
 * (eval-only sets never trained on; templates and translations kept on one side of a split).
 *
 * <p>May depend on: runtime.taxonomy.
 */
package dev.duoguard.trainer.data;
