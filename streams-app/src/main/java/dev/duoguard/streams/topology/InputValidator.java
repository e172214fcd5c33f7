package dev.duoguard.streams.topology;

import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.schemas.Role;

/**
 * Checks a decoded ChatMessage before it reaches the model. Returns null when the message is fine, else the
 * reason and a detail for the dead-letter headers.
 *
 * <p>Avro decodes invalid UTF-8 into U+FFFD replacement characters, so a U+FFFD in the text is treated as invalid
 * UTF-8: the upstream encoding was lossy and the model would score something other than what the user wrote.
 * C0 control characters other than tab, newline and carriage return (and DEL) are refused for the same reason.
 */
public final class InputValidator {

    private final int maxTextChars;

    public InputValidator(int maxTextChars) {
        this.maxTextChars = maxTextChars;
    }

    public record Problem(DeadLetter reason, String detail) {}

    public Problem check(ChatMessage m) {
        if (blank(m.getMessageId())) {
            return new Problem(DeadLetter.MISSING_FIELD, "message_id is empty");
        }
        if (blank(m.getConversationId())) {
            return new Problem(DeadLetter.MISSING_FIELD, "conversation_id is empty (message " + m.getMessageId() + ")");
        }
        if (blank(m.getTenant())) {
            return new Problem(DeadLetter.MISSING_FIELD, "tenant is empty (message " + m.getMessageId() + ")");
        }
        if (m.getText() == null || m.getText().isBlank()) {
            return new Problem(DeadLetter.EMPTY_TEXT, "text is empty (message " + m.getMessageId() + ")");
        }
        int length = m.getText().length()
                + (m.getPrompt() == null ? 0 : m.getPrompt().length());
        if (length > maxTextChars) {
            return new Problem(
                    DeadLetter.TEXT_TOO_LONG,
                    "text" + (m.getRole() == Role.ASSISTANT ? " + prompt" : "") + " has " + length
                            + " chars; the limit (input.max-text-chars) is " + maxTextChars);
        }
        for (String field : new String[] {"text", "prompt"}) {
            Problem p = characters(field, field.equals("text") ? m.getText() : m.getPrompt());
            if (p != null) {
                return p;
            }
        }
        String hint = m.getLanguageHint();
        if (hint != null && !hint.matches("[a-z]{2}")) {
            return new Problem(
                    DeadLetter.INVALID_FIELD, "language_hint must be a lowercase ISO 639-1 code but is '" + hint + "'");
        }
        return null;
    }

    /** The character rules above for one field's value (null: fine); also applied to reply chunks. */
    static Problem characters(String field, String s) {
        if (s == null) {
            return null;
        }
        int bad = s.indexOf('\uFFFD');
        if (bad >= 0) {
            return new Problem(
                    DeadLetter.INVALID_UTF8,
                    field + " contains U+FFFD at char " + bad
                            + " (invalid UTF-8 in the record or a lossy upstream encoding)");
        }
        for (int i = 0; i < s.length(); i++) {
            char ch = s.charAt(i);
            if ((ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r') || ch == 0x7F) {
                return new Problem(
                        DeadLetter.CONTROL_CHARACTERS,
                        field + " contains control character U+" + String.format("%04X", (int) ch) + " at char " + i);
            }
        }
        return null;
    }

    private static boolean blank(String s) {
        return s == null || s.isBlank();
    }
}
