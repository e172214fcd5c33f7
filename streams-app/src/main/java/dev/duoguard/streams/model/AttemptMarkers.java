package dev.duoguard.streams.model;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Remembers, in the state directory, which model version ({@code name@version}) this process is loading or
 * shadow-scoring, so that a version that kills the JVM (a native crash in ONNX Runtime, the kernel's OOM killer)
 * is not tried again by every restart of the pod, forever.
 *
 * <p>Before an attempt a marker file is written under {@code <state.dir>/model-attempts/}; the code doing the
 * attempt removes it when the attempt ends, whether it succeeded or failed with an exception (the JVM survived,
 * so the version did not crash it). A marker still there at start-up can only mean the previous process died
 * during that attempt. {@link #recoverCrashes} moves such markers to {@code model-attempts/crashed/}, and a
 * version found there is never tried again by this instance: <b>one crash is enough</b>. A second try would risk
 * a second crash loop for a version that is at best a candidate, and the guardrail keeps serving the version
 * before it, so skipping fails closed. The cost is a false positive when the process is SIGKILLed for another
 * reason during an attempt (a shutdown that does not finish within its grace period while a model loads);
 * deleting the file under {@code crashed/} lets this instance try the version again, without a restart.
 *
 * <p>Files survive the death of the process without an fsync (they are in the page cache); they would not
 * survive the loss of the machine, and then nothing is skipped, which is the behaviour without markers.
 */
public final class AttemptMarkers {

    private static final Logger log = LoggerFactory.getLogger(AttemptMarkers.class);

    /** A version whose attempt the previous process did not survive, and what it was doing with it. */
    public record Crash(String key, String activity) {}

    private final Path inProgress;
    private final Path crashed;

    /** Markers under {@code stateDir/model-attempts}. */
    public AttemptMarkers(Path stateDir) {
        this.inProgress = stateDir.resolve("model-attempts");
        this.crashed = inProgress.resolve("crashed");
    }

    private AttemptMarkers() {
        this.inProgress = null;
        this.crashed = null;
    }

    /** Markers that remember nothing (a watcher without a state directory: tests, tools). */
    public static AttemptMarkers disabled() {
        return new AttemptMarkers();
    }

    /** Records that this process starts {@code activity} ("loading", "shadow-scoring") with version {@code key}. */
    public void begin(String key, String activity) {
        if (inProgress == null) {
            return;
        }
        try {
            Files.createDirectories(inProgress);
            // written beside and moved in, so a crash while writing leaves no half-written marker
            Path tmp = Files.createTempFile(inProgress, ".marker", ".tmp");
            Files.writeString(tmp, activity);
            Files.move(tmp, file(inProgress, key), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the attempt marker for " + key + " in " + inProgress, e);
        }
    }

    /** The attempt with {@code key} ended without killing the process. */
    public void end(String key) {
        if (inProgress == null) {
            return;
        }
        try {
            Files.deleteIfExists(file(inProgress, key));
        } catch (IOException e) {
            // a marker left behind makes the next start skip a good version: say so loudly
            log.error(
                    "cannot remove the attempt marker for {} in {}: the next start will skip it ({})",
                    key,
                    inProgress,
                    e.toString());
        }
    }

    /** True when {@code key} crashed this instance before (see the class comment). */
    public boolean crashed(String key) {
        return crashed != null && Files.exists(file(crashed, key));
    }

    /**
     * Call once at start-up, before any attempt: every marker the previous process left behind becomes a crash,
     * remembered from now on; returns them.
     */
    public List<Crash> recoverCrashes() {
        List<Crash> out = new ArrayList<>();
        if (inProgress == null || !Files.isDirectory(inProgress)) {
            return out;
        }
        try (var files = Files.list(inProgress)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                String name = f.getFileName().toString();
                if (!Files.isRegularFile(f) || (name.startsWith(".marker") && name.endsWith(".tmp"))) {
                    continue; // the crashed/ directory, a temporary file of an interrupted write
                }
                Files.createDirectories(crashed);
                String activity = Files.readString(f).strip();
                Files.move(f, crashed.resolve(name), StandardCopyOption.REPLACE_EXISTING);
                out.add(new Crash(URLDecoder.decode(name, StandardCharsets.UTF_8), activity));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the attempt markers in " + inProgress, e);
        }
        return out;
    }

    /** The file remembering {@code key} under {@code dir}: the key URL-encoded, so any model name is a file name. */
    Path file(Path dir, String key) {
        return dir.resolve(URLEncoder.encode(key, StandardCharsets.UTF_8));
    }

    /** Where crashed versions are remembered (for log lines telling the operator what to delete). */
    public Path crashedDirectory() {
        return crashed;
    }
}
