/**
 * A real Kafka broker (KRaft, in-process, from Kafka's own jars) and a real schema registry (Apicurio, child process)
 * for tests, demos and benches. Test scope for streams-app and trainer, so no production image contains a broker.
 *
 * <p>May depend on: Kafka's server jars and the JDK: nothing of the project.
 */
package dev.duoguard.embedded;
