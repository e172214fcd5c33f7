/**
 * Redaction of personal data (e-mail, phone and card numbers, the operator's own patterns) from text that leaves
 * the component that read it: the streams app's seeds, the trainer's seed store.
 *
 * <p>May depend on: the JDK only.
 */
package dev.duoguard.common.redact;
