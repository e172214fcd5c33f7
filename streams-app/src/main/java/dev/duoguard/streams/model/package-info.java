/**
 * The live model: the slot the topology scores with, the watcher that follows {@code guardrail.models} and swaps the
 * slot, the shadow that scores a candidate next to it.
 *
 * <p>May depend on: common.kafka, common.serde, lifecycle, the runtime and the schemas: never the topology.
 */
package dev.duoguard.streams.model;
