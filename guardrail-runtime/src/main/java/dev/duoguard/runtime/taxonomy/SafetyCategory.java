package dev.duoguard.runtime.taxonomy;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * DuoGuard's 12 safety categories in the classifier's output order (logit i is category i).
 * The order is part of the model contract: a bundle whose manifest lists other names or another order is refused.
 */
public enum SafetyCategory {
    VIOLENT_CRIMES("Violent crimes"),
    NON_VIOLENT_CRIMES("Non-violent crimes"),
    SEX_RELATED_CRIMES("Sex-related crimes"),
    CHILD_SEXUAL_EXPLOITATION("Child sexual exploitation"),
    SPECIALIZED_ADVICE("Specialized advice"),
    PRIVACY("Privacy"),
    INTELLECTUAL_PROPERTY("Intellectual property"),
    INDISCRIMINATE_WEAPONS("Indiscriminate weapons"),
    HATE("Hate"),
    SUICIDE_AND_SELF_HARM("Suicide and self-harm"),
    SEXUAL_CONTENT("Sexual content"),
    JAILBREAK_PROMPTS("Jailbreak prompts");

    public static final int COUNT = 12;
    private static final List<SafetyCategory> ORDERED = List.of(values());

    private final String displayName;

    SafetyCategory(String displayName) {
        this.displayName = displayName;
    }

    /** The name used in duoguard-method.md, the data files and bundle manifests, e.g. "Suicide and self-harm". */
    public String displayName() {
        return displayName;
    }

    /** A config-friendly key, e.g. {@code suicide_and_self_harm}. */
    public String key() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static List<SafetyCategory> ordered() {
        return ORDERED;
    }

    public static List<String> displayNames() {
        return ORDERED.stream().map(SafetyCategory::displayName).toList();
    }

    /** Accepts the display name, the key or the enum name, case-insensitively. */
    public static SafetyCategory parse(String name) {
        String n = name.trim();
        for (SafetyCategory c : ORDERED) {
            if (c.displayName.equalsIgnoreCase(n)
                    || c.key().equalsIgnoreCase(n)
                    || c.name().equalsIgnoreCase(n)) {
                return c;
            }
        }
        throw new IllegalArgumentException("unknown safety category '" + name + "'; expected one of "
                + Arrays.toString(ORDERED.stream().map(SafetyCategory::key).toArray()));
    }
}
