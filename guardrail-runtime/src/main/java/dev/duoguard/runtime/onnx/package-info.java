/**
 * ONNX Runtime sessions (CUDA when present, CPU otherwise, fp16 where asked) and the small graph builder the exporters
 * use.
 *
 * <p>May depend on: runtime.bundle.
 */
package dev.duoguard.runtime.onnx;
