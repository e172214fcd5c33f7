package dev.duoguard.trainer.service;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.common.kafka.KafkaConnection;
import dev.duoguard.schemas.Seed;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The undecodable records kept in {@code rejected/} go with the seeds' retention: they were never redacted. */
class SeedIngestTest {

    @Test
    void rejectedRecordsOlderThanTheRetentionAreDeletedNewerOnesKept(@TempDir Path dir) throws IOException {
        Path rejected = dir.resolve("rejected");
        Instant now = Instant.parse("2026-11-30T12:00:00Z");
        // no broker is contacted: the consumer connects on its first poll, which this test never makes
        try (SeedIngest ingest = new SeedIngest(
                KafkaConnection.plaintext("127.0.0.1:9"),
                "g",
                "guardrail.seeds",
                (topic, bytes) -> (Seed) null,
                new SeedStore(dir.resolve("seeds"), null),
                rejected)) {
            keep(rejected, "guardrail.seeds-0-1", now.minus(Duration.ofDays(31)));
            keep(rejected, "guardrail.seeds-0-2", now.minus(Duration.ofDays(29)));

            assertThat(ingest.purgeRejected(Duration.ofDays(30), now)).isEqualTo(1);

            assertThat(rejected.resolve("guardrail.seeds-0-1.bin")).doesNotExist();
            assertThat(rejected.resolve("guardrail.seeds-0-1.txt")).doesNotExist();
            assertThat(rejected.resolve("guardrail.seeds-0-2.bin")).exists();
            assertThat(rejected.resolve("guardrail.seeds-0-2.txt")).exists();
        }
    }

    /** What {@code SeedIngest} writes for an undecodable record, written at {@code at}. */
    private static void keep(Path rejected, String name, Instant at) throws IOException {
        for (String ext : new String[] {".bin", ".txt"}) {
            Path f = Files.writeString(rejected.resolve(name + ext), "raw chat text");
            Files.setLastModifiedTime(f, FileTime.from(at));
        }
    }
}
