/**
 * The streams app's process: configuration to a running Kafka Streams instance with its management port, start-up
 * model, topics and bounded RocksDB memory.
 *
 * <p>May depend on: the streams-app packages, common, lifecycle, runtime and schemas: never the trainer, dev or
 * embedded.
 */
package dev.duoguard.streams.app;
