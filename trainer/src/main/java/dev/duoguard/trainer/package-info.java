/**
 * The trainer: everything that <em>makes</em> a model (see docs/architecture.md in the README).
 *
 * <p>Not built yet. The next issues add, in this module: the transformer engine on DJL PyTorch (Qwen2/Llama
 * blocks, Hugging Face safetensors and tokenizers, LoRA), ONNX export of classifiers into the bundle format of
 * {@code dev.duoguard.runtime.bundle} (using {@code dev.duoguard.runtime.onnx.OnnxGraphBuilder}), classifier
 * training and DuoGuard-protocol evaluation, the generator with DPO, the two-player loop, and the trainer service
 * that consumes {@code guardrail.seeds}.
 */
package dev.duoguard.trainer;
