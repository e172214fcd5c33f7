/**
 * Layered configuration shared by every component: defaults, then a properties file, then environment variables, then
 * command-line overrides, each value remembering where it came from; {@link
 * dev.duoguard.common.config.ConfigException} is the one error type a bad value raises.
 *
 * <p>May depend on: the JDK only: nothing of the project.
 */
package dev.duoguard.common.config;
