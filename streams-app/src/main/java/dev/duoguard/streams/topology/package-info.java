/**
 * The Kafka Streams topology: decoding on the wire format, input checks, batched scoring with exactly-once buffering,
 * verdicts, the dead-letter topic, the feedback join and the seeds it emits.
 *
 * <p>May depend on: common.serde, lifecycle, runtime, the schemas, streams.config and streams.model.
 */
package dev.duoguard.streams.topology;
