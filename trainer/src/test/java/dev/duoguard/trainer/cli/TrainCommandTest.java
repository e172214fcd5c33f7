package dev.duoguard.trainer.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.common.cli.Cli;
import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.trainer.ToyData;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code train --batch-tokens}: token-budget batches from the command line, and a bad budget in one line. */
class TrainCommandTest {

    @Test
    void aNegativeBudgetIsRefusedInOneLine(@TempDir Path dir) {
        MemoryCheckTest.Run r = MemoryCheckTest.run(
                Long.MAX_VALUE, "train", "--preset", "tiny", "--batch-tokens", "-1", "--work", dir.toString());

        assertThat(r.code()).isEqualTo(Cli.ERROR);
        assertThat(r.err().lines())
                .containsExactly("duoguard train: --batch-tokens must be 0 (off: --batch items a batch) or a number "
                        + "of padded tokens (got -1); fix: see 'duoguard train --help'");
        assertThat(dir).isEmptyDirectory();
    }

    @Test
    void aRunInTokenBudgetBatchesRecordsTheBudget(@TempDir Path dir) throws IOException {
        Path seeds = dir.resolve("seeds.jsonl");
        Files.write(seeds, ToyData.lines("seeds", 200, 5, true), StandardCharsets.UTF_8);
        Path out = dir.resolve("bundle");
        MemoryCheckTest.Run r = MemoryCheckTest.run(
                Long.MAX_VALUE,
                "train",
                "--preset",
                "tiny",
                "--no-default-data",
                "--input",
                seeds.toString(),
                "--epochs",
                "1",
                "--batch-tokens",
                "300",
                "--no-eval",
                "--work",
                dir.resolve("work").toString(),
                "--out",
                out.toString());

        assertThat(r.err()).isEmpty();
        assertThat(r.code()).isEqualTo(Cli.OK);
        assertThat(r.out()).contains("batches of at most 300 padded tokens");
        assertThat(ModelBundle.open(out)
                        .manifest()
                        .provenance()
                        .path("settings")
                        .path("batchTokens")
                        .asInt())
                .isEqualTo(300);
    }
}
