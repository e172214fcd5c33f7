package dev.duoguard.streams.app;

import dev.duoguard.lifecycle.ModelKey;
import dev.duoguard.lifecycle.ModelsTopic;
import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.runtime.scoring.GuardrailModel;
import dev.duoguard.schemas.ModelStatus;
import dev.duoguard.schemas.ModelVersion;
import dev.duoguard.streams.model.AttemptMarkers;
import dev.duoguard.streams.model.ModelWatcher;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The model a starting instance serves when it follows the models topic: the newest ACTIVE version that verifies
 * <em>and loads</em>, which is what running instances serve (they keep the last good one when a newer one fails);
 * else the default bundle. Verifying is not enough: a bundle whose checksums match can still fail to load (a
 * corrupt ONNX file published with it, shapes the runtime refuses), and a restarted pod would then fail while the
 * running ones serve. Each newer ACTIVE version that does not verify or load is marked FAILED on the topic with
 * the reason; the model that loaded is returned, so it is not loaded twice.
 *
 * <p>Before that, the attempt markers the previous process left behind are turned into crashes (see
 * {@link AttemptMarkers}): such a version is marked FAILED ("crashed the process while loading") unless the topic
 * already says FAILED, and is not tried.
 */
final class StartupModel {

    private static final Logger log = LoggerFactory.getLogger(StartupModel.class);

    private StartupModel() {}

    /**
     * @param fetch  the verified local copy of a version's bundle ({@code TrustedArtifacts#fetch}; throws with the
     *               reason when it must not be served)
     * @param loader loads a bundle (throws when it cannot)
     * @param events counts {@code CRASHED}, {@code SKIPPED} and {@code FAILED} versions
     */
    static GuardrailModel load(
            Path fallback,
            ModelsTopic models,
            AttemptMarkers markers,
            Function<ModelVersion, Path> fetch,
            Function<Path, GuardrailModel> loader,
            Consumer<ModelWatcher.Event> events) {
        String name = ModelBundle.open(fallback).manifest().name();
        List<ModelsTopic.Entry> records = models.read();
        for (AttemptMarkers.Crash crash : markers.recoverCrashes()) {
            events.accept(ModelWatcher.Event.CRASHED);
            log.error(
                    "{} crashed the previous process while {}: this instance will not try it again (delete {} to "
                            + "allow it)",
                    crash.key(),
                    crash.activity(),
                    markers.crashedDirectory());
            ModelVersion last = lastRecordOf(records, crash.key());
            if (last != null && last.getStatus() != ModelStatus.FAILED) {
                publishFailed(models, last, "crashed the process while " + crash.activity());
            }
        }
        List<ModelVersion> servable = ModelsTopic.servable(records, name); // newest first, failed ones left out
        for (ModelVersion mv : servable) {
            String key = ModelKey.of(mv).toString();
            if (markers.crashed(key)) {
                events.accept(ModelWatcher.Event.SKIPPED);
                log.warn("not trying the ACTIVE version {}: it crashed this instance before", key);
                continue;
            }
            markers.begin(key, "loading"); // outside the try: a state directory we cannot write is not mv's fault
            try {
                GuardrailModel model = loader.apply(fetch.apply(mv));
                log.info("starting with the ACTIVE version {}", key);
                return model;
            } catch (RuntimeException | OutOfMemoryError e) {
                events.accept(ModelWatcher.Event.FAILED);
                log.error(
                        "the ACTIVE version {} does not verify or load ({}); trying the one before",
                        key,
                        e.getMessage());
                publishFailed(models, mv, String.valueOf(e.getMessage()));
            } finally {
                markers.end(key);
            }
        }
        if (!servable.isEmpty()) {
            log.error(
                    "no ACTIVE version of {} verifies and loads: starting with the default bundle {}", name, fallback);
        }
        return loader.apply(fallback);
    }

    /** The last record about {@code key} (name@version): its own records and the ACTIVE pointers naming it. */
    private static ModelVersion lastRecordOf(List<ModelsTopic.Entry> records, String key) {
        ModelVersion last = null;
        for (ModelsTopic.Entry e : records) {
            if (ModelKey.of(e.value()).toString().equals(key)) {
                last = e.value();
            }
        }
        return last;
    }

    /** Best effort: the instance starts whether or not the topic takes the record. */
    private static void publishFailed(ModelsTopic models, ModelVersion mv, String reason) {
        try {
            models.fail(mv, reason);
            log.error("marked {} FAILED: {}", ModelKey.of(mv), reason);
        } catch (RuntimeException e) {
            log.warn("could not mark {} FAILED ({}): {}", ModelKey.of(mv), reason, e.getMessage());
        }
    }
}
