/**
 * {@code ./duoguard bench-train}: training throughput of the DJL engine, and the memory of a DPO step with and
 * without activation checkpointing.
 *
 * <p>May depend on: trainer.engine, trainer.hf, trainer.loop.
 */
package dev.duoguard.trainer.bench;
