/**
 * The {@code guardrail.models} protocol shared by the streams app, the trainer and the CLI: keys ({@code
 * name@version}), the records a version goes through (CANDIDATE, ACTIVE pointer, FAILED), reading the topic to its
 * end, checking a bundle against its record and its Ed25519 signature before it is served ({@link
 * dev.duoguard.lifecycle.TrustedArtifacts}, {@link dev.duoguard.lifecycle.BundleSignature}), and the reading side's
 * rules as a pure state
 * machine ({@link dev.duoguard.lifecycle.ModelsState}: a record in, {@link dev.duoguard.lifecycle.ModelAction}s out),
 * with the shadow's comparison statistics that decide a promotion.
 *
 * <p>May depend on: common.kafka, common.serde, runtime.bundle and the generated schemas: never streams-app or trainer.
 */
package dev.duoguard.lifecycle;
