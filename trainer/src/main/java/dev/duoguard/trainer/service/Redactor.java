package dev.duoguard.trainer.service;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Removes personal data from seed text before it is stored or used: e-mail addresses, payment card numbers
 * (13–19 digits, spaces or dashes allowed, that pass the Luhn check, so order numbers are left alone) and phone
 * numbers (a leading + or 0 and 8–15 digits with common separators). Replaced by {@code [EMAIL]},
 * {@code [CARD]}, {@code [PHONE]}. Pattern-based, so it misses what it does not recognise (names, addresses).
 */
public final class Redactor {

    private static final Pattern EMAIL = Pattern.compile("[\\p{L}\\p{N}._%+-]+@[\\p{L}\\p{N}.-]+\\.\\p{L}{2,}");
    private static final Pattern CARD = Pattern.compile("(?<![\\d])(?:\\d[ -]?){12,18}\\d(?![\\d])");
    private static final Pattern PHONE =
            Pattern.compile("(?<![\\w+])(?:\\+|00|0)\\d(?:[ ./-]?\\(?\\d\\)?){7,14}(?!\\d)");

    public String redact(String text) {
        if (text == null) {
            return null;
        }
        String out = EMAIL.matcher(text).replaceAll("[EMAIL]");
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
