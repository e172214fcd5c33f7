/**
 * Language identification of a message (Lingua, restricted to the supported languages), used for the verdict's
 * language and per-language thresholds.
 *
 * <p>May depend on: Lingua only: nothing of the project.
 */
package dev.duoguard.runtime.language;
