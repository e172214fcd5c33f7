/**
 * Byte-level BPE training and {@code tokenizer.json} writing, for models trained from scratch.
 *
 * <p>May depend on: nothing of the project.
 */
package dev.duoguard.trainer.tokenizer;
