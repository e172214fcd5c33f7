package dev.duoguard.streams.model;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each new {@code AttemptMarkers} on the same directory plays a new process of the same instance. */
class AttemptMarkersTest {

    @TempDir
    Path state;

    @Test
    void anAttemptThatEndedLeavesNothingBehind() {
        AttemptMarkers first = new AttemptMarkers(state);
        first.begin("m@2", "loading");
        first.end("m@2");

        AttemptMarkers next = new AttemptMarkers(state);
        assertThat(next.recoverCrashes()).isEmpty();
        assertThat(next.crashed("m@2")).isFalse();
    }

    @Test
    void anAttemptTheProcessDidNotSurviveIsACrashFromThenOn() {
        new AttemptMarkers(state).begin("guard/model@3", "shadow-scoring"); // the process dies here

        AttemptMarkers next = new AttemptMarkers(state);
        assertThat(next.crashed("guard/model@3"))
                .as("not before start-up recovers it")
                .isFalse();
        assertThat(next.recoverCrashes()).containsExactly(new AttemptMarkers.Crash("guard/model@3", "shadow-scoring"));
        assertThat(next.crashed("guard/model@3")).isTrue();
        assertThat(next.crashed("guard/model@4")).isFalse();

        AttemptMarkers later = new AttemptMarkers(state);
        assertThat(later.recoverCrashes()).as("found once").isEmpty();
        assertThat(later.crashed("guard/model@3")).as("remembered").isTrue();
    }

    @Test
    void deletingTheCrashedFileAllowsTheVersionAgain() throws Exception {
        new AttemptMarkers(state).begin("m@5", "loading");
        AttemptMarkers next = new AttemptMarkers(state);
        next.recoverCrashes();
        assertThat(next.crashed("m@5")).isTrue();

        try (var files = Files.list(next.crashedDirectory())) {
            for (Path f : (Iterable<Path>) files::iterator) {
                Files.delete(f);
            }
        }
        assertThat(next.crashed("m@5")).isFalse();
    }

    @Test
    void disabledMarkersRememberNothing() {
        AttemptMarkers none = AttemptMarkers.disabled();
        none.begin("m@1", "loading");
        assertThat(none.recoverCrashes()).isEmpty();
        assertThat(none.crashed("m@1")).isFalse();
    }
}
