package dev.duoguard.trainer.service;

import dev.duoguard.lifecycle.BundleSignature;
import dev.duoguard.lifecycle.ModelKey;
import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.runtime.onnx.ExecutionDevice;
import dev.duoguard.runtime.scoring.GuardrailModel;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import dev.duoguard.schemas.Category;
import dev.duoguard.schemas.CategoryThreshold;
import dev.duoguard.schemas.LanguageMetrics;
import dev.duoguard.schemas.ModelStatus;
import dev.duoguard.schemas.ModelVersion;
import dev.duoguard.trainer.eval.Evaluator;
import dev.duoguard.trainer.eval.Metrics;
import dev.duoguard.trainer.export.BundleExporter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.stream.Stream;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * Publishes a candidate: copies the bundle into the artifact store ({@code <store>/<name>/<version>/}, a directory:
 * local disk or a shared volume), renames it in its manifest, proves that the streams app's scorer loads it and
 * scores with it, and only then sends a {@link ModelVersion} (status CANDIDATE, the manifest's sha256, per-language
 * metrics) to the models topic, keyed {@code name@version} (the model name alone keys the ACTIVE pointer). A bundle that fails the check is removed and nothing is sent.
 * With a signer, the renamed manifest is signed ({@link BundleSignature}) before the bundle is moved into place.
 */
public final class Publisher {

    private final Path store;
    private final Producer<String, ModelVersion> producer;
    private final String topic;
    private final BundleSignature.Signer signer;

    /** @param signer signs every published bundle; null: they are published unsigned */
    public Publisher(Path store, Producer<String, ModelVersion> producer, String topic, BundleSignature.Signer signer) {
        this.store = store;
        this.producer = producer;
        this.topic = topic;
        this.signer = signer;
    }

    public ModelVersion publish(Path bundleDir, String name, String version, List<Evaluator.Row> dev)
            throws IOException {
        Path target = store.resolve(name).resolve(version);
        if (Files.exists(target)) {
            throw new IllegalStateException(target + " exists: versions are immutable");
        }
        Path tmp = store.resolve(name).resolve("." + version + ".tmp");
        copyTree(bundleDir, tmp);
        BundleExporter.withIdentity(ModelBundle.open(tmp), name, version);
        try (GuardrailModel model = GuardrailModel.load(tmp, ExecutionDevice.CPU, 1, 8)) {
            float[] p = model.score(List.of("publication check")).get(0).probabilities();
            if (p.length != SafetyCategory.COUNT) {
                throw new IllegalStateException("the scorer returned " + p.length + " categories");
            }
        } catch (RuntimeException e) {
            deleteTree(tmp);
            throw new IllegalStateException(
                    "candidate " + new ModelKey(name, version) + " does not load in the scorer: " + e.getMessage(), e);
        }
        // the manifest was rewritten with the new identity: a signature the source bundle had no longer matches it
        Files.deleteIfExists(tmp.resolve(BundleSignature.FILE_NAME));
        if (signer != null) {
            BundleSignature.sign(tmp, signer);
        }
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);

        ModelVersion mv = describe(target, ModelStatus.CANDIDATE, dev);
        try {
            producer.send(new ProducerRecord<>(topic, new ModelKey(name, version).toString(), mv))
                    .get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            deleteTree(target); // not announced, so not published: the version can be published again
            throw new IOException("interrupted while publishing", e);
        } catch (ExecutionException e) {
            deleteTree(target);
            throw new IOException(
                    "cannot send the model version to " + topic + ": "
                            + e.getCause().getMessage(),
                    e);
        }
        return mv;
    }

    /**
     * The models-topic record of the bundle in {@code dir}: name and version from its manifest, the manifest's
     * sha256, thresholds, per-language metrics from {@code dev} (may be empty) and {@code status}.
     */
    public static ModelVersion describe(Path dir, ModelStatus status, List<Evaluator.Row> dev) {
        ModelBundle bundle = ModelBundle.open(dir);
        float[] thresholds = bundle.thresholds();
        List<Category> categories = new ArrayList<>();
        List<CategoryThreshold> ts = new ArrayList<>();
        for (SafetyCategory c : SafetyCategory.ordered()) {
            categories.add(Category.valueOf(c.name()));
            ts.add(new CategoryThreshold(Category.valueOf(c.name()), thresholds[c.ordinal()]));
        }
        Map<String, LanguageMetrics> metrics = new LinkedHashMap<>();
        for (Evaluator.Row r : dev) {
            Metrics m = r.model();
            metrics.put(
                    r.lang(),
                    new LanguageMetrics(
                            m.n(),
                            (float) m.precision(),
                            nan0(m.recall()),
                            nan0(m.f1()),
                            nan0(m.fpr()),
                            nan0(m.auprc())));
        }
        return ModelVersion.newBuilder()
                .setModelName(bundle.manifest().name())
                .setVersion(bundle.manifest().version())
                .setArtifactUri(dir.toAbsolutePath().toUri().toString())
                .setSha256(bundle.manifestSha256())
                .setCategories(categories)
                .setThresholds(ts)
                .setLanguageMetrics(metrics)
                .setStatus(status)
                .setCreatedAt(Instant.now())
                .build();
    }

    private static float nan0(double v) {
        return Double.isNaN(v) ? Float.NaN : (float) v;
    }

    static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> walk = Files.walk(from)) {
            for (Path p : (Iterable<Path>) walk::iterator) {
                Path t = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(t);
                } else {
                    Files.copy(p, t, StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(p)) {
            for (Path f : (Iterable<Path>) walk.sorted(Comparator.reverseOrder())::iterator) {
                Files.delete(f);
            }
        }
    }
}
