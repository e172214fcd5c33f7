/**
 * The OpenAI-compatible moderation endpoint: {@code POST /v1/moderations} answered from the verdicts of messages it
 * sends through the guardrail's own topics (so HTTP traffic is batched, scored, fail-closed, dead-lettered and
 * joined with feedback exactly like stream traffic).
 *
 * <p>May depend on: client, common.config, common.http, common.kafka, common.serde, common.topics, streams.config,
 * schemas.
 */
package dev.duoguard.streams.api;
