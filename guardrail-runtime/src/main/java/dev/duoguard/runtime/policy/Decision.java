package dev.duoguard.runtime.policy;

/** What the platform does with a message. */
public enum Decision {
    ALLOW,
    REVIEW,
    BLOCK
}
