package dev.duoguard.trainer.hf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.duoguard.trainer.TinyCausalLm;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Chat templates rendered by Jinjava as transformers renders them with Jinja2; the golden strings are worked out
 * by hand from the template text in {@link TinyCausalLm}.
 */
class ChatTemplateTest {

    static final Clock JULY_5 = Clock.fixed(Instant.parse("2026-07-05T10:00:00Z"), ZoneOffset.UTC);
    static final List<ChatTemplate.Message> SYSTEM_USER = List.of(
            new ChatTemplate.Message("system", "  Be brief.  "), new ChatTemplate.Message("user", "Hi there\n"));

    @Test
    void chatMlRendersRolesBetweenImStartAndImEndAndOpensTheAssistantTurn() {
        ChatTemplate t = new ChatTemplate(TinyCausalLm.CHATML, null, "<|im_end|>", JULY_5);
        assertThat(t.render(SYSTEM_USER, true))
                .isEqualTo("<|im_start|>system\n  Be brief.  <|im_end|>\n"
                        + "<|im_start|>user\nHi there\n<|im_end|>\n"
                        + "<|im_start|>assistant\n");
        assertThat(t.render(List.of(new ChatTemplate.Message("user", "Hi")), false))
                .as("no system message: the template's default one; no generation prompt")
                .isEqualTo("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                        + "<|im_start|>user\nHi<|im_end|>\n");
    }

    @Test
    void llama3RendersBosDatedSystemHeaderTrimmedContentAndAssistantHeader() {
        ChatTemplate t = new ChatTemplate(TinyCausalLm.LLAMA3, "<|begin_of_text|>", "<|eot_id|>", JULY_5);
        assertThat(t.render(SYSTEM_USER, true))
                .isEqualTo("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
                        + "Today Date: 05 Jul 2026\n\n"
                        + "Be brief.<|eot_id|>"
                        + "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
                        + "<|start_header_id|>assistant<|end_header_id|>\n\n");
    }

    @Test
    void raiseExceptionFailsTheRenderWithTheTemplatesMessage() {
        ChatTemplate llama = new ChatTemplate(TinyCausalLm.LLAMA3, "<|begin_of_text|>", "<|eot_id|>", JULY_5);
        List<ChatTemplate.Message> twoUsers =
                List.of(new ChatTemplate.Message("user", "a"), new ChatTemplate.Message("user", "b"));
        assertThatThrownBy(() -> llama.render(twoUsers, true))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("Conversation roles must alternate user/assistant/user/assistant/...");
        ChatTemplate chatMl = new ChatTemplate(TinyCausalLm.CHATML, null, "<|im_end|>", JULY_5);
        List<ChatTemplate.Message> lateSystem =
                List.of(new ChatTemplate.Message("user", "a"), new ChatTemplate.Message("system", "b"));
        assertThatThrownBy(() -> chatMl.render(lateSystem, true))
                .hasMessageContaining("a system message must come first");
    }

    @Test
    void eosTokenAndTrailingNewlineBehaveAsInJinja2() {
        ChatTemplate t = new ChatTemplate("{{ messages[0].content }}{{ eos_token }}\n", "", "</s>", JULY_5);
        assertThat(t.render(List.of(new ChatTemplate.Message("user", "x")), false))
                .as("one trailing newline of the template is dropped (keep_trailing_newline=False)")
                .isEqualTo("x</s>");
    }

    @Test
    void strftimeNowIsDefinedForTemplatesThatCheckBeforeCallingIt() {
        // Llama 3.2's template falls back to a fixed date unless strftime_now is defined, as it is in transformers
        ChatTemplate t = new ChatTemplate(
                "{%- if strftime_now is defined %}{{ strftime_now('%Y-%m-%d') }}{% else %}26 Jul 2024{% endif %}",
                "", "", JULY_5);
        assertThat(t.render(List.of(new ChatTemplate.Message("user", "x")), true))
                .isEqualTo("2026-07-05");
    }
}
