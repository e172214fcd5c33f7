/**
 * The trainer service: seeds from the seeds topic (redacted, deduplicated, stored), one iteration on demand, the
 * evaluation gate and publishing a candidate to {@code guardrail.models}.
 *
 * <p>May depend on: common.http, lifecycle, runtime, the schemas and the trainer packages: never streams-app.
 */
package dev.duoguard.trainer.service;
