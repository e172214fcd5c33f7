/**
 * Hugging Face checkpoints read and written without Python: config.json, safetensors (sharded too), and the pretrained
 * encoders shipped inside Maven artifacts.
 *
 * <p>May depend on: runtime.onnx (to read ONNX weights), runtime.taxonomy.
 */
package dev.duoguard.trainer.hf;
