/**
 * Avro serdes on the Confluent wire format (magic byte, 4-byte schema id, Avro body) against a schema registry, and
 * the registry lookups that tell an unknown schema id from a registry that does not answer.
 *
 * <p>May depend on: Avro, Kafka's serde interfaces and Apicurio's serdes: nothing of the project.
 */
package dev.duoguard.common.serde;
