/**
 * The project's own multilingual sample chat traffic, used by the demos and the tests.
 *
 * <p>May depend on: the generated schemas only.
 */
package dev.duoguard.streams.sample;
