/**
 * The inline moderation client a chat service embeds: {@code ModerationClient.moderate} returns a future per
 * message that its verdict completes, failing closed on timeouts, overload and send failures.
 *
 * <p>May depend on: common (Kafka connection, registry serdes, topic names), schemas.
 */
package dev.duoguard.client;
