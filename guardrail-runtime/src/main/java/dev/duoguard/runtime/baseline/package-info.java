/**
 * The lexicon baseline: a small bag-of-words guardrail written out as a real ONNX bundle, used where a fast,
 * deterministic model is wanted (tests, benches, the pipeline's limit).
 *
 * <p>May depend on: runtime.bundle, runtime.onnx, runtime.taxonomy.
 */
package dev.duoguard.runtime.baseline;
