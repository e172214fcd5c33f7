/**
 * Hugging Face checkpoints read and written without Python: config.json, safetensors (sharded too), chat templates
 * and stop ids of instruction-tuned causal LMs, and the pretrained encoders shipped inside Maven artifacts.
 *
 * <p>May depend on: runtime.onnx (to read ONNX weights), runtime.taxonomy.
 */
package dev.duoguard.trainer.hf;
