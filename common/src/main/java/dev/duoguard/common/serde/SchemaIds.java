package dev.duoguard.common.serde;

/**
 * Asks the schema registry whether a wire-format schema id exists. The topology uses it after a record fails to
 * decode, to tell content that can never decode (the schema is there: dead-letter it) and ids the registry does
 * not know (dead-letter it) from a registry it cannot reach right now (wait and retry: the record is fine).
 * Asking instead of reading the deserializer's exception chain keeps the decision independent of how a serde
 * library words or wraps its errors.
 */
public interface SchemaIds {

    enum Presence {
        FOUND,
        NOT_FOUND,
        UNREACHABLE
    }

    /** Never throws: a registry that does not answer, or answers anything but 200 or 404, is UNREACHABLE. */
    Presence lookup(int id);
}
