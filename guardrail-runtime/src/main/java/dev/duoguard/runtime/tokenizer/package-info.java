/**
 * The serving side of a Hugging Face {@code tokenizer.json} (DJL's Rust tokenizers), with the bundle's special tokens
 * and truncation.
 *
 * <p>May depend on: runtime.bundle.
 */
package dev.duoguard.runtime.tokenizer;
