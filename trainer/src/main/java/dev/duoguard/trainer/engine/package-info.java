/**
 * The model engine on DJL PyTorch: decoder (Qwen2/Llama family) and encoder (BERT family) transformers, the sequence
 * classifier and the generator with its sampler.
 *
 * <p>May depend on: trainer.hf (configurations and weights) only.
 */
package dev.duoguard.trainer.engine;
