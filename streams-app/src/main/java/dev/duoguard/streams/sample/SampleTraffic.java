package dev.duoguard.streams.sample;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.duoguard.schemas.Category;
import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.schemas.Feedback;
import dev.duoguard.schemas.FeedbackSource;
import dev.duoguard.schemas.Role;
import dev.duoguard.schemas.SafetyLabel;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * The demo's multilingual chat sample (en/fr/es/de; safe and unsafe prompts, assistant replies, reviewer feedback),
 * written for this project: {@code sample-chat.jsonl}, one JSON object per line, {@code type} message or feedback.
 */
public final class SampleTraffic {

    public sealed interface Item permits Message, Review {}

    public record Message(ChatMessage message) implements Item {}

    public record Review(Feedback feedback) implements Item {}

    private SampleTraffic() {}

    public static List<Item> load() {
        ObjectMapper json = new ObjectMapper();
        List<Item> items = new ArrayList<>();
        try (InputStream in = SampleTraffic.class.getResourceAsStream("sample-chat.jsonl")) {
            if (in == null) {
                throw new IllegalStateException("sample-chat.jsonl is missing from the classpath");
            }
            BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            String line;
            while ((line = r.readLine()) != null) {
                if (line.isBlank()) {
                    continue;
                }
                JsonNode n = json.readTree(line);
                Instant now = Instant.now();
                if ("feedback".equals(n.path("type").asText())) {
                    List<Category> cats = new ArrayList<>();
                    n.path("categories").forEach(c -> cats.add(Category.valueOf(c.asText())));
                    items.add(new Review(Feedback.newBuilder()
                            .setMessageId(n.get("message_id").asText())
                            .setTenant(n.get("tenant").asText())
                            .setLabel(SafetyLabel.valueOf(n.get("label").asText()))
                            .setCategories(cats)
                            .setSource(FeedbackSource.valueOf(n.get("source").asText()))
                            .setTimestamp(now)
                            .build()));
                } else {
                    items.add(new Message(ChatMessage.newBuilder()
                            .setMessageId(n.get("id").asText())
                            .setConversationId(n.get("conversation").asText())
                            .setTenant(n.get("tenant").asText())
                            .setRole(Role.valueOf(n.get("role").asText()))
                            .setText(n.get("text").asText())
                            .setPrompt(n.hasNonNull("prompt") ? n.get("prompt").asText() : null)
                            .setTimestamp(now)
                            .build()));
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return items;
    }
}
