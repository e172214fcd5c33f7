/**
 * Prometheus metrics of the moderation path and of Kafka Streams itself.
 *
 * <p>May depend on: runtime.scoring, the schemas and streams.topology (for the outcome types it counts).
 */
package dev.duoguard.streams.metrics;
