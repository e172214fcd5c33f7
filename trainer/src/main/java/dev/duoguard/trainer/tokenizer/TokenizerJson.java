package dev.duoguard.trainer.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Facts about a Hugging Face {@code tokenizer.json} that DJL's binding does not expose. */
public final class TokenizerJson {

    private TokenizerJson() {}

    /** One more than the largest id in the model vocabulary and the added tokens: the embedding rows needed. */
    public static int vocabularySize(Path tokenizerJson) throws IOException {
        JsonNode root = new ObjectMapper().readTree(tokenizerJson.toFile());
        int max = -1;
        for (JsonNode id :
                (Iterable<JsonNode>) () -> root.path("model").path("vocab").elements()) {
            max = Math.max(max, id.asInt());
        }
        for (JsonNode t : root.path("added_tokens")) {
            max = Math.max(max, t.path("id").asInt());
        }
        if (max < 0) {
            throw new IOException(tokenizerJson + " has no vocabulary");
        }
        return max + 1;
    }

    /**
     * The special tokens the tokenizer's {@code post_processor} puts around a single sequence: BERT's
     * {@code [CLS] ... [SEP]}, XLM-R's {@code <s> ... </s>}. The scorer adds them to every window itself (it encodes
     * without special tokens so that long texts can be windowed).
     *
     * @param prefix ids before the text
     * @param suffix ids after the text
     */
    public record SpecialTokens(List<Long> prefix, List<Long> suffix) {
        public static final SpecialTokens NONE = new SpecialTokens(List.of(), List.of());
    }

    /**
     * Reads the special tokens of a single sequence from {@code post_processor}: {@code TemplateProcessing} (its
     * {@code single} template), {@code BertProcessing} / {@code RobertaProcessing} ({@code cls} and {@code sep}),
     * a {@code Sequence} of processors (the one of those it contains; {@code ByteLevel} adds none), or none at all.
     */
    public static SpecialTokens specialTokens(Path tokenizerJson) throws IOException {
        JsonNode root = new ObjectMapper().readTree(tokenizerJson.toFile());
        return specialTokens(root.path("post_processor"), tokenizerJson.toString());
    }

    static SpecialTokens specialTokens(JsonNode post, String source) throws IOException {
        if (post.isMissingNode() || post.isNull()) {
            return SpecialTokens.NONE;
        }
        String type = post.path("type").asText("");
        switch (type) {
            case "TemplateProcessing":
                return template(post, source);
            case "BertProcessing":
            case "RobertaProcessing":
                return new SpecialTokens(List.of(pairId(post, "cls", source)), List.of(pairId(post, "sep", source)));
            case "ByteLevel":
                return SpecialTokens.NONE;
            case "Sequence": {
                SpecialTokens found = SpecialTokens.NONE;
                for (JsonNode p : post.path("processors")) {
                    SpecialTokens s = specialTokens(p, source);
                    if (!s.equals(SpecialTokens.NONE)) {
                        if (!found.equals(SpecialTokens.NONE)) {
                            throw new IOException(source + ": post_processor Sequence adds special tokens twice; "
                                    + "keep one TemplateProcessing/BertProcessing/RobertaProcessing");
                        }
                        found = s;
                    }
                }
                return found;
            }
            default:
                throw new IOException(source + ": post_processor type '" + type + "' is not supported; use "
                        + "TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel or none");
        }
    }

    /** {@code "cls": ["[CLS]", 101]}. */
    private static long pairId(JsonNode post, String key, String source) throws IOException {
        JsonNode pair = post.path(key);
        if (!pair.isArray() || pair.size() != 2 || !pair.get(1).canConvertToLong()) {
            throw new IOException(source + ": post_processor "
                    + post.path("type").asText() + " needs '" + key + "' as [token, id] but has " + pair);
        }
        return pair.get(1).asLong();
    }

    /** The special tokens before and after {@code Sequence A} in the {@code single} template. */
    private static SpecialTokens template(JsonNode post, String source) throws IOException {
        JsonNode single = post.path("single");
        if (!single.isArray()) {
            throw new IOException(source + ": TemplateProcessing has no 'single' template");
        }
        List<Long> prefix = new ArrayList<>();
        List<Long> suffix = new ArrayList<>();
        boolean seenSequence = false;
        for (JsonNode piece : single) {
            if (piece.has("Sequence")) {
                if (seenSequence) {
                    throw new IOException(source + ": TemplateProcessing 'single' has more than one Sequence");
                }
                seenSequence = true;
                continue;
            }
            String name = piece.path("SpecialToken").path("id").asText(null);
            JsonNode ids =
                    post.path("special_tokens").path(name == null ? "" : name).path("ids");
            if (name == null || !ids.isArray() || ids.isEmpty()) {
                throw new IOException(source + ": TemplateProcessing piece " + piece + " names no special token "
                        + "listed with ids in 'special_tokens'");
            }
            for (JsonNode id : ids) {
                (seenSequence ? suffix : prefix).add(id.asLong());
            }
        }
        if (!seenSequence) {
            throw new IOException(source + ": TemplateProcessing 'single' has no Sequence (\"$A\") piece");
        }
        return new SpecialTokens(List.copyOf(prefix), List.copyOf(suffix));
    }
}
