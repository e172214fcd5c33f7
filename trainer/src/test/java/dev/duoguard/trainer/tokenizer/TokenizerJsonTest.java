package dev.duoguard.trainer.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.duoguard.trainer.TinyEncoder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Special tokens around a single sequence, read from the post_processor kinds Hugging Face tokenizers write. */
class TokenizerJsonTest {

    @TempDir
    Path dir;

    TokenizerJson.SpecialTokens read(String postProcessorJson) throws IOException {
        Path f = dir.resolve("tokenizer.json");
        Files.writeString(
                f,
                "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}, \"post_processor\": " + postProcessorJson + "}");
        return TokenizerJson.specialTokens(f);
    }

    @Test
    void templateBertAndRobertaProcessingGiveTheTokensAroundTheText() throws IOException {
        TinyEncoder.writeWordPieceTokenizer(dir.resolve("t.json"), true);
        TokenizerJson.SpecialTokens t = TokenizerJson.specialTokens(dir.resolve("t.json"));
        assertThat(t.prefix()).containsExactly(2L);
        assertThat(t.suffix()).containsExactly(3L);
        TinyEncoder.writeWordPieceTokenizer(dir.resolve("b.json"), false);
        assertThat(TokenizerJson.specialTokens(dir.resolve("b.json"))).isEqualTo(t);

        TokenizerJson.SpecialTokens roberta = read("""
                {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0], "trim_offsets": true,
                 "add_prefix_space": true}""");
        assertThat(roberta.prefix()).containsExactly(0L);
        assertThat(roberta.suffix()).containsExactly(2L);
    }

    @Test
    void aTemplateMayPutSeveralTokensOnEitherSideAndASequenceMayWrapIt() throws IOException {
        TokenizerJson.SpecialTokens t = read("""
                {"type": "Sequence", "processors": [
                  {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
                  {"type": "TemplateProcessing",
                   "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"SpecialToken": {"id": "<lang>", "type_id": 0}},
                              {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "<eos>", "type_id": 0}}],
                   "pair": [],
                   "special_tokens": {"<bos>": {"id": "<bos>", "ids": [7], "tokens": ["<bos>"]},
                                      "<lang>": {"id": "<lang>", "ids": [70, 71], "tokens": ["<l>", "<ang>"]},
                                      "<eos>": {"id": "<eos>", "ids": [8], "tokens": ["<eos>"]}}}]}""");
        assertThat(t.prefix()).containsExactly(7L, 70L, 71L);
        assertThat(t.suffix()).containsExactly(8L);
    }

    @Test
    void noPostProcessorOrAByteLevelOneAddsNothing() throws IOException {
        assertThat(read("null")).isEqualTo(TokenizerJson.SpecialTokens.NONE);
        assertThat(read("{\"type\": \"ByteLevel\", \"trim_offsets\": false}"))
                .isEqualTo(TokenizerJson.SpecialTokens.NONE);
    }

    @Test
    void unsupportedOrBrokenPostProcessorsAreRefusedWithTheReason() {
        assertThatThrownBy(() -> read("{\"type\": \"Frobnicate\"}"))
                .hasMessageContaining("post_processor type 'Frobnicate' is not supported");
        assertThatThrownBy(() -> read("{\"type\": \"BertProcessing\", \"cls\": [\"[CLS]\", 101]}"))
                .hasMessageContaining("needs 'sep' as [token, id]");
        assertThatThrownBy(() -> read("""
                {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                 {"Sequence": {"id": "A", "type_id": 0}}], "special_tokens": {}}""")).hasMessageContaining("names no special token listed with ids");
    }

    @Test
    void theAllMiniLmTokenizerShippedWithTheTrainerHasBertsClsAndSep() throws IOException {
        // the real tokenizer.json of sentence-transformers/all-MiniLM-L6-v2 (langchain4j's jar, a trainer dependency)
        try (var in = getClass().getClassLoader().getResourceAsStream("all-minilm-l6-v2-tokenizer.json")) {
            assertThat(in)
                    .as("all-minilm-l6-v2-tokenizer.json on the test classpath")
                    .isNotNull();
            Path f = dir.resolve("minilm.json");
            Files.copy(in, f);
            TokenizerJson.SpecialTokens t = TokenizerJson.specialTokens(f);
            assertThat(t.prefix()).containsExactly(101L);
            assertThat(t.suffix()).containsExactly(102L);
        }
    }
}
