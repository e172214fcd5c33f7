package dev.duoguard.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.duoguard.schemas.Category;
import dev.duoguard.schemas.CategoryScore;
import dev.duoguard.schemas.Decision;
import dev.duoguard.schemas.Role;
import dev.duoguard.schemas.Verdict;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

class OpenAiModerationTest {

    static byte[] json(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void inputIsAStringOrAnArrayOfStringsWithinTheLimits() {
        assertThat(OpenAiModeration.inputs(json("{\"input\":\"hello\"}"), 4, 10))
                .containsExactly("hello");
        assertThat(OpenAiModeration.inputs(json("{\"input\":[\"a\",\"b\"],\"model\":\"x\"}"), 4, 10))
                .containsExactly("a", "b");

        assertThatThrownBy(() -> OpenAiModeration.inputs(json("{not json"), 4, 10))
                .hasMessageContaining("not JSON")
                .extracting(e -> ((OpenAiModeration.Refused) e).status())
                .isEqualTo(400);
        assertThatThrownBy(() -> OpenAiModeration.inputs(json("{}"), 4, 10))
                .hasMessageContaining("'input' is required");
        assertThatThrownBy(() -> OpenAiModeration.inputs(json("{\"input\":[]}"), 4, 10))
                .hasMessageContaining("empty array");
        assertThatThrownBy(() -> OpenAiModeration.inputs(json("{\"input\":[1]}"), 4, 10))
                .hasMessageContaining("strings only");
        assertThatThrownBy(() -> OpenAiModeration.inputs(json("{\"input\":{\"a\":1}}"), 4, 10))
                .hasMessageContaining("a string or an array");
        assertThatThrownBy(() -> OpenAiModeration.inputs(json("{\"input\":[\"a\",\"b\",\"c\"]}"), 2, 10))
                .extracting(e -> ((OpenAiModeration.Refused) e).status())
                .isEqualTo(413);
        assertThatThrownBy(() -> OpenAiModeration.inputs(json("{\"input\":\"0123456789x\"}"), 2, 10))
                .hasMessageContaining("11 characters; at most 10")
                .extracting(e -> ((OpenAiModeration.Refused) e).status())
                .isEqualTo(413);
    }

    static Verdict verdict(Decision decision, boolean unsafe, List<Category> fired, float weapons, float hate) {
        List<CategoryScore> scores = new ArrayList<>();
        for (Category c : Category.values()) {
            float s = c == Category.INDISCRIMINATE_WEAPONS ? weapons : c == Category.HATE ? hate : 0.01f;
            scores.add(new CategoryScore(c, s));
        }
        return Verdict.newBuilder()
                .setMessageId("m1")
                .setConversationId("c")
                .setTenant("t")
                .setRole(Role.USER)
                .setDecision(decision)
                .setUnsafe(unsafe)
                .setUnsafeScore(Math.max(weapons, hate))
                .setCategoryScores(scores)
                .setFiredCategories(fired)
                .setLanguage("en")
                .setLanguageConfidence(1f)
                .setModelName("duoguard-default")
                .setModelVersion("3")
                .setScoringLatencyUs(10)
                .setScoredAt(Instant.now())
                .build();
    }

    @Test
    void categoriesMapToOpenAiNamesScoresTakeTheHighestAndFlagsFollowFiredCategories() {
        JsonNode r = OpenAiModeration.response(
                "modr-1",
                List.of(
                        verdict(Decision.BLOCK, true, List.of(Category.INDISCRIMINATE_WEAPONS), 0.9f, 0.2f),
                        verdict(Decision.ALLOW, false, List.of(), 0.1f, 0.3f)));

        assertThat(r.get("id").asText()).isEqualTo("modr-1");
        assertThat(r.get("model").asText()).isEqualTo("duoguard-default@3");
        JsonNode first = r.get("results").get(0);
        assertThat(first.get("flagged").asBoolean()).isTrue();
        assertThat(first.get("categories").get("illicit/violent").asBoolean()).isTrue();
        assertThat(first.get("categories").get("violence").asBoolean())
                .as("weapons are not violence")
                .isFalse();
        assertThat(first.get("category_scores").get("illicit/violent").asDouble())
                .isCloseTo(0.9, within());
        assertThat(first.get("category_scores").get("hate").asDouble()).isCloseTo(0.2, within());
        assertThat(first.get("category_scores").get("violence/graphic").asDouble())
                .as("no DuoGuard counterpart")
                .isZero();
        assertThat(first.get("categories").size()).isEqualTo(13);
        assertThat(first.get("duoguard").get("decision").asText()).isEqualTo("BLOCK");
        assertThat(first.get("duoguard").get("category_scores").size()).isEqualTo(12);
        assertThat(first.get("duoguard").get("message_id").asText()).isEqualTo("m1");

        JsonNode second = r.get("results").get(1);
        assertThat(second.get("flagged").asBoolean()).isFalse();
        assertThat(second.get("categories").get("hate").asBoolean()).isFalse();

        // a tenant threshold below the model's: the model's rule says safe, the platform says REVIEW
        JsonNode held = OpenAiModeration.response(
                        "modr-2", List.of(verdict(Decision.REVIEW, false, List.of(Category.HATE), 0.1f, 0.3f)))
                .get("results")
                .get(0);
        assertThat(held.get("flagged").asBoolean())
                .as("flagged follows the decision")
                .isTrue();
        assertThat(held.get("categories").get("hate").asBoolean()).isTrue();
    }

    private static Offset<Double> within() {
        return Offset.offset(1e-6);
    }
}
