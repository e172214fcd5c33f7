/**
 * The command-line plumbing every entry class shares (picocli): {@code --help} and {@code --version} on every
 * command, one line per error naming the problem and the fix (exit 1), one line per usage error (exit 2), stack
 * traces to the log only.
 *
 * <p>May depend on: common.config.
 */
package dev.duoguard.common.cli;
