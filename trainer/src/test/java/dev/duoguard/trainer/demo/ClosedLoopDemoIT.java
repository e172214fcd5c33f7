package dev.duoguard.trainer.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.duoguard.trainer.cli.TrainerCli;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code ./duoguard demo --quick}, as CI runs it: the default model serves, seeds flow to the trainer, one iteration
 * publishes v2, shadow scoring promotes it on both instances, and nothing is lost or scored twice on the way.
 */
class ClosedLoopDemoIT {

    @Test
    void theQuickDemoClosesTheLoop(@TempDir Path results) throws Exception {
        PrintStream original = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        int code;
        try (PrintStream tee = new PrintStream(new TeeStream(original, captured), true, StandardCharsets.UTF_8)) {
            System.setOut(tee);
            code = new CommandLine(new TrainerCli()).execute("demo", "--quick", "--model", "../models/default",
                    "--results", results.toString());
        } finally {
            System.setOut(original);
        }
        String printed = captured.toString(StandardCharsets.UTF_8);
        assertThat(code).as(printed).isZero();
        assertThat(printed).contains("scored by v1", "round 1: live traffic", "round 1: the trainer service",
                "round 1: both instances shadow-score v2", "scored by v2",
                "A serves duoguard-default@2, B serves duoguard-default@2", "stopped the trainer");

        JsonNode s = new ObjectMapper().readTree(results.resolve("summary.json").toFile());
        assertThat(s.path("versions_evaluated").toString()).isEqualTo("[\"1\",\"2\"]");
        assertThat(s.path("rounds").get(0).path("outcome").asText()).isEqualTo("promoted");
        assertThat(s.path("lost").asInt()).isZero();
        assertThat(s.path("duplicates").asInt()).isZero();
        assertThat(s.path("unexpected_version").asInt()).as("every verdict names the version that was ACTIVE").isZero();
        assertThat(s.path("verdicts_out").asInt()).isEqualTo(s.path("messages_in").asInt());
        assertThat(s.path("seeds").path("MISCLASSIFIED").asInt()).as("reviewer disagreements became seeds").isPositive();
        assertThat(s.path("rounds").get(0).path("shadow").asText()).startsWith("promoted automatically");
        for (String lang : new String[]{"all", "en", "fr", "es", "de"}) {
            for (String version : new String[]{"1", "2"}) {
                assertThat(s.path("evaluation").path(version).path(lang).path("n").asInt()).as(version + " " + lang)
                        .isEqualTo(lang.equals("all") ? 120 : 30);
            }
        }
    }

    /** Prints as usual and keeps a copy to assert on. */
    private static final class TeeStream extends java.io.OutputStream {
        private final java.io.OutputStream a;
        private final java.io.OutputStream b;

        TeeStream(java.io.OutputStream a, java.io.OutputStream b) {
            this.a = a;
            this.b = b;
        }

        @Override
        public void write(int x) throws java.io.IOException {
            a.write(x);
            b.write(x);
        }

        @Override
        public void write(byte[] buf, int off, int len) throws java.io.IOException {
            a.write(buf, off, len);
            b.write(buf, off, len);
        }
    }
}
