/**
 * The two demos: the streaming half alone (StreamsDemo) and the whole closed loop (ClosedLoopDemo) on an in-process
 * broker and registry.
 *
 * <p>May depend on: anything: this module sits on top of the system and is never deployed.
 */
package dev.duoguard.dev.demo;
