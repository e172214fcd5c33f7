/**
 * The management port every component serves ({@code /health/live}, {@code /health/ready}, {@code /metrics} and the
 * component's own POST commands, which require an admin bearer token), on the JDK's HTTP server.
 *
 * <p>May depend on: the JDK and the Prometheus client only: nothing of the project.
 */
package dev.duoguard.common.http;
