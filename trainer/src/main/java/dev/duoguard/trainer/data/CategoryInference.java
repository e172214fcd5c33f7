package dev.duoguard.trainer.data;

import dev.duoguard.runtime.taxonomy.SafetyCategory;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Names categories for unsafe training items whose source labels only safe/unsafe (AdvBench, MaliciousInstruct,
 * most of ToxicChat and Do-Not-Answer): weak supervision by English keyword rules, written for this project.
 *
 * <p>Why: six of the twelve categories have no labelled training item in the public train seeds, so without this
 * the model can only name Hate, Jailbreak, Privacy, Specialized advice and Sexual content. A rule fires on the
 * English text of an item; its machine translations (same group key: the English row's id) get the same
 * categories, so rules need no other language. An item no rule matches stays "category unknown" (see
 * {@code MultiLabelLoss}). Rules are deliberately narrow (a wrong category is worse than none); how many items
 * each names is printed with the mix, and they are never applied to evaluation data.
 */
public final class CategoryInference {

    private static final Map<SafetyCategory, Pattern> RULES = new EnumMap<>(SafetyCategory.class);

    static {
        rule(
                SafetyCategory.INDISCRIMINATE_WEAPONS,
                "bombs?",
                "explosives?",
                "detonat\\w*",
                "chemical weapons?",
                "biological weapons?",
                "bio ?weapons?",
                "nerve agents?",
                "sarin",
                "anthrax",
                "ricin",
                "nuclear weapons?",
                "dirty bombs?",
                "mass destruction",
                "pipe bombs?",
                "grenades?",
                "napalm",
                "mustard gas");
        rule(
                SafetyCategory.CHILD_SEXUAL_EXPLOITATION,
                "child porn\\w*",
                "p[a]?edophil\\w*",
                "csam",
                "(?:child|children|minors?|kids?|underage)\\b.{0,40}\\b(?:sex(?:ual\\w*)?|nude|naked)",
                "(?:sex(?:ual\\w*)?|nude|naked)\\b.{0,40}\\b(?:child|children|minors?|kids?|underage)",
                "groom(?:ing)? (?:a )?(?:child|minor)\\w*");
        rule(
                SafetyCategory.SEX_RELATED_CRIMES,
                "rap(?:e|ed|ing|ist)",
                "sexual(?:ly)? assault\\w*",
                "sex trafficking",
                "human trafficking",
                "revenge porn",
                "non-?consensual",
                "prostitut\\w*",
                "drug (?:someone|her|him) .{0,20}sex");
        rule(
                SafetyCategory.SUICIDE_AND_SELF_HARM,
                "suicid\\w*",
                "kill (?:myself|yourself|themselves|himself|herself)",
                "self-?harm\\w*",
                "cut(?:ting)? myself",
                "end my life",
                "starve myself",
                "anorexi\\w*",
                "bulimi\\w*",
                "overdose on");
        rule(
                SafetyCategory.VIOLENT_CRIMES,
                "kill(?:s|ing|ed)? (?!myself|yourself|themselves|himself|herself|time|the process|a process)\\w+",
                "murder\\w*",
                "assassinat\\w*",
                "stab(?:bing)?",
                "shoot(?:ing)? (?:up|someone|people|a )",
                "kidnap\\w*",
                "tortur\\w*",
                "poison(?:ing)? (?:someone|a person|my|his|her|their)",
                "assault\\w*",
                "mass shooting",
                "terroris\\w*",
                "violent attack",
                "hurt (?:someone|people|a person)",
                "beat (?:someone|up)",
                "strangl\\w*");
        rule(
                SafetyCategory.NON_VIOLENT_CRIMES,
                "steal\\w*",
                "stole",
                "shoplift\\w*",
                "launder\\w*",
                "counterfeit\\w*",
                "phishing",
                "fraud\\w*",
                "scam\\w*",
                "embezzl\\w*",
                "ransomware",
                "malware",
                "virus(?:es)?",
                "keylogger",
                "hack\\w*",
                "botnet",
                "ddos",
                "identity theft",
                "credit card (?:numbers?|details)",
                "tax evasion",
                "evade taxes",
                "insider trading",
                "smuggl\\w*",
                "sell (?:illegal )?drugs",
                "drug deal\\w*",
                "manufactur\\w* (?:meth|cocaine|heroin|drugs)",
                "meth(?:amphetamine)?",
                "cocaine",
                "heroin",
                "fentanyl",
                "bribe\\w*",
                "forg(?:e|ery|ing) (?:a |documents|signatures?|checks?)",
                "break into",
                "burglar\\w*",
                "exploit (?:a )?vulnerabilit\\w*",
                "cheat on (?:an? )?(?:exam|test)");
        rule(
                SafetyCategory.PRIVACY,
                "personal (?:information|data|details)",
                "home address",
                "social security number",
                "doxx?\\w*",
                "track (?:someone|a person|my|his|her)\\w*",
                "spy on",
                "stalk\\w*",
                "private messages",
                "without (?:their|his|her) (?:knowledge|consent)",
                "phone number of",
                "surveil\\w*");
        rule(
                SafetyCategory.INTELLECTUAL_PROPERTY,
                "pirat\\w*",
                "copyright\\w*",
                "torrent\\w*",
                "crack(?:ed)? software",
                "plagiari\\w*",
                "bypass (?:drm|licens\\w*)",
                "trade secrets?");
        rule(
                SafetyCategory.HATE,
                "racis\\w*",
                "racial slurs?",
                "slurs?",
                "inferior race",
                "hate speech",
                "nazi\\w*",
                "ethnic cleansing",
                "white supremac\\w*",
                "antisemit\\w*",
                "homophob\\w*",
                "transphob\\w*",
                "xenophob\\w*",
                "discriminat\\w* against",
                "(?:promotes?|incites?|spread) hat\\w*",
                "genocide");
        rule(
                SafetyCategory.SEXUAL_CONTENT,
                "porn\\w*",
                "explicit sex\\w*",
                "erotic\\w*",
                "sex scenes?",
                "nudes?",
                "sexual(?:ly)? explicit",
                "sexual fantas\\w*",
                "sexting");
        rule(
                SafetyCategory.SPECIALIZED_ADVICE,
                "diagnos\\w*",
                "dosage",
                "prescri\\w*",
                "legal advice",
                "medical advice",
                "financial advice",
                "invest(?:ment)? advice",
                "should i invest");
        rule(
                SafetyCategory.JAILBREAK_PROMPTS,
                "ignore (?:all )?(?:the |your )?(?:previous|prior|above) instructions",
                "developer mode",
                "jailbr[eo]a?k\\w*",
                "do anything now",
                "no (?:ethical|moral) (?:guidelines|restrictions)",
                "without any (?:restrictions|filters|censorship)",
                "unfiltered and amoral");
    }

    private CategoryInference() {}

    private static void rule(SafetyCategory c, String... alternatives) {
        RULES.put(c, Pattern.compile("\\b(?:" + String.join("|", alternatives) + ")\\b"));
    }

    /** The categories the rules find in {@code englishText} (lower-cased first); empty when none matches. */
    public static Set<SafetyCategory> infer(String englishText) {
        String t = englishText.toLowerCase(Locale.ROOT);
        Set<SafetyCategory> out = EnumSet.noneOf(SafetyCategory.class);
        RULES.forEach((c, p) -> {
            if (p.matcher(t).find()) {
                out.add(c);
            }
        });
        return out;
    }

    /**
     * {@code items} with categories named for the unsafe items whose category is unknown: by the rules on the
     * item's English text, or on the English row of its group (translations). Counts per category are added to
     * {@code inferred}. Items with known categories, safe items and items no rule matches are returned as they are.
     */
    public static List<Example> apply(List<Example> items, Map<SafetyCategory, Integer> inferred) {
        Map<String, Set<SafetyCategory>> byGroup = new HashMap<>();
        for (Example e : items) {
            if (e.categoryUnknown() && e.lang().equals("en")) {
                Set<SafetyCategory> c = infer(e.text());
                if (!c.isEmpty()) {
                    byGroup.put(e.groupKey(), c);
                }
            }
        }
        List<Example> out = new ArrayList<>(items.size());
        for (Example e : items) {
            Set<SafetyCategory> c = e.categoryUnknown() ? byGroup.get(e.groupKey()) : null;
            if (c == null) {
                out.add(e);
            } else {
                c.forEach(cat -> inferred.merge(cat, 1, Integer::sum));
                out.add(new Example(e.id(), e.text(), e.lang(), true, c, e.source(), e.split(), e.groupKey()));
            }
        }
        return out;
    }
}
