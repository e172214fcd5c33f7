package dev.duoguard.trainer.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.common.cli.Cli;
import dev.duoguard.runtime.bundle.BundleManifest;
import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.trainer.TinyCheckpoint;
import dev.duoguard.trainer.hf.DType;
import dev.duoguard.trainer.hf.TransformerConfig;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class ExportCommandTest {

    @TempDir
    Path dir;

    @Test
    void exportsACheckpointDirectoryIntoAVerifiedBundle() throws Exception {
        var json = TinyCheckpoint.configJson(32, 1, 4, 2, 64, 512, true, true);
        TinyCheckpoint.write(
                dir.resolve("DuoGuard-tiny"),
                json,
                TinyCheckpoint.randomWeights(TransformerConfig.parse(json), 1),
                DType.BF16,
                false);
        int rc = TrainerCli.commandLine()
                .execute(
                        "export",
                        "--from",
                        dir.resolve("DuoGuard-tiny").toString(),
                        "--out",
                        dir.resolve("bundle").toString(),
                        "--model-version",
                        "7");
        assertThat(rc).isZero();
        ModelBundle b = ModelBundle.open(dir.resolve("bundle"));
        assertThat(b.manifest().name()).isEqualTo("DuoGuard-tiny");
        assertThat(b.manifest().version()).isEqualTo("7");
        assertThat(b.manifest().padTokenIdOrDefault()).isZero();
        assertThat(b.manifest().files()).containsKeys(BundleManifest.MODEL_FILE, BundleManifest.TOKENIZER_FILE);
        assertThat(b.manifest().provenance().get("model_type").asText()).isEqualTo("qwen2");
    }

    @Test
    void aHeadWithoutTwelveLabelsIsRefused() throws Exception {
        var json = TinyCheckpoint.configJson(32, 1, 4, 2, 64, 512, true, true);
        TransformerConfig c = TransformerConfig.parse(json);
        var weights = TinyCheckpoint.randomWeights(c, 1);
        json.remove("id2label");
        json.put("num_labels", 2);
        TinyCheckpoint.write(dir.resolve("two"), json, weights, DType.F32, false);
        var err = new StringWriter();
        CommandLine cli = TrainerCli.commandLine();
        cli.setErr(new PrintWriter(err));
        int rc = cli.execute(
                "export",
                "--from",
                dir.resolve("two").toString(),
                "--out",
                dir.resolve("b2").toString());
        assertThat(rc).isEqualTo(Cli.ERROR);
        assertThat(err.toString().lines())
                .singleElement()
                .asString()
                .startsWith("duoguard export: ")
                .contains("2 labels")
                .contains("DuoGuard's 12");
        assertThat(Files.exists(dir.resolve("b2").resolve("manifest.json"))).isFalse();
    }
}
