/**
 * {@code ./duoguard bench-train}: training throughput of the DJL engine.
 *
 * <p>May depend on: trainer.engine, trainer.hf.
 */
package dev.duoguard.trainer.bench;
