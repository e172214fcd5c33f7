/**
 * Training a classifier: settings and presets, batches, the loss, AdamW, the cosine schedule, checkpoints, threshold
 * calibration, and one run end to end.
 *
 * <p>May depend on: runtime, trainer.data, trainer.engine, trainer.eval, trainer.export, trainer.hf,
 * trainer.tokenizer.
 */
package dev.duoguard.trainer.train;
