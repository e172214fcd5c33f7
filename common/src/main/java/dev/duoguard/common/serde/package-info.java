/**
 * Avro serdes on the Confluent wire format (magic byte, 4-byte schema id, Avro body) against a schema registry, and
 * the registry lookups that tell an unknown schema id from a registry that does not answer.
 *
 * <p>May depend on: common.registry (how to reach the registry); Avro, Kafka's serde interfaces and Apicurio's
 * serdes.
 */
package dev.duoguard.common.serde;
