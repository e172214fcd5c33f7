/**
 * The streams app's commands: {@code serve}, {@code score}, {@code models}, {@code schemas}.
 *
 * <p>May depend on: the streams-app packages, common, lifecycle, runtime and schemas: never the trainer, dev or
 * embedded.
 */
package dev.duoguard.streams.cli;
