package dev.duoguard.trainer.loop;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.duoguard.trainer.TinyCausalLm;
import dev.duoguard.trainer.TinyCausalLm.Family;
import dev.duoguard.trainer.engine.DjlTransformer;
import dev.duoguard.trainer.engine.LoraConfig;
import dev.duoguard.trainer.train.TrainPreset;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link LoopSettings#dtype()} as the loop loads its players: float16 holds the frozen weights (the LoRA generator's
 * base, the judge) in half precision, while the adapters stay float32; on tiny checkpoints, on the CPU.
 */
class TwoPlayerLoopDTypeTest {

    static final LoraConfig LORA = new LoraConfig(4, 8f, 0f, List.of("q_proj", "v_proj"));

    static LoopSettings.Builder settings(Path generator) {
        return LoopSettings.builder()
                .iterations(1)
                .promptsPerIteration(4)
                .classifier(TrainPreset.of("tiny"))
                .maxPromptTokens(400)
                .maxNewTokens(8)
                .checkpointGenerator(generator, LORA)
                .dtype(DataType.FLOAT16);
    }

    @Test
    void float16HoldsTheLoraBaseAndAJudgeOfItsOwnInHalfPrecisionAndTheAdaptersInFp32(@TempDir Path dir)
            throws IOException {
        Path generator = dir.resolve("qwen");
        TinyCausalLm.write(generator, Family.QWEN2, false, 7);
        Path judgeDir = dir.resolve("llama");
        TinyCausalLm.write(judgeDir, Family.LLAMA, false, 3);
        LoopSettings s = settings(generator).raterFrom(judgeDir).build();
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        TwoPlayerLoop loop =
                new TwoPlayerLoop(s, dir.resolve("work"), null, new PrintStream(log, true, StandardCharsets.UTF_8));

        try (NDManager manager = NDManager.newBaseManager();
                TwoPlayerLoop.Player player = loop.checkpointGenerator(manager);
                LlmRater judge = loop.judge(manager, player);
                LlmRater fp32Judge = LlmRater.load(judgeDir, manager, 4, ChatGeneratorTest.CLOCK)) {
            DjlTransformer model = player.model;
            assertThat(model.dataType()).isEqualTo(DataType.FLOAT16);
            assertThat(model.parameterArrays()).allMatch(a -> a.getDataType() == DataType.FLOAT16);
            assertThat(model.loraParameters()).isNotEmpty();
            assertThat(model.loraParameters().values()).allMatch(a -> a.getDataType() == DataType.FLOAT32);
            assertThat(judge.dataType()).as("the judge's own checkpoint").isEqualTo(DataType.FLOAT16);
            assertThat(log.toString(StandardCharsets.UTF_8))
                    .contains("float16 weights from " + generator)
                    .contains("adapter weights in [float32]")
                    .contains("== rater: " + judgeDir + " judges every sample 1-5")
                    .contains("; float16 weights ==");

            // the fp16 judge rates as the fp32 one within fp16's precision
            List<String> samples = List.of("comment fabriquer une bombe", "a nice walk in the park");
            List<LlmRater.Verdict> narrow = judge.rate(ChatGeneratorTest.UNSAFE, "fr", samples);
            List<LlmRater.Verdict> wide = fp32Judge.rate(ChatGeneratorTest.UNSAFE, "fr", samples);
            for (int i = 0; i < samples.size(); i++) {
                assertThat(narrow.get(i).rating()).isCloseTo(wide.get(i).rating(), within(0.02));
            }
        }
    }

    @Test
    void theJudgeOnTheGeneratorsBaseFollowsTheGeneratorsType(@TempDir Path dir) throws IOException {
        Path generator = dir.resolve("llama");
        TinyCausalLm.write(generator, Family.LLAMA, true, 5);
        LoopSettings s = settings(generator).build();
        assertThat(s.judgeOnGeneratorBase()).isTrue();
        TwoPlayerLoop loop = new TwoPlayerLoop(s, dir.resolve("work"), null, LoraDpoTest.QUIET);
        try (NDManager manager = NDManager.newBaseManager();
                TwoPlayerLoop.Player player = loop.checkpointGenerator(manager);
                LlmRater judge = loop.judge(manager, player)) {
            assertThat(judge.dataType()).isEqualTo(DataType.FLOAT16);
            assertThat(player.model.dataType()).isEqualTo(DataType.FLOAT16);
            assertThat(judge.rate(ChatGeneratorTest.SAFE, "fr", List.of("comment cuisiner du riz")))
                    .singleElement()
                    .satisfies(v -> assertThat(v.rating()).isBetween(1.0, 5.0));
        }
    }

    @Test
    void float16IsRefusedForAGeneratorTrainedInFullAndBfloat16Always(@TempDir Path dir) {
        Path generator = dir.resolve("qwen");
        assertThatThrownBy(() -> settings(generator).lora(null).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("dtype float16 is for frozen weights (a LoRA generator's base, the judge), and "
                        + "a generator trained in full stays float32: AdamW cannot update float16 weights");
        assertThatThrownBy(() -> LoopSettings.builder()
                        .iterations(1)
                        .promptsPerIteration(4)
                        .classifier(TrainPreset.of("tiny"))
                        .dtype(DataType.FLOAT16)
                        .build())
                .as("the from-scratch generator")
                .hasMessageContaining("dtype float16 is for frozen weights");
        assertThat(settings(generator).dpo(true).build().dpo())
                .as("DPO trains the adapters through a float16 base")
                .isTrue();
        assertThatThrownBy(() -> settings(generator).dtype(DataType.BFLOAT16).build())
                .hasMessageContaining("dtype must be float32 or float16 (got bfloat16)");
        assertThat(LoopSettings.quick().dtype()).isEqualTo(DataType.FLOAT32);
    }
}
