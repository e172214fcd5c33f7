/**
 * The DuoGuard topics, declared once: each topic's default name, config key and environment variable ({@link
 * dev.duoguard.common.topics.Topics.Names}), and its key and value types with their serdes ({@link
 * dev.duoguard.common.topics.Topic}, {@link dev.duoguard.common.topics.Topics}).
 *
 * <p>May depend on: common.config, common.serde, schemas.
 */
package dev.duoguard.common.topics;
