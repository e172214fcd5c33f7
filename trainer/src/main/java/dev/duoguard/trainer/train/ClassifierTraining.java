package dev.duoguard.trainer.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.duoguard.runtime.bundle.BundleManifest;
import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.runtime.onnx.ExecutionDevice;
import dev.duoguard.runtime.scoring.GuardrailModel;
import dev.duoguard.runtime.scoring.Windows;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import dev.duoguard.runtime.tokenizer.GuardrailTokenizer;
import dev.duoguard.trainer.data.DataException;
import dev.duoguard.trainer.data.Example;
import dev.duoguard.trainer.data.MixWeights;
import dev.duoguard.trainer.data.SharedData;
import dev.duoguard.trainer.data.TrainingMix;
import dev.duoguard.trainer.engine.DjlEncoder;
import dev.duoguard.trainer.engine.DjlTransformer;
import dev.duoguard.trainer.engine.SequenceClassifier;
import dev.duoguard.trainer.eval.EvalReport;
import dev.duoguard.trainer.eval.Evaluator;
import dev.duoguard.trainer.export.BundleExporter;
import dev.duoguard.trainer.hf.DType;
import dev.duoguard.trainer.hf.EncoderConfig;
import dev.duoguard.trainer.hf.PretrainedEncoders;
import dev.duoguard.trainer.hf.Safetensors;
import dev.duoguard.trainer.hf.Tensor;
import dev.duoguard.trainer.hf.TransformerConfig;
import dev.duoguard.trainer.tokenizer.ByteLevelBpeTrainer;
import dev.duoguard.trainer.tokenizer.TokenizerJson;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Predicate;
import java.util.stream.Collectors;

/**
 * One classifier run end to end ({@code ./duoguard train}): data mix → tokenizer (trained for a from-scratch
 * model, the checkpoint's otherwise) → training → dev metrics → Hugging Face checkpoint → ONNX bundle → benchmark
 * evaluation through the serving runtime, whose results go into the bundle's manifest. Build it with
 * {@link #builder()}: it names the defaults, and {@link Builder#build()} says which value is wrong.
 *
 * @param dataDir   a directory of normalized JSONL (the {@code ../shared/data} layout) or null
 * @param inputs    more data files; normalized JSONL unless {@code mappings} names a mapping for the file's stem
 * @param from      a Hugging Face checkpoint to fine-tune (its tokenizer is used), or null to train from scratch
 * @param work      checkpoints, the tokenizer, the Hugging Face export and the reports
 * @param out       the bundle directory
 * @param resume    continue from the checkpoint in {@code work}
 * @param evaluate  evaluate the bundle on the benchmarks (when there are any)
 * @param fp16      store the bundle's weight matrices in fp16
 * @param activationCheckpointing a decoder classifier recomputes its layers in the backward pass instead of holding
 *                  their activations ({@link ClassifierTrainer#activationCheckpointing}); an encoder trains as it is
 *                  (not built for it), which the log says
 */
public record ClassifierTraining(
        TrainPreset preset,
        Path dataDir,
        List<Path> inputs,
        Map<String, Path> mappings,
        Path from,
        Path work,
        Path out,
        String version,
        boolean resume,
        boolean evaluate,
        boolean fp16,
        boolean activationCheckpointing) {

    public static final String PAD = "<|endoftext|>";
    /** The bundle directory under {@code work} when none is given. */
    public static final String DEFAULT_OUT = "bundle";

    public static final String DEFAULT_VERSION = "1";

    /**
     * Required: {@code preset} and {@code work}. Defaults: no data directory, inputs or mappings (a run that only
     * {@link #trainOn trains on} given items needs none), no checkpoint to fine-tune (the preset's backbone),
     * {@code out} = {@code work/}{@value #DEFAULT_OUT}, version {@value #DEFAULT_VERSION}, no resume, evaluation on,
     * fp32 weights.
     */
    public static Builder builder() {
        return new Builder();
    }

    /** Builds a {@link ClassifierTraining}; see {@link ClassifierTraining#builder()} for what is required. */
    public static final class Builder {
        private TrainPreset preset;
        private Path dataDir;
        private List<Path> inputs = List.of();
        private Map<String, Path> mappings = Map.of();
        private Path from;
        private Path work;
        private Path out;
        private String version = DEFAULT_VERSION;
        private boolean resume;
        private boolean evaluate = true;
        private boolean fp16;
        private boolean activationCheckpointing;

        private Builder() {}

        /** Required. */
        public Builder preset(TrainPreset v) {
            preset = v;
            return this;
        }

        /** A directory of normalized JSONL, or null. */
        public Builder dataDir(Path v) {
            dataDir = v;
            return this;
        }

        public Builder inputs(List<Path> v) {
            inputs = v;
            return this;
        }

        /** A field mapping per input file stem; every key must name one of the {@code inputs}. */
        public Builder mappings(Map<String, Path> v) {
            mappings = v;
            return this;
        }

        /** A Hugging Face checkpoint to fine-tune, or null. */
        public Builder from(Path v) {
            from = v;
            return this;
        }

        /** Required. */
        public Builder work(Path v) {
            work = v;
            return this;
        }

        public Builder out(Path v) {
            out = v;
            return this;
        }

        /** The model version in the manifest: no blanks, no {@code @} (a model key is {@code name@version}). */
        public Builder version(String v) {
            version = v;
            return this;
        }

        public Builder resume(boolean v) {
            resume = v;
            return this;
        }

        public Builder evaluate(boolean v) {
            evaluate = v;
            return this;
        }

        public Builder fp16(boolean v) {
            fp16 = v;
            return this;
        }

        /** A decoder classifier trains with activation checkpointing (an encoder without: not built for it). */
        public Builder activationCheckpointing(boolean v) {
            activationCheckpointing = v;
            return this;
        }

        /** @throws IllegalArgumentException naming every value that is missing or wrong */
        public ClassifierTraining build() {
            List<String> problems = new ArrayList<>();
            if (preset == null) {
                problems.add("preset is required");
            }
            if (work == null) {
                problems.add("work (checkpoints, tokenizer and reports) is required");
            }
            if (version == null || !version.matches("[^\\s@]+")) {
                problems.add("version must be non-empty without blanks or '@' (got '" + version + "')");
            }
            boolean inputsValid = inputs != null && inputs.stream().noneMatch(Objects::isNull);
            if (!inputsValid) {
                problems.add("inputs must be a list of files (got " + inputs + ")");
            }
            if (mappings == null) {
                problems.add("mappings must be a map (empty for none)");
            } else if (inputsValid) {
                Set<String> stems = inputs.stream().map(SharedData::stem).collect(Collectors.toSet());
                mappings.keySet().stream()
                        .filter(k -> !stems.contains(k))
                        .forEach(k -> problems.add(
                                "mapping '" + k + "' names no input (input file stems: " + new TreeSet<>(stems) + ")"));
            }
            if (!problems.isEmpty()) {
                throw new IllegalArgumentException("invalid classifier training: " + String.join("; ", problems));
            }
            return new ClassifierTraining(
                    preset,
                    dataDir,
                    List.copyOf(inputs),
                    Map.copyOf(mappings),
                    from,
                    work,
                    out != null ? out : work.resolve(DEFAULT_OUT),
                    version,
                    resume,
                    evaluate,
                    fp16,
                    activationCheckpointing);
        }
    }

    /** The training and dev items of a run, the mix summary, and the benchmarks found in the data directory. */
    public record Prepared(
            List<Example> train,
            List<Example> dev,
            Map<String, Object> summary,
            Map<String, List<Example>> benchmarks) {}

    public ModelBundle run(PrintStream log) throws IOException {
        long started = System.nanoTime();
        Prepared p = prepare(log);
        return trainOn(p.train(), p.dev(), p.summary(), null, p.benchmarks(), log, started);
    }

    /** Reads the sources, builds the mix under the split policy and prints its report (also to mix.json). */
    public Prepared prepare(PrintStream log) throws IOException {
        TrainSettings s = preset.settings();
        Files.createDirectories(work);
        Map<String, List<Example>> sources = new LinkedHashMap<>();
        Map<String, List<Example>> benchmarks = Map.of();
        if (dataDir != null) {
            sources.putAll(SharedData.trainSeeds(dataDir, preset.mix().translations()));
            benchmarks = SharedData.benchmarks(dataDir);
        }
        for (Path input : inputs) {
            String name = SharedData.stem(input);
            List<Example> examples = SharedData.read(input, mappings.get(name));
            sources.merge(name, examples, (a, b) -> {
                List<Example> all = new ArrayList<>(a);
                all.addAll(b);
                return all;
            });
        }
        if (sources.isEmpty()) {
            throw new DataException("no training data: give --data (a directory of normalized JSONL) or --input files");
        }
        TrainingMix mix = TrainingMix.build(
                sources,
                TrainingMix.keysOf(benchmarks.values()),
                preset.caps(),
                s.seed(),
                preset.mix().inferCategories());
        List<Example> train = mix.train();
        if (preset.maxTrainItems() > 0 && train.size() > preset.maxTrainItems()) {
            List<Example> shuffled = new ArrayList<>(train);
            Collections.shuffle(shuffled, new Random(s.seed()));
            train = shuffled.subList(0, preset.maxTrainItems());
        }
        log.println("== training mix (before training) ==");
        mix.report(log);
        if (train.size() != mix.train().size()) {
            log.printf("preset '%s' keeps a seeded sample of %d training items%n", preset.name(), train.size());
        }
        writeJson(work.resolve("mix.json"), mix.summary());
        return new Prepared(train, mix.dev(), mix.summary(), benchmarks);
    }

    /**
     * Trains on {@code train}, reports on {@code dev}, exports the bundle and evaluates it on {@code benchmarks}
     * (when {@link #evaluate}). The tokenizer is {@code tokenizer} when given, the checkpoint's with {@link #from},
     * else a byte-level BPE trained on {@code train}. The two-player loop retrains through here.
     */
    public ModelBundle trainOn(
            List<Example> train,
            List<Example> dev,
            Map<String, Object> mixSummary,
            Path tokenizer,
            Map<String, List<Example>> benchmarks,
            PrintStream log)
            throws IOException {
        return trainOn(train, dev, mixSummary, tokenizer, benchmarks, log, System.nanoTime());
    }

    /** The model to train, what of it is trained, how items are cut into rows, and its Hugging Face config. */
    private record Net(
            SequenceClassifier model,
            Predicate<String> trainable,
            EncodedSet.Windowing windowing,
            ObjectNode config,
            String description) {}

    private ModelBundle trainOn(
            List<Example> train,
            List<Example> dev,
            Map<String, Object> mixSummary,
            Path givenTokenizer,
            Map<String, List<Example>> benchmarks,
            PrintStream log,
            long started)
            throws IOException {
        TrainSettings s = preset.settings();
        Path hf = work.resolve("hf");
        Files.createDirectories(hf);
        Path tokenizerFile = hf.resolve(BundleManifest.TOKENIZER_FILE);
        Path base = from;
        EncoderConfig.Pooling pooling = null; // null: the checkpoint's own (built-in sentence encoders say "mean")
        if (base == null && !preset.fromScratch()) {
            base = PretrainedEncoders.materialize(preset.backbone());
            log.printf(
                    "== backbone: %s (pretrained, from its Maven jar; materialised in %s) ==%n",
                    preset.backbone(), base);
        }

        ClassifierTrainer.Result result;
        String description;
        try (NDManager manager = NDManager.newBaseManager()) {
            Net net = base != null
                            && EncoderConfig.isEncoder(
                                    JSON.readTree(base.resolve("config.json").toFile()))
                    ? encoder(base, pooling, tokenizerFile, manager, s)
                    : decoder(base, givenTokenizer, tokenizerFile, train, manager, s, log);
            description = net.description();
            try (GuardrailTokenizer tokenizer = GuardrailTokenizer.load(tokenizerFile);
                    SequenceClassifier model = net.model()) {
                double[] weights = preset.mix().weighted()
                        ? MixWeights.of(
                                train, preset.mix().unsafePrior(), preset.mix().temper())
                        : null;
                EncodedSet trainSet = EncodedSet.of(train, weights, tokenizer, net.windowing());
                log.printf(
                        "== training: %s, %d items (%d in several windows of %d tokens), %,d tokens per epoch, "
                                + "%d epochs ==%n",
                        description,
                        trainSet.size(),
                        trainSet.multiWindowItems(),
                        net.windowing().window(),
                        trainSet.tokens(),
                        s.epochs());
                boolean decoder = model instanceof DjlTransformer;
                if (activationCheckpointing && !decoder) {
                    log.println("activation checkpointing: built for decoder classifiers, not for this encoder;"
                            + " it trains without");
                }
                ClassifierTrainer trainer = new ClassifierTrainer(model, manager, s, log, net.trainable())
                        .activationCheckpointing(activationCheckpointing && decoder);
                result = trainer.train(trainSet, work.resolve("checkpoint"), resume);
                // dev is scored once, through the exported bundle (calibration below): what is served
                Safetensors.write(
                        hf.resolve(Safetensors.SINGLE_FILE), model.toTensors().values(), DType.F32, Map.of());
                Files.writeString(hf.resolve("config.json"), net.config().toPrettyString());
            }
        }

        ObjectNode provenance = JSON.createObjectNode();
        provenance.put("kind", "trained by ./duoguard train (DJL " + Engine.getDjlVersion() + ")");
        provenance.put("preset", preset.name());
        provenance.put(
                "from",
                base == null
                        ? "scratch (byte-level BPE tokenizer trained on the mix)"
                        : from == null ? preset.backbone() + " (built-in pretrained encoder)" : from.toString());
        provenance.put("model", description);
        provenance.set("settings", JSON.valueToTree(s));
        provenance.set("mix", JSON.valueToTree(preset.mix()));
        provenance.set("data", JSON.valueToTree(mixSummary));
        provenance.put("steps", result.steps());
        provenance.put("skipped_steps", result.skipped());
        provenance.put("train_seconds", Math.round(result.seconds()));
        provenance.put("tokens_per_second", Math.round(result.tokensPerSecond()));
        provenance.put(
                "machine", Runtime.getRuntime().availableProcessors() + " cores, " + System.getProperty("os.arch"));
        provenance.put("trained_at", Instant.now().toString());
        ModelBundle bundle =
                BundleExporter.export(hf, out, "duoguard-" + preset.name(), version, fp16, s.maxTokens(), provenance);
        log.printf("wrote bundle %s%n", bundle);

        if (!dev.isEmpty()) {
            // thresholds fitted on dev as the exported bundle scores it (never on a benchmark)
            log.printf(
                    "== calibration: thresholds for a dev false-positive rate of %.0f %% ==%n",
                    100 * preset.targetFpr());
            bundle = Calibration.calibrate(
                    bundle, dev, Calibration.Settings.DEFAULTS.withTargetFpr(preset.targetFpr()), log);
        }
        if (evaluate && !benchmarks.isEmpty()) {
            log.println("== evaluation on the benchmarks (eval-only sets, never trained on; thresholds from dev) ==");
            Evaluator.Result r;
            Map<String, List<Example>> sets = new LinkedHashMap<>(benchmarks);
            // the dev slices too (thresholds are fitted on them, so their numbers are in-sample for the thresholds)
            sets.put(
                    "dev-mhc",
                    dev.stream().filter(e -> e.source().equals("mhc")).toList());
            sets.put(
                    "dev-seeds",
                    dev.stream().filter(e -> !e.source().equals("mhc")).toList());
            sets.values().removeIf(List::isEmpty);
            try (GuardrailModel model = GuardrailModel.load(out, ExecutionDevice.CPU, 2, 64)) {
                r = new Evaluator(model, 64, 20).run(sets, 100);
            }
            EvalReport.print(r, log);
            Path reports = work.resolve("eval");
            EvalReport.writeJson(r, reports.resolve("eval.json"));
            EvalReport.writeChart(r, reports.resolve("eval.png"));
            EvalReport.writeMarkdown(r, reports.resolve("eval.md"));
            bundle = BundleExporter.withMetrics(bundle, EvalReport.manifestMetrics(r));
        }
        log.printf("done in %s%n", ClassifierTrainer.duration((System.nanoTime() - started) / 1e9));
        return bundle;
    }

    /** A BERT-family checkpoint fine-tuned with a 12-way head: the top {@code trainableLayers} layers and the head. */
    private Net encoder(
            Path base, EncoderConfig.Pooling pooling, Path tokenizerFile, NDManager manager, TrainSettings s)
            throws IOException {
        Files.copy(base.resolve(BundleManifest.TOKENIZER_FILE), tokenizerFile, StandardCopyOption.REPLACE_EXISTING);
        DjlEncoder model = DjlEncoder.forFineTuning(base, SafetyCategory.COUNT, pooling, manager, s.seed());
        EncoderConfig c = model.config();
        int top = preset.trainableLayers() < 0 ? c.layers() : Math.min(preset.trainableLayers(), c.layers());
        TokenizerJson.SpecialTokens special = TokenizerJson.specialTokens(tokenizerFile);
        int specials = special.prefix().size() + special.suffix().size();
        int window = Math.min(s.maxTokens(), c.maxUsableTokens());
        EncodedSet.Windowing w = new EncodedSet.Windowing(
                window,
                Windows.defaultOverlap(window, specials),
                special.prefix().stream().mapToLong(Long::longValue).toArray(),
                special.suffix().stream().mapToLong(Long::longValue).toArray(),
                c.padTokenId(),
                EncodedSet.MAX_TRAINING_WINDOWS);
        String what = String.format(
                "%s encoder, %d layers x %d wide, %s pooling, top %d layer(s) + head trained",
                c.modelType(), c.layers(), c.hiddenSize(), c.pooling().name().toLowerCase(Locale.ROOT), top);
        return new Net(model, DjlEncoder.topLayers(c, top), w, c.toJson(), what);
    }

    /** A Qwen2/Llama-family decoder: a checkpoint to fine-tune, or the preset's shape from scratch. */
    private Net decoder(
            Path base,
            Path givenTokenizer,
            Path tokenizerFile,
            List<Example> train,
            NDManager manager,
            TrainSettings s,
            PrintStream log)
            throws IOException {
        TransformerConfig config;
        Map<String, Tensor> initial = null;
        if (base != null) {
            Files.copy(base.resolve(BundleManifest.TOKENIZER_FILE), tokenizerFile, StandardCopyOption.REPLACE_EXISTING);
            TransformerConfig c = TransformerConfig.read(base.resolve("config.json"));
            config = c.withClassifierHead(SafetyCategory.COUNT, CheckpointPadId.of(base));
            initial = new LinkedHashMap<>(Safetensors.readCheckpoint(base));
            addHeadIfMissing(initial, config, s.seed());
        } else if (givenTokenizer != null) {
            Files.copy(givenTokenizer, tokenizerFile, StandardCopyOption.REPLACE_EXISTING);
            config = TransformerConfig.preset(
                    preset.shape(), TokenizerJson.vocabularySize(tokenizerFile), SafetyCategory.COUNT, 0);
        } else {
            log.printf(
                    "== tokenizer: byte-level BPE, %d tokens, trained on the training texts ==%n", preset.vocabSize());
            var trained = new ByteLevelBpeTrainer(preset.vocabSize(), 2, List.of(PAD))
                    .train(train.stream().map(Example::text).toList());
            ByteLevelBpeTrainer.write(trained, tokenizerFile);
            config = TransformerConfig.preset(preset.shape(), trained.vocab().size(), SafetyCategory.COUNT, 0);
        }
        DjlTransformer model = initial != null
                ? DjlTransformer.fromTensors(config, initial, manager, true, false)
                : DjlTransformer.random(config, manager, true, false, s.seed());
        EncodedSet.Windowing w = EncodedSet.Windowing.plain(
                Math.min(s.maxTokens(), config.maxPositions()), Math.max(0, config.padTokenId()));
        String what = String.format(
                "%s decoder, %d layers x %d wide%s",
                config.modelType(),
                config.layers(),
                config.hiddenSize(),
                base == null ? ", from scratch" : ", fine-tuned");
        return new Net(model, name -> true, w, config.toJson(), what);
    }

    /** A base LM has no classification head: DuoGuard's is a bias-free linear layer, initialised like HF does. */
    private static void addHeadIfMissing(Map<String, Tensor> tensors, TransformerConfig c, long seed) {
        if (tensors.containsKey("score.weight")) {
            return;
        }
        Random r = new Random(seed);
        float[] w = new float[SafetyCategory.COUNT * c.hiddenSize()];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) (r.nextGaussian() * 0.02);
        }
        tensors.put("score.weight", new Tensor("score.weight", new long[] {SafetyCategory.COUNT, c.hiddenSize()}, w));
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private static void writeJson(Path file, Object value) throws IOException {
        new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(file.toFile(), value);
    }
}
