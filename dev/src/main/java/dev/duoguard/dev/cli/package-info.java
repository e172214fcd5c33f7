/**
 * {@code ./duoguard demo}, {@code streams-demo} and {@code bench}: the commands that run the system on one machine.
 *
 * <p>May depend on: anything in the dev module and the modules below it.
 */
package dev.duoguard.dev.cli;
