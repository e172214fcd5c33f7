/**
 * How every Kafka client of the project connects: bootstrap servers plus one client security configuration
 * ({@code kafka.security.protocol}, {@code kafka.sasl.*}, {@code kafka.ssl.*}, secrets from files or the
 * environment), validated once and given to each producer, consumer, admin client and Kafka Streams instance.
 *
 * <p>May depend on: common.config.
 */
package dev.duoguard.common.kafka;
