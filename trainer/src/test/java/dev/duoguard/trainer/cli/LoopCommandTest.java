package dev.duoguard.trainer.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.duoguard.common.cli.Cli;
import dev.duoguard.trainer.TinyCausalLm;
import dev.duoguard.trainer.TinyCausalLm.Family;
import dev.duoguard.trainer.ToyData;
import dev.duoguard.trainer.engine.LoraAdapters;
import dev.duoguard.trainer.engine.LoraConfig;
import dev.duoguard.trainer.hf.CausalLmCheckpoint;
import dev.duoguard.trainer.hf.Safetensors;
import dev.duoguard.trainer.loop.LoopSettings;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code loop} with both players from Hugging Face checkpoints, offline, on tiny checkpoints the test writes. */
class LoopCommandTest {

    @Test
    void oneIterationWithAQwenClassifierAndAnUntiedLlamaGenerator(@TempDir Path dir) throws IOException {
        Path seeds = dir.resolve("seeds.jsonl");
        Files.write(seeds, ToyData.lines("seeds", 300, 9, true), StandardCharsets.UTF_8);
        Path classifier = dir.resolve("qwen");
        TinyCausalLm.write(classifier, Family.QWEN2, true, 1);
        Path generator = dir.resolve("llama");
        TinyCausalLm.write(generator, Family.LLAMA, false, 2);
        Path work = dir.resolve("loop");

        PrintStream stdout = System.out;
        ByteArrayOutputStream printed = new ByteArrayOutputStream();
        System.setOut(new PrintStream(printed, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = TrainerCli.commandLine()
                    .execute(
                            "loop",
                            "--quick",
                            "--no-default-data",
                            "--input",
                            seeds.toString(),
                            "--classifier-from",
                            classifier.toString(),
                            "--generator-from",
                            generator.toString(),
                            "--iterations",
                            "1",
                            "--prompts",
                            "4",
                            "--samples",
                            "2",
                            "--max-new-tokens",
                            "8",
                            "--max-prompt-tokens",
                            "400",
                            "--max-dev",
                            "40",
                            "--lora-rank",
                            "4",
                            "--merge-adapters",
                            "--work",
                            work.toString());
        } finally {
            System.setOut(stdout);
        }

        assertThat(code).isZero();
        assertThat(printed.toString(StandardCharsets.UTF_8))
                .as("the LLM judge is on by default with --generator-from: the generator's checkpoint, its LoRA base")
                .contains("== rater: " + generator + " judges every sample 1-5; below 4.0 is dropped (refusal / "
                        + "off_label); the generator's base with its adapters off");
        JsonNode report =
                new ObjectMapper().readTree(work.resolve("loop-report.json").toFile());
        assertThat(report.path("iterations")).hasSize(2);
        JsonNode first = report.path("iterations").get(1);
        assertThat(first.path("generated").asInt()).as("4 requests x 2 samples").isEqualTo(8);
        assertThat(report.path("settings").path("maxNewTokens").asInt()).isEqualTo(8);
        // the classifier is the Qwen checkpoint fine-tuned (32 wide), not the tiny preset from scratch (64 wide)
        for (String iter : new String[] {"iter-0", "iter-1"}) {
            JsonNode config = new ObjectMapper()
                    .readTree(work.resolve(iter + "/classifier/hf/config.json").toFile());
            assertThat(config.path("hidden_size").asInt()).as(iter).isEqualTo(32);
        }
        // LoRA by default: the iteration's generator is its adapters on the checkpoint (PEFT layout), with the
        // paper's DPO recipe for a checkpoint and LoRA's learning rate
        JsonNode settings = report.path("settings");
        assertThat(settings.path("lora").path("rank").asInt()).isEqualTo(4);
        assertThat(settings.path("dpoLearningRate").floatValue()).isEqualTo(LoopSettings.LORA_DPO_LEARNING_RATE);
        assertThat(settings.path("dpoEpochs").asInt()).isEqualTo(1);
        Path adapters = work.resolve("iter-1/generator");
        assertThat(LoraAdapters.readConfig(adapters)).isEqualTo(new LoraConfig(4, 32f, 0f, LoraConfig.DEFAULT_TARGETS));
        assertThat(adapters.resolve(Safetensors.SINGLE_FILE))
                .as("adapters only")
                .doesNotExist();
        // --merge-adapters: the merged generator is a checkpoint that loads again, untied head included
        Path saved = work.resolve("iter-1/generator-merged");
        CausalLmCheckpoint again = CausalLmCheckpoint.read(saved);
        assertThat(again.config().modelType()).isEqualTo("llama");
        assertThat(Safetensors.readCheckpoint(saved)).containsKey("lm_head.weight");
        assertThat(work.resolve("iter-1/samples.jsonl")).exists();
        assertThat(report.path("settings").path("llmRater").asBoolean()).isTrue();
        // the judge rated what passed the cheap checks: those samples, and only those, carry a rating
        List<JsonNode> rows = new ArrayList<>();
        for (String line : Files.readAllLines(work.resolve("iter-1/samples.jsonl"))) {
            rows.add(new ObjectMapper().readTree(line));
        }
        List<JsonNode> rated =
                rows.stream().filter(r -> r.path("rating").isNumber()).toList();
        assertThat(rated).as(first.path("dropped_by_filter").toString()).isNotEmpty();
        assertThat(rated)
                .allMatch(r ->
                        r.path("rating").asDouble() >= 1 && r.path("rating").asDouble() <= 5)
                .allMatch(r -> !List.of("empty", "length", "degenerate", "language")
                        .contains(r.path("dropped").asText()));
    }

    @Test
    void aJudgeThatIsNotACheckpointOrIsTurnedOffIsRefusedBeforeAnyWork(@TempDir Path dir) throws IOException {
        Path seeds = dir.resolve("seeds.jsonl");
        Files.write(seeds, ToyData.lines("seeds", 20, 9, true), StandardCharsets.UTF_8);
        Path generator = dir.resolve("llama");
        TinyCausalLm.write(generator, Family.LLAMA, false, 2);
        Path notAJudge = Files.createDirectories(dir.resolve("empty"));
        String[] common = {
            "loop",
            "--quick",
            "--no-default-data",
            "--input",
            seeds.toString(),
            "--generator-from",
            generator.toString(),
            "--rater-from",
            notAJudge.toString(),
            "--work",
            dir.resolve("w").toString()
        };
        StringWriter err = new StringWriter();
        CommandLine cli = TrainerCli.commandLine();
        cli.setErr(new PrintWriter(err));
        assertThat(cli.execute(common)).isEqualTo(Cli.ERROR);
        assertThat(err.toString()).contains(notAJudge + " has no config.json");

        StringWriter err2 = new StringWriter();
        CommandLine cli2 = TrainerCli.commandLine();
        cli2.setErr(new PrintWriter(err2));
        String[] off = Arrays.copyOf(common, common.length + 1);
        off[common.length] = "--no-rater";
        assertThat(cli2.execute(off)).isEqualTo(Cli.ERROR);
        assertThat(err2.toString()).contains("raterFrom names a judge but llmRater is off");
        assertThat(dir.resolve("w")).as("refused before any work").doesNotExist();
    }

    @Test
    void loraOptionsWithoutACheckpointGeneratorAreRefusedBeforeAnyWork(@TempDir Path dir) throws IOException {
        Path seeds = dir.resolve("seeds.jsonl");
        Files.write(seeds, ToyData.lines("seeds", 20, 9, true), StandardCharsets.UTF_8);
        StringWriter err = new StringWriter();
        CommandLine cli = TrainerCli.commandLine();
        cli.setErr(new PrintWriter(err));
        int code = cli.execute(
                "loop",
                "--quick",
                "--no-default-data",
                "--input",
                seeds.toString(),
                "--lora-rank",
                "8",
                "--work",
                dir.resolve("w").toString());
        assertThat(code).isEqualTo(Cli.ERROR);
        assertThat(err.toString()).contains("are for a --generator-from checkpoint");
        assertThat(dir.resolve("w")).doesNotExist();
    }

    @Test
    void float16WithAGeneratorTrainedInFullIsRefusedInOneLineBeforeAnyWork(@TempDir Path dir) throws IOException {
        Path seeds = dir.resolve("seeds.jsonl");
        Files.write(seeds, ToyData.lines("seeds", 20, 9, true), StandardCharsets.UTF_8);
        Path generator = dir.resolve("llama");
        TinyCausalLm.write(generator, Family.LLAMA, false, 2);
        String[] common = {
            "loop",
            "--quick",
            "--no-default-data",
            "--input",
            seeds.toString(),
            "--work",
            dir.resolve("w").toString()
        };
        String fix = " trains every weight of the generator, which AdamW cannot update in float16: drop --dtype "
                + "float16, or train LoRA adapters on a --generator-from checkpoint";
        String help = "; fix: see 'duoguard loop --help'";
        String fullDpo = "duoguard loop: --dtype float16 is for frozen weights, and --full-dpo" + fix + help;
        String scratch =
                "duoguard loop: --dtype float16 is for frozen weights, and the from-scratch generator" + fix + help;
        for (var refused : Map.of(
                        fullDpo,
                        List.of("--generator-from", generator.toString(), "--full-dpo", "--dtype", "float16"),
                        scratch,
                        List.of("--dtype", "float16"))
                .entrySet()) {
            List<String> args = new ArrayList<>(List.of(common));
            args.addAll(refused.getValue());
            StringWriter err = new StringWriter();
            CommandLine cli = TrainerCli.commandLine();
            cli.setErr(new PrintWriter(err));
            assertThat(cli.execute(args.toArray(String[]::new))).isEqualTo(Cli.ERROR);
            assertThat(err.toString().lines()).containsExactly(refused.getKey());
        }
        StringWriter err = new StringWriter();
        CommandLine cli = TrainerCli.commandLine();
        cli.setErr(new PrintWriter(err));
        List<String> bf16 = new ArrayList<>(List.of(common));
        bf16.addAll(List.of("--generator-from", generator.toString(), "--dtype", "bfloat16"));
        assertThat(cli.execute(bf16.toArray(String[]::new))).isEqualTo(Cli.USAGE);
        assertThat(err.toString())
                .contains("'bfloat16' is not float32 or float16 (DJL 0.36 aborts the JVM on bfloat16)");
        assertThat(dir.resolve("w")).as("refused before any work").doesNotExist();
    }

    @Test
    void aGeneratorDirectoryThatIsNotACheckpointIsOneLineNamingTheFile(@TempDir Path dir) throws IOException {
        Path seeds = dir.resolve("seeds.jsonl");
        Files.write(seeds, ToyData.lines("seeds", 20, 9, true), StandardCharsets.UTF_8);
        Path generator = dir.resolve("llama");
        TinyCausalLm.write(generator, Family.LLAMA, false, 2);
        Files.delete(generator.resolve(Safetensors.SINGLE_FILE));
        StringWriter err = new StringWriter();
        CommandLine cli = TrainerCli.commandLine();
        cli.setErr(new PrintWriter(err));
        int code = cli.execute(
                "loop",
                "--quick",
                "--no-default-data",
                "--input",
                seeds.toString(),
                "--generator-from",
                generator.toString(),
                "--work",
                dir.resolve("w").toString());
        assertThat(code).isEqualTo(Cli.ERROR);
        assertThat(err.toString().strip())
                .startsWith("duoguard loop: " + generator + " has neither model.safetensors nor")
                .doesNotContain("\n");
        assertThat(dir.resolve("w")).as("refused before any work").doesNotExist();
    }

    @Test
    void noRaterRunsTheLoopWithoutTheJudge(@TempDir Path dir) throws IOException {
        Path seeds = dir.resolve("seeds.jsonl");
        Files.write(seeds, ToyData.lines("seeds", 200, 9, true), StandardCharsets.UTF_8);
        Path generator = dir.resolve("qwen");
        TinyCausalLm.write(generator, Family.QWEN2, true, 2);
        Path work = dir.resolve("loop");
        PrintStream stdout = System.out;
        ByteArrayOutputStream printed = new ByteArrayOutputStream();
        System.setOut(new PrintStream(printed, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = TrainerCli.commandLine()
                    .execute(
                            "loop",
                            "--quick",
                            "--no-default-data",
                            "--input",
                            seeds.toString(),
                            "--generator-from",
                            generator.toString(),
                            "--no-rater",
                            "--iterations",
                            "1",
                            "--prompts",
                            "2",
                            "--samples",
                            "2",
                            "--max-new-tokens",
                            "4",
                            "--max-prompt-tokens",
                            "400",
                            "--max-dev",
                            "20",
                            "--work",
                            work.toString());
        } finally {
            System.setOut(stdout);
        }
        assertThat(code).isZero();
        assertThat(printed.toString(StandardCharsets.UTF_8)).doesNotContain("== rater:");
        JsonNode report =
                new ObjectMapper().readTree(work.resolve("loop-report.json").toFile());
        assertThat(report.path("settings").path("llmRater").asBoolean()).isFalse();
        assertThat(Files.readAllLines(work.resolve("iter-1/samples.jsonl")))
                .isNotEmpty()
                .allMatch(line -> line.contains("\"rating\":null"));
    }

    @Test
    void float16AndCheckpointingRunTheLoopWithTheLoraBaseAndItsJudgeInHalfPrecision(@TempDir Path dir)
            throws IOException {
        Path seeds = dir.resolve("seeds.jsonl");
        Files.write(seeds, ToyData.lines("seeds", 200, 9, true), StandardCharsets.UTF_8);
        Path generator = dir.resolve("qwen");
        TinyCausalLm.write(generator, Family.QWEN2, true, 2);
        Path work = dir.resolve("loop");
        PrintStream stdout = System.out;
        ByteArrayOutputStream printed = new ByteArrayOutputStream();
        System.setOut(new PrintStream(printed, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = TrainerCli.commandLine()
                    .execute(
                            "loop",
                            "--quick",
                            "--no-default-data",
                            "--input",
                            seeds.toString(),
                            "--generator-from",
                            generator.toString(),
                            "--dtype",
                            "float16",
                            "--activation-checkpointing",
                            "--iterations",
                            "1",
                            "--prompts",
                            "2",
                            "--samples",
                            "2",
                            "--max-new-tokens",
                            "4",
                            "--max-prompt-tokens",
                            "400",
                            "--max-dev",
                            "20",
                            "--work",
                            work.toString());
        } finally {
            System.setOut(stdout);
        }
        assertThat(code).isZero();
        assertThat(printed.toString(StandardCharsets.UTF_8))
                .containsPattern("generator weights .* x 2 B, float16")
                .doesNotContain("judge weights") // the judge is the generator's base: no copy of its own
                .contains("float16 weights from " + generator)
                .contains("adapter weights in [float32]")
                .contains("the generator's base with its adapters off; float16 weights ==")
                .contains("DPO activations")
                .contains("activation checkpointing: ");
        JsonNode report =
                new ObjectMapper().readTree(work.resolve("loop-report.json").toFile());
        assertThat(report.path("settings").path("dtype").asText()).isEqualTo("FLOAT16");
        assertThat(report.path("settings").path("activationCheckpointing").asBoolean())
                .isTrue();
        assertThat(work.resolve("iter-1/generator")).isDirectory();
    }
}
