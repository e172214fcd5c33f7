package dev.duoguard.trainer.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.duoguard.trainer.TinyCheckpoint;
import dev.duoguard.trainer.data.DataException;
import dev.duoguard.trainer.hf.DType;
import dev.duoguard.trainer.hf.TransformerConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The pad id of a base LM checkpoint comes from its own files, in the order transformers users expect. */
class CheckpointPadIdTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** The id of {@code token} in the checkpoint's tokenizer.json (its vocabulary or added tokens). */
    static long vocabId(Path checkpoint, String token) throws IOException {
        var root = JSON.readTree(checkpoint.resolve("tokenizer.json").toFile());
        for (var t : root.path("added_tokens")) {
            if (t.path("content").asText().equals(token)) {
                return t.path("id").asLong();
            }
        }
        return root.path("model").path("vocab").path(token).asLong(-1);
    }

    /** A tiny Qwen2 base LM (no pad id in config.json), with {@code configure} applied to its config.json. */
    private static Path checkpoint(Path dir, Consumer<ObjectNode> configure) throws IOException {
        TransformerConfig c =
                new TransformerConfig(32, 1, 4, 2, 64, 10000.0, 1e-6, 512, true, true, 1024, -1, 0, "qwen2");
        ObjectNode json = c.toJson();
        configure.accept(json);
        var weights = TinyCheckpoint.randomWeights(c.withClassifierHead(12, 0), 1);
        TinyCheckpoint.write(dir, json, weights, DType.F32, false);
        return dir;
    }

    @Test
    void configPadIdWinsThenTheTokenizersPadTokenThenEos(@TempDir Path dir) throws IOException {
        Path withPad = checkpoint(dir.resolve("a"), n -> {
            n.put("pad_token_id", 7);
            n.put("eos_token_id", 3);
        });
        Files.writeString(withPad.resolve("tokenizer_config.json"), "{\"pad_token\": \"[UNK]\"}");
        assertThat(CheckpointPadId.of(withPad)).isEqualTo(7);

        Path named = checkpoint(dir.resolve("b"), n -> n.put("eos_token_id", 3));
        Files.writeString(
                named.resolve("tokenizer_config.json"), "{\"pad_token\": {\"content\": \"[UNK]\", \"special\": true}}");
        assertThat(CheckpointPadId.of(named)).isEqualTo(vocabId(named, "[UNK]")).isNotEqualTo(3);

        Path word = checkpoint(dir.resolve("c"), n -> {});
        String token = JSON.readTree(word.resolve("tokenizer.json").toFile())
                .path("model")
                .path("vocab")
                .fieldNames()
                .next();
        Files.writeString(word.resolve("tokenizer_config.json"), "{\"pad_token\": \"" + token + "\"}");
        assertThat(CheckpointPadId.of(word)).as("a vocabulary entry").isEqualTo(vocabId(word, token));

        Path eosList = checkpoint(
                dir.resolve("d"), n -> n.putArray("eos_token_id").add(9).add(4));
        assertThat(CheckpointPadId.of(eosList))
                .as("no pad token anywhere: the first eos")
                .isEqualTo(9);
    }

    @Test
    void aCheckpointWithoutPadOrEosOrWithAnUnknownPadTokenIsAClearError(@TempDir Path dir) throws IOException {
        Path none = checkpoint(dir.resolve("a"), n -> {});
        assertThatThrownBy(() -> CheckpointPadId.of(none))
                .isInstanceOf(DataException.class)
                .hasMessageContaining("has no pad_token_id or eos_token_id");

        Path unknown = checkpoint(dir.resolve("b"), n -> n.put("eos_token_id", 3));
        Files.writeString(unknown.resolve("tokenizer_config.json"), "{\"pad_token\": \"<|not-there|>\"}");
        assertThatThrownBy(() -> CheckpointPadId.of(unknown))
                .isInstanceOf(DataException.class)
                .hasMessageContaining("names pad token '<|not-there|>'");
    }
}
