package dev.duoguard.trainer.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.common.cli.Cli;
import dev.duoguard.trainer.TinyCausalLm;
import dev.duoguard.trainer.TinyCausalLm.Family;
import dev.duoguard.trainer.hf.Safetensors;
import dev.duoguard.trainer.service.TrainerService;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The trainer service's player options: the same meaning and checks as {@code loop}'s, refused in one line before
 * the data is prepared or Kafka is reached.
 */
class TrainerServiceCommandTest {

    /** Runs {@code trainer} with {@code args} on {@code home}; returns the exit code and what it printed on stderr. */
    record Result(int code, String err) {}

    static Result trainer(Path home, String... args) {
        List<String> all = new ArrayList<>(List.of(
                "trainer", "--quick", "--no-default-data", "--home", home.toString(), "--bootstrap", "127.0.0.1:1"));
        all.addAll(List.of(args));
        StringWriter err = new StringWriter();
        CommandLine cli = TrainerCli.commandLine();
        cli.setErr(new PrintWriter(err));
        return new Result(
                cli.execute(all.toArray(String[]::new)), err.toString().strip());
    }

    @Test
    void raterMinWithoutAJudgeIsRefusedNamingTheFix(@TempDir Path dir) throws IOException {
        Path home = dir.resolve("home");
        Result r = trainer(home, "--rater-min", "3");
        assertThat(r.code()).isEqualTo(Cli.ERROR);
        assertThat(r.err())
                .contains("--rater-min is the LLM judge's threshold and there is no judge: give --generator-from or "
                        + "--rater-from, or drop --rater-min")
                .doesNotContain("\n");
        assertThat(home).as("refused before any work").doesNotExist();

        Path qwen = dir.resolve("qwen");
        TinyCausalLm.write(qwen, Family.QWEN2, true, 1);
        Result off = trainer(home, "--generator-from", qwen.toString(), "--no-rater", "--rater-min", "3");
        assertThat(off.code()).isEqualTo(Cli.ERROR);
        assertThat(off.err()).contains("there is no judge (--no-rater)");
    }

    @Test
    void theGeneratorOptionsAreCheckedAsLoopChecksThem(@TempDir Path dir) throws IOException {
        Path home = dir.resolve("home");
        Result lora = trainer(home, "--lora-rank", "4");
        assertThat(lora.code()).isEqualTo(Cli.ERROR);
        assertThat(lora.err()).contains("are for a --generator-from checkpoint");

        Path llama = dir.resolve("llama");
        TinyCausalLm.write(llama, Family.LLAMA, false, 2);
        Files.delete(llama.resolve(Safetensors.SINGLE_FILE));
        Result broken = trainer(home, "--generator-from", llama.toString());
        assertThat(broken.code()).isEqualTo(Cli.ERROR);
        assertThat(broken.err())
                .startsWith("duoguard trainer: " + llama + " has neither model.safetensors nor")
                .doesNotContain("\n");

        Result classifier =
                trainer(home, "--classifier-from", dir.resolve("nothing").toString());
        assertThat(classifier.code()).isEqualTo(Cli.ERROR);
        assertThat(classifier.err()).contains("nothing has no config.json");
        assertThat(home).as("refused before any work").doesNotExist();
    }

    @Test
    void aGeneratorStoreOfAnotherGeneratorStopsTheStart(@TempDir Path dir) throws IOException {
        Path home = dir.resolve("home");
        Path store = TrainerService.generatorHome(home);
        Files.createDirectories(store.resolve("generator-1"));
        Files.writeString(
                store.resolve("state.json"),
                "{\"kind\":\"SCRATCH\",\"base\":null,\"runs\":1,\"latest\":\"generator-1\"}");
        Path qwen = dir.resolve("qwen");
        TinyCausalLm.write(qwen, Family.QWEN2, true, 1);
        Result r = trainer(home, "--generator-from", qwen.toString());
        assertThat(r.code()).isEqualTo(Cli.ERROR);
        assertThat(r.err())
                .contains(store + " holds a from-scratch generator, the settings ask for a LoRA-adapted "
                        + qwen.toAbsolutePath())
                .contains("move " + store + " away to start the generator over")
                .doesNotContain("\n");
        assertThat(home.resolve("mix")).as("before the data is prepared").doesNotExist();
    }
}
