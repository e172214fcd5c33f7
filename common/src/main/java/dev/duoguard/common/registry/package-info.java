/**
 * How every schema registry client of the project connects: the registry's URL, HTTP basic credentials, the
 * truststore for its TLS certificate and whether clients may register schemas ({@code registry.*}, secrets from
 * files or the environment), validated once and given to the Avro serdes and the registry lookups alike.
 *
 * <p>May depend on: common.config.
 */
package dev.duoguard.common.registry;
