package dev.duoguard.common.redact;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Removes personal data from text before it leaves the place it was read in: e-mail addresses, payment card numbers
 * (13–19 digits, spaces or dashes allowed, that pass the Luhn check, so order numbers are left alone) and phone
 * numbers (a leading + or 0 and 8–15 digits with common separators), replaced by {@code [EMAIL]}, {@code [CARD]},
 * {@code [PHONE]}. The operator's own patterns run first, each replaced by {@code [NAME]}: they are the specific
 * ones (an IBAN's digit groups would otherwise be taken for a card or a phone number). Pattern-based, so it misses
 * what it does not recognise (names, addresses). The streams app applies it to every seed it writes; the trainer
 * again to every seed it stores (seeds written before redaction existed, or by other producers).
 */
public final class Redactor {

    private static final Pattern EMAIL = Pattern.compile("[\\p{L}\\p{N}._%+-]+@[\\p{L}\\p{N}.-]+\\.\\p{L}{2,}");
    private static final Pattern CARD = Pattern.compile("(?<![\\d])(?:\\d[ -]?){12,18}\\d(?![\\d])");
    private static final Pattern PHONE =
            Pattern.compile("(?<![\\w+])(?:\\+|00|0)\\d(?:[ ./-]?\\(?\\d\\)?){7,14}(?!\\d)");
    private static final Pattern NAME = Pattern.compile("[A-Z][A-Z0-9_]*");

    private final Map<String, Pattern> extra;

    /** The built-in patterns only. */
    public Redactor() {
        this(Map.of());
    }

    /**
     * {@code extra} in its iteration order, each match replaced by {@code [NAME]}, then the built-in patterns.
     *
     * @throws IllegalArgumentException for a name that is not upper-case letters, digits and underscores
     */
    public Redactor(Map<String, Pattern> extra) {
        extra.keySet().forEach(n -> {
            if (!NAME.matcher(n).matches()) {
                throw new IllegalArgumentException("redaction pattern name '" + n
                        + "': use upper-case letters, digits and _ (it becomes [" + n + "])");
            }
        });
        this.extra = new LinkedHashMap<>(extra);
    }

    public String redact(String text) {
        if (text == null) {
            return null;
        }
        String out = text;
        for (Map.Entry<String, Pattern> e : extra.entrySet()) {
            out = e.getValue().matcher(out).replaceAll(Matcher.quoteReplacement("[" + e.getKey() + "]"));
        }
        out = EMAIL.matcher(out).replaceAll("[EMAIL]");
        Matcher m = CARD.matcher(out);
        StringBuilder b = new StringBuilder();
        while (m.find()) {
            m.appendReplacement(
                    b, luhn(m.group().replaceAll("[ -]", "")) ? "[CARD]" : Matcher.quoteReplacement(m.group()));
        }
        m.appendTail(b);
        return PHONE.matcher(b.toString()).replaceAll("[PHONE]");
    }

    static boolean luhn(String digits) {
        int sum = 0;
        boolean twice = false;
        for (int i = digits.length() - 1; i >= 0; i--) {
            int d = digits.charAt(i) - '0';
            if (twice) {
                d *= 2;
                if (d > 9) {
                    d -= 9;
                }
            }
            sum += d;
            twice = !twice;
        }
        return sum % 10 == 0;
    }
}
