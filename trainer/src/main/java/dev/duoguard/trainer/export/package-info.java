/**
 * From trained weights to a serving bundle: ONNX graphs for decoder and encoder classifiers, the tokenizer and the
 * manifest.
 *
 * <p>May depend on: runtime.bundle, runtime.onnx, runtime.scoring (window sizes), runtime.taxonomy, trainer.hf,
 * trainer.tokenizer.
 */
package dev.duoguard.trainer.export;
