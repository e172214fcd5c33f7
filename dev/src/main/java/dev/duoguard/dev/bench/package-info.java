/**
 * The benchmark programs ({@code ./duoguard bench}, swap bench): each prints a table, writes a JSON file and a chart;
 * nothing here asserts timing.
 *
 * <p>May depend on: anything: this module sits on top of the system and is never deployed.
 */
package dev.duoguard.dev.bench;
