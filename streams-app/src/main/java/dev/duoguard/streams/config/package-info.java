/**
 * The streams app's configuration keys, their defaults and the checks that run before anything starts.
 *
 * <p>May depend on: common.config, common.http (the token rules), common.kafka, common.redact, common.registry,
 * common.topics, runtime.onnx, runtime.policy,
 * runtime.taxonomy.
 */
package dev.duoguard.streams.config;
