package dev.duoguard.common.redact;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class RedactorTest {

    @Test
    void redactsEmailsCardsAndPhonesButNotOtherNumbers() {
        Redactor r = new Redactor();
        assertThat(r.redact("écris à jean.dupont@example.fr ou au +33 6 12 34 56 78"))
                .isEqualTo("écris à [EMAIL] ou au [PHONE]");
        assertThat(r.redact("card 4111 1111 1111 1111 please")).isEqualTo("card [CARD] please");
        assertThat(r.redact("order 4111 1111 1111 1112 shipped"))
                .as("fails the Luhn check")
                .doesNotContain("[CARD]");
        assertThat(r.redact("in 2024 we sold 1500 units")).isEqualTo("in 2024 we sold 1500 units");
        assertThat(r.redact(null)).isNull();
    }

    @Test
    void theOperatorsPatternsRunFirstInTheirOrder() {
        Map<String, Pattern> extra = new LinkedHashMap<>();
        extra.put("IBAN", Pattern.compile("\\bDE\\d{2}(?: ?\\d{4}){4} ?\\d{2}\\b"));
        extra.put("EMPLOYEE_ID", Pattern.compile("\\bEMP-\\d{6}\\b"));
        Redactor r = new Redactor(extra);
        assertThat(r.redact("pay DE89 3704 0044 0532 0130 00 for EMP-123456, mail a@b.de"))
                .isEqualTo("pay [IBAN] for [EMPLOYEE_ID], mail [EMAIL]");
        assertThat(r.redact("a $1 replacement is literal: EMP-000001"))
                .isEqualTo("a $1 replacement is literal: [EMPLOYEE_ID]");
    }

    @Test
    void aPatternNameMustReadAsAPlaceholder() {
        assertThatThrownBy(() -> new Redactor(Map.of("iban", Pattern.compile("x"))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'iban'");
    }
}
