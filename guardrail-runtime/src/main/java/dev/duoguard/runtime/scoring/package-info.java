/**
 * Scoring text with a loaded model: windows over long texts, the DynamicBatcher that groups concurrent requests into
 * one model call with a deadline, and the model interface both ONNX and the baseline implement.
 *
 * <p>May depend on: runtime.bundle, runtime.onnx, runtime.taxonomy, runtime.tokenizer.
 */
package dev.duoguard.runtime.scoring;
