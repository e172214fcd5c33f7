package dev.duoguard.trainer.hf;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import com.hubspot.jinjava.objects.date.StrftimeFormatter;
import java.time.Clock;
import java.time.ZonedDateTime;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * A checkpoint's own {@code chat_template} (Jinja, from tokenizer_config.json) rendered with HubSpot's Jinjava, set
 * up the way transformers' {@code apply_chat_template} sets up Jinja2: {@code trim_blocks} and
 * {@code lstrip_blocks} on, one trailing newline of the template dropped, and the globals templates call:
 * {@code raise_exception(msg)} (fails the render), {@code strftime_now(format)} (Llama 3.x dates), plus the
 * variables {@code messages}, {@code add_generation_prompt}, {@code bos_token} and {@code eos_token}.
 *
 * <p>Any template error fails the render with the template's own message: a prompt the template rejects is never
 * sent to the model half-rendered.
 */
public final class ChatTemplate {

    /** One chat message; templates read {@code message['role']} and {@code message['content']}. */
    public record Message(String role, String content) {
        Map<String, Object> asMap() {
            return Map.of("role", role, "content", content);
        }
    }

    private static final String NOW = "__duoguard_now";

    private final String template;
    private final String bosToken;
    private final String eosToken;
    private final Clock clock;
    private final Jinjava jinja;

    public ChatTemplate(String template, String bosToken, String eosToken, Clock clock) {
        if (template == null || template.isBlank()) {
            throw new IllegalArgumentException("the chat template is empty");
        }
        // Jinja2 (keep_trailing_newline=False, transformers' setting) drops one newline at the template's end
        this.template = template.endsWith("\n") ? template.substring(0, template.length() - 1) : template;
        this.bosToken = bosToken == null ? "" : bosToken;
        this.eosToken = eosToken == null ? "" : eosToken;
        this.clock = clock;
        this.jinja = new Jinjava(JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                // Jinja2's semantics where Jinjava's defaults differ: operator precedence ('a' + b | trim), '\n'
                // in string literals, {%- -%} parsing, {{- -}} trimming (chat templates rely on all of them)
                .withLegacyOverrides(LegacyOverrides.newBuilder()
                        .withUseNaturalOperatorPrecedence(true)
                        .withParseWhitespaceControlStrictly(true)
                        .withHandleBackslashInQuotesOnly(true)
                        .withKeepNullableLoopValues(true)
                        .withUseTrimmingForNotesAndExpressions(true)
                        .build())
                .build());
        jinja.registerFunction(
                new ELFunctionDefinition("", "raise_exception", ChatTemplate.class, "raiseException", String.class));
        jinja.registerFunction(
                new ELFunctionDefinition("", "strftime_now", ChatTemplate.class, "strftimeNow", String.class));
    }

    /** The text the model sees for {@code messages}; with {@code addGenerationPrompt} it ends where the reply begins. */
    public String render(List<Message> messages, boolean addGenerationPrompt) {
        Map<String, Object> vars = new HashMap<>();
        vars.put("messages", messages.stream().map(Message::asMap).toList());
        vars.put("add_generation_prompt", addGenerationPrompt);
        vars.put("bos_token", bosToken);
        vars.put("eos_token", eosToken);
        vars.put(NOW, ZonedDateTime.now(clock));
        // in Jinja2 the globals are variables too: Llama 3.2's template calls strftime_now only if it "is defined"
        vars.put("strftime_now", "strftime_now()");
        vars.put("raise_exception", "raise_exception()");
        RenderResult r = jinja.renderForResult(template, vars);
        List<TemplateError> errors = r.getErrors().stream()
                .filter(e -> e.getSeverity() == TemplateError.ErrorType.FATAL)
                .toList();
        if (!errors.isEmpty()) {
            throw new IllegalArgumentException("chat template failed: "
                    + errors.stream().map(ChatTemplate::message).collect(Collectors.joining("; ")));
        }
        return r.getOutput();
    }

    private static String message(TemplateError e) {
        // raise_exception's own text, not the wrapper's
        Throwable t = e.getException();
        while (t != null && !(t instanceof TemplateException)) {
            t = t.getCause();
        }
        return t != null ? t.getMessage() : e.getMessage() + " (line " + e.getLineno() + ")";
    }

    /** What a template raises with {@code raise_exception}. */
    static final class TemplateException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        TemplateException(String message) {
            super(message);
        }
    }

    /** {@code raise_exception(message)}: the template refuses its input. Public for Jinjava's reflection. */
    public static String raiseException(String message) {
        throw new TemplateException(message);
    }

    /** {@code strftime_now(format)}: the render's clock in Python's strftime format. Public for Jinjava's reflection. */
    public static String strftimeNow(String format) {
        ZonedDateTime now =
                (ZonedDateTime) JinjavaInterpreter.getCurrent().getContext().get(NOW);
        return StrftimeFormatter.format(now, format, Locale.ENGLISH);
    }
}
