package dev.duoguard.trainer.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.common.cli.Cli;
import dev.duoguard.trainer.train.MemoryPlan;
import dev.duoguard.trainer.train.TrainPreset;
import dev.duoguard.trainer.train.TrainSettings;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code train --from} and {@code loop} print the memory estimate and refuse, in one line with exit code 1, a run
 * that cannot fit; {@code --no-memory-check} starts it anyway. The available memory is set with
 * {@value MemoryPlan#AVAILABLE_PROPERTY}.
 */
class MemoryCheckTest {

    /** Qwen2.5-0.5B's shape; no weights: the check comes before anything is loaded. */
    static final String QWEN_05B = """
            {"model_type": "qwen2", "hidden_size": 896, "num_hidden_layers": 24, "num_attention_heads": 14,
             "num_key_value_heads": 2, "intermediate_size": 4864, "vocab_size": 151936, "tie_word_embeddings": true,
             "max_position_embeddings": 32768, "hidden_act": "silu"}
            """;

    record Run(int code, String out, String err) {}

    static Run run(long available, String... args) {
        StringWriter err = new StringWriter();
        PrintStream stdout = System.out;
        ByteArrayOutputStream printed = new ByteArrayOutputStream();
        System.setOut(new PrintStream(printed, true, StandardCharsets.UTF_8));
        System.setProperty(MemoryPlan.AVAILABLE_PROPERTY, Long.toString(available));
        try {
            int code =
                    TrainerCli.commandLine().setErr(new PrintWriter(err, true)).execute(args);
            return new Run(code, printed.toString(StandardCharsets.UTF_8), err.toString());
        } finally {
            System.setOut(stdout);
            System.clearProperty(MemoryPlan.AVAILABLE_PROPERTY);
        }
    }

    @Test
    void trainFromACheckpointTooBigForTheDeviceIsRefusedInOneLine(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("config.json"), QWEN_05B);
        Run r = run(
                8L << 30,
                "train",
                "--preset",
                "tiny",
                "--from",
                dir.toString(),
                "--batch",
                "8",
                "--max-tokens",
                "512",
                "--no-default-data",
                "--work",
                dir.resolve("work").toString());

        assertThat(r.code()).isEqualTo(Cli.ERROR);
        assertThat(r.out())
                .contains("== memory estimate: train qwen2 24 x 896, 494.0M params ==")
                .containsPattern("classifier weights +1\\.84 GiB")
                .containsPattern("AdamW moments +3\\.68 GiB")
                .containsPattern("total +35\\.06 GiB  of 8\\.00 GiB available");
        assertThat(r.err().lines())
                .containsExactly("duoguard train: the run needs about 35.06 GiB but -D" + MemoryPlan.AVAILABLE_PROPERTY
                        + " has 8.00 GiB; fix: a smaller --batch or --max-tokens, LoRA instead of full fine-tuning, "
                        + "a smaller model, or --no-memory-check to start anyway");
    }

    @Test
    void aSmallerBatchFitsAndNoMemoryCheckStartsAnyway(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("config.json"), QWEN_05B);
        // 1 row of 128 tokens: about 8.9 GiB of weights, gradients and moments + 1.2 GiB of activations
        Run fits = run(
                12L << 30,
                "train",
                "--preset",
                "tiny",
                "--from",
                dir.toString(),
                "--batch",
                "1",
                "--max-tokens",
                "128",
                "--no-default-data",
                "--work",
                dir.resolve("work").toString());
        Run forced = run(
                1L << 30,
                "train",
                "--preset",
                "tiny",
                "--from",
                dir.toString(),
                "--no-memory-check",
                "--no-default-data",
                "--work",
                dir.resolve("work").toString());

        for (Run r : new Run[] {fits, forced}) {
            // past the check, the run stops at the next thing it lacks: data
            assertThat(r.out()).contains("== memory estimate:");
            assertThat(r.err()).doesNotContain("the run needs about").contains("duoguard train:");
        }
    }

    @Test
    void theLoopIsCheckedToo(@TempDir Path dir) throws IOException {
        Path seeds = Files.writeString(dir.resolve("seeds.jsonl"), "");
        Run r = run(
                1_000_000,
                "loop",
                "--quick",
                "--no-default-data",
                "--input",
                seeds.toString(),
                "--work",
                dir.resolve("loop").toString());

        assertThat(r.code()).isEqualTo(Cli.ERROR);
        assertThat(r.out())
                .contains("generator weights")
                .contains("DPO activations")
                .contains("classifier training")
                .contains("total (held + largest phase)");
        assertThat(r.err()).startsWith("duoguard loop: the run needs about ").contains("but -D");
        assertThat(Files.exists(dir.resolve("loop"))).isFalse();
    }

    /**
     * With {@code --batch-tokens} the largest classifier batch is planned as full-width rows filling the budget, and
     * never fewer than an item's windows (an item over the budget trains alone).
     */
    @Test
    void tokenBudgetBatchesArePlannedAsFullRowsFillingTheBudget(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("config.json"), QWEN_05B);
        MemoryPlan.Net net = MemoryPlan.classifier(dir, TrainPreset.of("tiny"));
        TrainSettings fixed = new TrainSettings(1, 32, 1e-3f, 0.1f, 0.01f, 1f, 512, 1, 10, 100);
        assertThat(MemoryCheck.rows(fixed, net)).isEqualTo(32);
        TrainSettings budget = new TrainSettings(1, 32, 1e-3f, 0.1f, 0.01f, 1f, 512, 1, 10, 100, 65_536);
        assertThat(MemoryCheck.rows(budget, net)).as("65,536 / 512").isEqualTo(128);
        TrainSettings small = new TrainSettings(1, 32, 1e-3f, 0.1f, 0.01f, 1f, 512, 1, 10, 100, 100);
        assertThat(MemoryCheck.rows(small, net))
                .as("an item of 4 windows of 512 over a 100-token budget")
                .isEqualTo(4);
    }
}
