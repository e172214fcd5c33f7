package dev.duoguard.dev.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The launcher's heap for trainer commands: 6 GB plus twice the safetensors size of the largest checkpoint on the
 * command line (weights go through float arrays on the heap: 4 bytes a value, twice a BF16 file); JAVA_OPTS wins.
 * Run through bash with DUOGUARD_DRY_RUN, which prints the java command line without building or running anything.
 */
class LauncherHeapTest {

    static String commandLine(String javaOpts, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("bash", LauncherTest.LAUNCHER.toString()));
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
        pb.environment().put("DUOGUARD_DRY_RUN", "1");
        pb.environment().remove("JAVA_OPTS");
        if (javaOpts != null) {
            pb.environment().put("JAVA_OPTS", javaOpts);
        }
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
        return out;
    }

    /** A checkpoint directory whose safetensors files have these sizes (sparse: no bytes are written). */
    static Path checkpoint(Path dir, long... sizes) throws IOException {
        for (int i = 0; i < sizes.length; i++) {
            try (RandomAccessFile f = new RandomAccessFile(
                    dir.resolve(String.format("model-%05d-of-%05d.safetensors", i + 1, sizes.length))
                            .toFile(),
                    "rw")) {
                f.setLength(sizes[i]);
            }
        }
        return dir;
    }

    @Test
    void aTrainerCommandGetsTwiceItsLargestCheckpointOnTopOfSixGigabytes(@TempDir Path dir) throws Exception {
        Path sharded = checkpoint(Files.createDirectories(dir.resolve("gen")), 1L << 30, 512L << 20);
        Path small = checkpoint(Files.createDirectories(dir.resolve("cls")), 100L << 20);

        assertThat(commandLine(null, "train", "--from", small.toString()))
                .startsWith("java -Xmx6344m ") // 6,144 + 2 x 100 MiB
                .endsWith(" train --from " + small);
        assertThat(commandLine(
                        null, "loop", "--classifier-from=" + small, "--generator-from", sharded.toString(), "--quick"))
                .startsWith("java -Xmx9216m "); // 6,144 + 2 x 1.5 GiB: the largest, not the sum
        assertThat(commandLine(null, "eval", "--bundle", "x")).startsWith("java -Xmx6144m ");
    }

    @Test
    void javaOptsAndOtherCommandsKeepTheirHeap(@TempDir Path dir) throws Exception {
        Path ckpt = checkpoint(dir, 1L << 30);
        assertThat(commandLine("-Xmx3g -Dx=1", "train", "--from", ckpt.toString()))
                .startsWith("java -Xmx3g -Dx=1 -Dduoguard.registry.home=");
        assertThat(commandLine(null, "score", "a b")).startsWith("java -Xmx2g ");
        assertThat(commandLine(null, "demo")).startsWith("java -Xmx6g ");
        assertThat(commandLine(null, "train", "--from", dir.resolve("missing").toString()))
                .startsWith("java -Xmx6144m ");
    }
}
