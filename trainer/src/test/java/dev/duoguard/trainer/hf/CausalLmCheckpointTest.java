package dev.duoguard.trainer.hf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.duoguard.trainer.TinyCausalLm;
import dev.duoguard.trainer.TinyCausalLm.Family;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reading an instruction-tuned checkpoint: shape, template, special tokens and stop ids from its own files. */
class CausalLmCheckpointTest {

    @Test
    void qwen2StopIdsComeFromTheGenerationConfigListConfigAndEosToken(@TempDir Path dir) throws IOException {
        TinyCausalLm.write(dir, Family.QWEN2, true, 1);
        CausalLmCheckpoint c = CausalLmCheckpoint.read(dir);
        assertThat(c.config().modelType()).isEqualTo("qwen2");
        assertThat(c.config().attentionBias()).isTrue();
        assertThat(c.config().tieWordEmbeddings()).isTrue();
        assertThat(c.chatTemplate()).isEqualTo(TinyCausalLm.CHATML);
        assertThat(c.bosToken()).isNull();
        assertThat(c.eosToken()).isEqualTo("<|im_end|>");
        assertThat(c.stopIds())
                .containsExactlyInAnyOrder(
                        TinyCausalLm.id(Family.QWEN2, "<|im_end|>"), TinyCausalLm.id(Family.QWEN2, "<|endoftext|>"));
    }

    @Test
    void llamaReadsItsBosObjectSingleEosIdRopeScalingAndUntiedHead(@TempDir Path dir) throws IOException {
        TinyCausalLm.write(dir, Family.LLAMA, false, 1);
        CausalLmCheckpoint c = CausalLmCheckpoint.read(dir);
        assertThat(c.config().modelType()).isEqualTo("llama");
        assertThat(c.config().attentionBias()).isFalse();
        assertThat(c.config().tieWordEmbeddings()).isFalse();
        assertThat(c.config().ropeScaling()).isNotNull();
        assertThat(c.config().rmsNormEps()).isEqualTo(1e-5);
        assertThat(c.bosToken()).isEqualTo("<|begin_of_text|>");
        assertThat(c.stopIds()).containsExactly(TinyCausalLm.id(Family.LLAMA, "<|eot_id|>"));
    }

    @Test
    void aMissingFileOrAnUnsupportedConfigIsOneLineNamingIt(@TempDir Path dir) throws IOException {
        Path q = dir.resolve("q");
        TinyCausalLm.write(q, Family.QWEN2, true, 1);
        Files.delete(q.resolve("tokenizer_config.json"));
        assertThatThrownBy(() -> CausalLmCheckpoint.read(q)).hasMessageContaining("has no tokenizer_config.json");

        Path l = dir.resolve("l");
        TinyCausalLm.write(l, Family.LLAMA, false, 1);
        ObjectMapper json = new ObjectMapper();
        ObjectNode config = (ObjectNode) json.readTree(l.resolve("config.json").toFile());
        ((ObjectNode) config.get("rope_scaling")).put("rope_type", "yarn");
        json.writeValue(l.resolve("config.json").toFile(), config);
        assertThatThrownBy(() -> CausalLmCheckpoint.read(l))
                .hasMessageContaining("rope_scaling type 'yarn' is not supported")
                .hasMessageNotContaining("\n");

        int vocab = config.get("vocab_size").asInt();
        ((ObjectNode) config.get("rope_scaling")).put("rope_type", "llama3");
        config.put("vocab_size", 100);
        json.writeValue(l.resolve("config.json").toFile(), config);
        assertThatThrownBy(() -> CausalLmCheckpoint.read(l))
                .hasMessageContaining("config.json's vocab_size is 100; the tokenizer is not this model's");

        config.put("vocab_size", vocab);
        config.put("model_type", "gemma2");
        json.writeValue(l.resolve("config.json").toFile(), config);
        assertThatThrownBy(() -> CausalLmCheckpoint.read(l))
                .hasMessageContaining("model_type 'gemma2' is not supported as a generator; supported: qwen2, llama");

        config.put("model_type", "llama");
        config.putArray("architectures").add("LlamaForSequenceClassification");
        json.writeValue(l.resolve("config.json").toFile(), config);
        assertThatThrownBy(() -> CausalLmCheckpoint.read(l)).hasMessageContaining("must be a *ForCausalLM checkpoint");

        config.putArray("architectures").add("LlamaForCausalLM");
        config.put("mlp_bias", true);
        json.writeValue(l.resolve("config.json").toFile(), config);
        assertThatThrownBy(() -> CausalLmCheckpoint.read(l)).hasMessageContaining("mlp_bias true is not supported");

        Path noTemplate = dir.resolve("base");
        TinyCausalLm.write(noTemplate, Family.QWEN2, true, 1);
        ObjectNode tok = (ObjectNode)
                json.readTree(noTemplate.resolve("tokenizer_config.json").toFile());
        tok.remove("chat_template");
        json.writeValue(noTemplate.resolve("tokenizer_config.json").toFile(), tok);
        assertThatThrownBy(() -> CausalLmCheckpoint.read(noTemplate))
                .hasMessageContaining("has no chat_template")
                .hasMessageContaining("instruction-tuned");
        Files.writeString(noTemplate.resolve("chat_template.jinja"), TinyCausalLm.CHATML);
        assertThat(CausalLmCheckpoint.read(noTemplate).chatTemplate())
                .as("newer checkpoints keep the template in its own file")
                .isEqualTo(TinyCausalLm.CHATML);
    }
}
