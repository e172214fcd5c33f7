package dev.duoguard.client;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.duoguard.schemas.Category;
import dev.duoguard.schemas.CategoryScore;
import dev.duoguard.schemas.Decision;
import dev.duoguard.schemas.Verdict;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The wire format of OpenAI's moderation API ({@code POST /v1/moderations}) on DuoGuard verdicts: the request's
 * {@code input} (a string or an array of strings) and the response ({@code id}, {@code model}, {@code results[]}
 * with {@code flagged}, {@code categories}, {@code category_scores}), plus a {@code duoguard} object per result
 * with the native verdict (decision, the 12 category scores, language, a fail-closed reason).
 *
 * <p>The category mapping ({@link #OPENAI_CATEGORIES}): an OpenAI category's score is the highest of the DuoGuard
 * categories that mean the same thing, and it is flagged when one of them fired (reached its REVIEW threshold).
 * OpenAI categories that DuoGuard's taxonomy does not separate (harassment/threatening, hate/threatening,
 * self-harm/intent and /instructions, violence/graphic) map to nothing and are always false with score 0; DuoGuard's
 * specialized advice and jailbreak prompts have no OpenAI name and appear only in {@code duoguard}. {@code flagged}
 * is true when DuoGuard's rule says unsafe or the decision is not ALLOW, so a jailbreak is flagged although no
 * OpenAI category is, and so is a fail-closed answer (no categories, scores 0, the reason in
 * {@code duoguard.rejection_reason}): a caller must gate on {@code flagged}, not on the categories.
 */
public final class OpenAiModeration {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** OpenAI's category names, in their documentation's order, with the DuoGuard categories behind each. */
    public static final Map<String, Set<Category>> OPENAI_CATEGORIES = openAiCategories();

    private static Map<String, Set<Category>> openAiCategories() {
        Map<String, Set<Category>> m = new LinkedHashMap<>();
        m.put("sexual", Set.of(Category.SEXUAL_CONTENT));
        m.put("sexual/minors", Set.of(Category.CHILD_SEXUAL_EXPLOITATION));
        m.put("harassment", Set.of(Category.HATE));
        m.put("harassment/threatening", Set.of());
        m.put("hate", Set.of(Category.HATE));
        m.put("hate/threatening", Set.of());
        m.put(
                "illicit",
                Set.of(
                        Category.NON_VIOLENT_CRIMES,
                        Category.SEX_RELATED_CRIMES,
                        Category.PRIVACY,
                        Category.INTELLECTUAL_PROPERTY));
        m.put("illicit/violent", Set.of(Category.VIOLENT_CRIMES, Category.INDISCRIMINATE_WEAPONS));
        m.put("self-harm", Set.of(Category.SUICIDE_AND_SELF_HARM));
        m.put("self-harm/intent", Set.of());
        m.put("self-harm/instructions", Set.of());
        m.put("violence", Set.of(Category.VIOLENT_CRIMES));
        m.put("violence/graphic", Set.of());
        return Collections.unmodifiableMap(m);
    }

    private OpenAiModeration() {}

    /** A request the endpoint refuses: the HTTP status and a message for the caller. */
    public static final class Refused extends RuntimeException {
        private final int status;

        public Refused(int status, String message) {
            super(message);
            this.status = status;
        }

        public int status() {
            return status;
        }
    }

    /**
     * The texts of a request body: {@code input} as a string, or a non-empty array of at most {@code maxInputs}
     * strings, each at most {@code maxChars} characters.
     *
     * @throws Refused 400 for what is not such a body, 413 for too many or too long inputs
     */
    public static List<String> inputs(byte[] body, int maxInputs, int maxChars) {
        JsonNode root;
        try {
            root = JSON.readTree(body);
        } catch (JsonProcessingException e) {
            throw new Refused(400, "the body is not JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new Refused(400, "the body cannot be read: " + e.getMessage());
        }
        JsonNode input = root == null ? null : root.get("input");
        if (input == null || input.isNull()) {
            throw new Refused(400, "'input' is required: a string or an array of strings");
        }
        List<String> texts = new ArrayList<>();
        if (input.isTextual()) {
            texts.add(input.textValue());
        } else if (input.isArray()) {
            if (input.isEmpty()) {
                throw new Refused(400, "'input' is an empty array");
            }
            if (input.size() > maxInputs) {
                throw new Refused(413, "'input' has " + input.size() + " strings; at most " + maxInputs);
            }
            for (JsonNode n : input) {
                if (!n.isTextual()) {
                    throw new Refused(400, "'input' must hold strings only (found " + n.getNodeType() + ")");
                }
                texts.add(n.textValue());
            }
        } else {
            throw new Refused(
                    400, "'input' must be a string or an array of strings (found " + input.getNodeType() + ")");
        }
        for (int i = 0; i < texts.size(); i++) {
            if (texts.get(i).length() > maxChars) {
                throw new Refused(
                        413, "input " + i + " has " + texts.get(i).length() + " characters; at most " + maxChars);
            }
        }
        return texts;
    }

    /** The response body for {@code verdicts}, one per input in order. */
    public static ObjectNode response(String id, List<Verdict> verdicts) {
        ObjectNode r = JSON.createObjectNode();
        r.put("id", id);
        // the model that scored: a fail-closed answer of the client names none
        Verdict scored = verdicts.stream()
                .filter(v -> !v.getModelName().equals(ModerationClient.CLIENT_MODEL))
                .findFirst()
                .orElse(verdicts.get(0));
        r.put("model", scored.getModelName() + "@" + scored.getModelVersion());
        ArrayNode results = r.putArray("results");
        for (Verdict v : verdicts) {
            results.add(result(v));
        }
        return r;
    }

    private static ObjectNode result(Verdict v) {
        Map<Category, Float> scores = new EnumMap<>(Category.class);
        for (CategoryScore s : v.getCategoryScores()) {
            scores.put(s.getCategory(), s.getScore());
        }
        Set<Category> fired = v.getFiredCategories().isEmpty() ? Set.of() : EnumSet.copyOf(v.getFiredCategories());
        ObjectNode result = JSON.createObjectNode();
        // the platform's decision too: a tenant or category threshold below the model's may REVIEW or BLOCK what
        // the model's own rule calls safe, and a caller that reads only `flagged` must hold it
        result.put("flagged", v.getUnsafe() || v.getDecision() != Decision.ALLOW);
        ObjectNode categories = result.putObject("categories");
        ObjectNode categoryScores = result.putObject("category_scores");
        OPENAI_CATEGORIES.forEach((name, ours) -> {
            categories.put(name, ours.stream().anyMatch(fired::contains));
            categoryScores.put(
                    name,
                    ours.stream()
                            .mapToDouble(c -> scores.getOrDefault(c, 0f))
                            .max()
                            .orElse(0));
        });
        ObjectNode duoguard = result.putObject("duoguard");
        duoguard.put("message_id", v.getMessageId());
        duoguard.put("decision", v.getDecision().name());
        duoguard.put("unsafe_score", v.getUnsafeScore());
        ObjectNode native12 = duoguard.putObject("category_scores");
        scores.forEach((c, s) -> native12.put(c.name(), s));
        ArrayNode firedNames = duoguard.putArray("fired_categories");
        v.getFiredCategories().forEach(c -> firedNames.add(c.name()));
        duoguard.put("language", v.getLanguage());
        if (v.getRejectionReason() != null) {
            duoguard.put("rejection_reason", v.getRejectionReason());
        }
        return result;
    }
}
