package dev.duoguard.trainer.loop;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.runtime.language.LanguageIdentifier;
import dev.duoguard.runtime.onnx.ExecutionDevice;
import dev.duoguard.runtime.policy.DecisionPolicy;
import dev.duoguard.runtime.scoring.GuardrailModel;
import dev.duoguard.runtime.scoring.TextScores;
import dev.duoguard.runtime.tokenizer.GuardrailTokenizer;
import dev.duoguard.trainer.data.Example;
import dev.duoguard.trainer.engine.DjlTransformer;
import dev.duoguard.trainer.engine.Generator;
import dev.duoguard.trainer.engine.LoraAdapters;
import dev.duoguard.trainer.engine.Sampler;
import dev.duoguard.trainer.eval.Evaluator;
import dev.duoguard.trainer.hf.DType;
import dev.duoguard.trainer.hf.Safetensors;
import dev.duoguard.trainer.hf.TransformerConfig;
import dev.duoguard.trainer.tokenizer.ByteLevelBpeTrainer;
import dev.duoguard.trainer.tokenizer.TokenizerJson;
import dev.duoguard.trainer.train.Calibration;
import dev.duoguard.trainer.train.ClassifierTraining;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Collectors;

/**
 * DuoGuard's two-player loop, offline: iteration 0 trains the classifier on the seed mix and the generator on
 * request/answer pairs (or, with {@link LoopSettings#generatorFrom}, loads an instruction-tuned checkpoint that is
 * asked with the paper's prompts through its chat template); every later iteration (1) picks seeds and target languages with a budget that favours the
 * languages the training data has least of, (2) generates n samples per request and filters them
 * ({@link SampleFilter}; with a checkpoint to judge with, the LLM judge {@link LlmRater} drops refusals and
 * off-label samples, so they never become a pair's chosen sample), (3) scores the kept samples with the current
 * classifier (misclassified = its decision disagrees with the seed's label), (4) trains the generator with DPO +
 * RPO on (misclassified, correct) pairs of the same request against a {@link DpoReference} (its base with the LoRA
 * adapters off, or a frozen copy of itself), (5) retrains the classifier (from scratch, or from {@link
 * LoopSettings#classifierFrom}'s checkpoint) on the seed mix plus the synthetic data accumulated so far, and (6)
 * evaluates it on the dev set per language. Every iteration's
 * generator, classifier bundle and report are kept under {@code work/iter-K}; all randomness is seeded. With a
 * {@link GeneratorStore} (the trainer service's), a run continues the store's newest generator and its samples and
 * records its own after every iteration, so that one generator learns across runs.
 */
public final class TwoPlayerLoop {

    /** What one iteration did and measured. */
    public record Iteration(
            int index,
            Map<String, Integer> requests,
            int generated,
            Map<String, Integer> dropped,
            Map<String, Integer> keptByLanguage,
            Map<String, Integer> misclassifiedByLanguage,
            int preferencePairs,
            double marginAfterDpo,
            int syntheticInTraining,
            Map<String, Integer> trainByLanguage,
            List<Evaluator.Row> dev,
            Path bundle) {

        public int kept() {
            return keptByLanguage.values().stream().mapToInt(Integer::intValue).sum();
        }

        public int misclassified() {
            return misclassifiedByLanguage.values().stream()
                    .mapToInt(Integer::intValue)
                    .sum();
        }

        /** The generator's misclassification rate: misclassified / kept (NaN before any generation). */
        public double misclassificationRate() {
            return kept() == 0 ? Double.NaN : misclassified() / (double) kept();
        }
    }

    private final LoopSettings s;
    private final Path work;
    private final Path rater;
    private final GeneratorStore store;
    private final PrintStream log;

    /** @param rater a bundle whose verdict must agree with a sample's intended label, or null (labels unverified) */
    public TwoPlayerLoop(LoopSettings settings, Path work, Path rater, PrintStream log) {
        this(settings, work, rater, null, log);
    }

    /**
     * A loop that continues the generator in {@code store} (its newest generator instead of a new one, its samples
     * as the synthetic data so far) and saves its generator and samples there after every iteration; null: every
     * run starts a new generator.
     */
    public TwoPlayerLoop(LoopSettings settings, Path work, Path rater, GeneratorStore store, PrintStream log) {
        this.s = settings;
        this.work = work;
        this.rater = rater;
        this.store = store;
        this.log = log;
    }

    /**
     * @param seeds     what requests are drawn from (the seeds topic's items in the service; the training items
     *                  offline)
     * @param baseTrain the classifier's own training data (seeds are a subset or the same)
     * @param dev       held-out items, reported per language
     */
    public List<Iteration> run(List<Example> seeds, List<Example> baseTrain, List<Example> dev) throws IOException {
        Files.createDirectories(work);
        List<Iteration> done = new ArrayList<>();
        // runs the store has seen before: sample ids and random streams continue instead of repeating
        int before = store == null ? 0 : store.runs();
        Random random = new Random(s.seed() + before);
        List<Example> synthetic = store == null ? new ArrayList<>() : store.samples();
        if (!synthetic.isEmpty()) {
            log.printf("== %d generated samples of earlier runs from %s ==%n", synthetic.size(), store.dir());
        }
        Path iter0 = work.resolve("iter-0");

        // the generator and the judge load first: one that does not fit fails before any training
        try (NDManager manager = NDManager.newBaseManager();
                Player player = s.generatorFrom() != null
                        ? checkpointGenerator(manager)
                        : scratchGenerator(seeds, baseTrain, iter0, manager, random);
                LlmRater judge = s.judge() == null ? null : judge(manager, player)) {
            log.println("== iteration 0: classifier on the seed mix ==");
            Retrained first = classifier(iter0, baseTrain, dev, null, 0);
            ModelBundle bundle = first.bundle();
            Path classifierTokenizer = iter0.resolve("classifier/hf/tokenizer.json");
            done.add(new Iteration(
                    0,
                    Map.of(),
                    0,
                    Map.of(),
                    Map.of(),
                    Map.of(),
                    0,
                    Double.NaN,
                    0,
                    countByLanguage(first.trained()),
                    evaluate(bundle.directory(), dev),
                    bundle.directory()));
            report(done);

            DjlTransformer generator = player.model;
            GeneratorTrainer trainer = player.trainer;
            for (int k = 1; k <= s.iterations(); k++) {
                int run = before + k; // this iteration's number across the store's runs
                Path dir = work.resolve("iter-" + k);
                log.printf("== iteration %d ==%n", k);
                List<Example> current = new ArrayList<>(baseTrain);
                current.addAll(synthetic);
                Map<String, Integer> budget = budget(countByLanguage(current));
                List<Example> requestSeeds = new ArrayList<>();
                List<String> requestLangs = new ArrayList<>();
                budget.forEach((lang, n) -> {
                    for (int i = 0; i < n; i++) {
                        requestSeeds.add(seeds.get(random.nextInt(seeds.size())));
                        requestLangs.add(lang);
                    }
                });

                List<List<String>> samples = generate(player, requestSeeds, requestLangs, s.seed() + run);
                int generated = samples.stream().mapToInt(List::size).sum();

                SampleFilter filter = new SampleFilter(new LanguageIdentifier(s.languages(), false), 0.25, 4.0, 0.8);
                List<List<String>> kept = new ArrayList<>();
                Files.createDirectories(dir);
                List<Map<String, Object>> sampleLog = new ArrayList<>();
                try (GuardrailModel raterModel =
                        rater == null ? null : GuardrailModel.load(rater, ExecutionDevice.CPU, 2, 64)) {
                    for (int i = 0; i < samples.size(); i++) {
                        Example seed = requestSeeds.get(i);
                        String lang = requestLangs.get(i);
                        kept.add(filter.filter(
                                seed.text(),
                                lang,
                                samples.get(i),
                                raterModel == null
                                        ? null
                                        : t -> DecisionPolicy.isUnsafe(
                                                        raterModel
                                                                .score(List.of(t))
                                                                .get(0)
                                                                .probabilities(),
                                                        raterModel.model().thresholds(lang))
                                                == seed.unsafe(),
                                judge == null ? null : texts -> judge.rate(seed, lang, texts),
                                (text, reason, rating) -> {
                                    Map<String, Object> row = new LinkedHashMap<>();
                                    row.put("seed", seed.id());
                                    row.put("seed_text", seed.text());
                                    row.put("label", seed.unsafe() ? "unsafe" : "safe");
                                    row.put("target_language", lang);
                                    row.put("sample", text);
                                    row.put("rating", rating);
                                    row.put("dropped", reason);
                                    sampleLog.add(row);
                                }));
                    }
                }

                Map<String, Integer> keptByLang = new TreeMap<>();
                Map<String, Integer> wrongByLang = new TreeMap<>();
                List<GeneratorTrainer.PreferencePair> pairs = new ArrayList<>();
                try (GuardrailModel current0 = GuardrailModel.load(bundle.directory(), ExecutionDevice.CPU, 2, 64)) {
                    for (int i = 0; i < kept.size(); i++) {
                        List<String> texts = kept.get(i);
                        if (texts.isEmpty()) {
                            continue;
                        }
                        Example seed = requestSeeds.get(i);
                        String lang = requestLangs.get(i);
                        List<TextScores> scores = current0.score(texts);
                        List<String> wrong = new ArrayList<>();
                        List<String> right = new ArrayList<>();
                        for (int j = 0; j < texts.size(); j++) {
                            // the classifier's own decision for this language, as serving makes it
                            boolean flagged = DecisionPolicy.isUnsafe(
                                    scores.get(j).probabilities(),
                                    current0.model().thresholds(lang));
                            (flagged != seed.unsafe() ? wrong : right).add(texts.get(j));
                            Example syn = new Example(
                                    "syn-" + run + "-" + i + "-" + j,
                                    texts.get(j),
                                    lang,
                                    seed.unsafe(),
                                    seed.categories(),
                                    "synthetic",
                                    "",
                                    seed.groupKey());
                            if (!s.hardOnly() || flagged != seed.unsafe()) {
                                synthetic.add(syn);
                            }
                        }
                        keptByLang.merge(lang, texts.size(), Integer::sum);
                        wrongByLang.merge(lang, wrong.size(), Integer::sum);
                        String prompt = player.prompt(seed, lang);
                        for (int p = 0; p < Math.min(wrong.size(), right.size()); p++) {
                            pairs.add(new GeneratorTrainer.PreferencePair(prompt, wrong.get(p), right.get(p)));
                        }
                    }
                }
                try (var w = Files.newBufferedWriter(dir.resolve("samples.jsonl"))) {
                    for (Map<String, Object> row : sampleLog) {
                        w.write(new ObjectMapper().writeValueAsString(row));
                        w.newLine();
                    }
                }
                log.printf(
                        "generated %d, kept %d (dropped %s), misclassified %d, preference pairs %d%n",
                        generated,
                        keptByLang.values().stream().mapToInt(Integer::intValue).sum(),
                        filter.dropped(),
                        wrongByLang.values().stream()
                                .mapToInt(Integer::intValue)
                                .sum(),
                        pairs.size());

                double margin = Double.NaN;
                if (s.dpo() && !pairs.isEmpty()) {
                    try (DpoReference reference = s.lora() != null
                            ? DpoReference.adaptersOff(generator)
                            : DpoReference.frozenCopy(generator, manager)) {
                        trainer.dpo(
                                pairs,
                                reference,
                                s.beta(),
                                s.rpoAlpha(),
                                s.dpoLearningRate(),
                                s.dpoEpochs(),
                                LoopSettings.DPO_PAIRS,
                                s.dpoBatchTokens(),
                                s.seed() + run,
                                log);
                        margin = trainer.meanMargin(pairs, reference);
                    }
                    log.printf(
                            "DPO on %d pairs: mean log-ratio margin %.3f (0 before the update)%n",
                            pairs.size(), margin);
                }
                player.save(dir.resolve("generator"), s);
                if (store != null) {
                    store.save(dir.resolve("generator"), synthetic);
                    log.printf("generator and %d samples kept in %s (run %d)%n", synthetic.size(), store.dir(), run);
                }

                List<Example> retrain = new ArrayList<>(baseTrain);
                if (s.synthetic()) {
                    retrain.addAll(synthetic);
                }
                Retrained retrained = classifier(dir, retrain, dev, classifierTokenizer, k);
                bundle = retrained.bundle();
                done.add(new Iteration(
                        k,
                        budget,
                        generated,
                        new LinkedHashMap<>(filter.dropped()),
                        keptByLang,
                        wrongByLang,
                        pairs.size(),
                        margin,
                        synthetic(retrained.trained()),
                        countByLanguage(retrained.trained()),
                        evaluate(bundle.directory(), dev),
                        bundle.directory()));
                report(done);
            }
        }
        return done;
    }

    /**
     * The generator the loop trains: its model, the tokenizer its requests are encoded with, its trainer, and, for
     * a checkpoint, the chat side (template, stop ids, files); {@code chat} is null for the from-scratch model.
     */
    static final class Player implements AutoCloseable {
        final DjlTransformer model;
        final GuardrailTokenizer tokenizer;
        final GeneratorTrainer trainer;
        final ChatGenerator chat;
        final Path scratchTokenizer;

        Player(
                DjlTransformer model,
                GuardrailTokenizer tokenizer,
                GeneratorTrainer trainer,
                ChatGenerator chat,
                Path scratchTokenizer) {
            this.model = model;
            this.tokenizer = tokenizer;
            this.trainer = trainer;
            this.chat = chat;
            this.scratchTokenizer = scratchTokenizer;
        }

        /** The request text: the checkpoint's chat rendering of the paper's prompts, or the control-token row. */
        String prompt(Example seed, String lang) {
            return chat != null ? chat.prompt(seed, lang) : GeneratorPrompts.control(seed, lang);
        }

        /**
         * Writes the generator to {@code dir}: with LoRA, its adapters alone (a PEFT adapter directory on the
         * checkpoint it came from) and, when asked, the merged checkpoint next to it ({@code generator-merged}).
         */
        void save(Path dir, LoopSettings s) throws IOException {
            if (chat != null && s.lora() != null) {
                LoraAdapters.save(model, dir, s.generatorFrom().toAbsolutePath().toString());
                if (s.mergeAdapters()) {
                    chat.save(dir.resolveSibling(dir.getFileName() + "-merged"));
                }
            } else if (chat != null) {
                chat.save(dir);
            } else {
                saveGenerator(model, Files.createDirectories(dir));
                Files.copy(scratchTokenizer, dir.resolve("tokenizer.json"), StandardCopyOption.REPLACE_EXISTING);
            }
        }

        @Override
        public void close() {
            if (chat != null) {
                chat.close();
            } else {
                tokenizer.close();
                model.close();
            }
        }
    }

    /** An instruction-tuned checkpoint: used as it is (no supervised start), the paper's prompts through its template. */
    Player checkpointGenerator(NDManager manager) {
        Path saved = store == null ? null : store.latest();
        // full DPO continues the saved weights; LoRA the base it started from, with the saved adapters
        Path weights = saved != null && s.lora() == null ? saved : s.generatorFrom();
        // the base is cast before adapters attach (they stay fp32); settings allow fp16 only for a LoRA generator
        ChatGenerator chat = ChatGenerator.load(
                s.generatorFrom(), weights, s.dtype(), manager, s.maxPromptTokens(), Clock.systemUTC());
        var c = chat.checkpoint();
        log.printf(
                "== generator: %s (%s, %d layers x %d wide, %s head, stop ids %s), %s weights from %s ==%n",
                s.generatorFrom(),
                c.config().modelType(),
                c.config().layers(),
                c.config().hiddenSize(),
                c.config().tieWordEmbeddings() ? "tied" : "untied",
                new TreeSet<>(c.stopIds()),
                chat.model().dataType(),
                weights);
        if (s.lora() != null) {
            if (saved != null) {
                // the store need not record the dtype: the base always loads from the checkpoint's own file and
                // the saved adapters are fp32 whatever the base was held in, so a run may change --dtype
                LoraAdapters.load(saved, chat.model());
                log.printf("== LoRA adapters of run %d from %s ==%n", store.runs(), saved);
            } else {
                chat.model().addLora(s.lora(), s.seed());
            }
            log.printf(
                    "== LoRA on %s: r %d, alpha %.0f, %,d adapter weights in %s; DPO's reference is the base ==%n",
                    s.lora().targets(),
                    s.lora().rank(),
                    s.lora().alpha(),
                    chat.model().loraParameters().values().stream()
                            .mapToLong(a -> a.getShape().size())
                            .sum(),
                    chat.model().loraParameters().values().stream()
                            .map(a -> a.getDataType().toString())
                            .collect(Collectors.toCollection(TreeSet::new)));
        }
        GeneratorTrainer trainer = new GeneratorTrainer(
                        chat.model(), manager, chat.tokenizer(), s.maxPromptTokens(), s.maxNewTokens())
                .activationCheckpointing(s.activationCheckpointing());
        return new Player(chat.model(), chat.tokenizer(), trainer, chat, null);
    }

    /**
     * The LLM judge, once for the whole run: the generator's base with its adapters off when the judge is the
     * checkpoint the generator adapts with LoRA (no second copy), else a frozen copy of {@link LoopSettings#judge()}'s
     * checkpoint (see {@link LlmRater}).
     */
    LlmRater judge(NDManager manager, Player player) {
        boolean shared = s.judgeOnGeneratorBase();
        LlmRater judge = shared
                ? LlmRater.onBase(player.chat, s.raterMin(), Clock.systemUTC())
                : LlmRater.load(s.judge(), s.dtype(), manager, s.raterMin(), Clock.systemUTC());
        log.printf(
                "== rater: %s judges every sample 1-5; below %.1f is dropped (refusal / off_label)%s; %s weights ==%n",
                s.judge(),
                s.raterMin(),
                shared ? "; the generator's base with its adapters off" : "",
                judge.dataType());
        return judge;
    }

    /**
     * The CPU default: a byte-level BPE and a preset-shaped model trained here on request/answer pairs; with a store
     * that has one, its newest generator and tokenizer instead.
     */
    private Player scratchGenerator(
            List<Example> seeds, List<Example> baseTrain, Path iter0, NDManager manager, Random random)
            throws IOException {
        Path saved = store == null ? null : store.latest();
        if (saved != null) {
            // a copy in this run's directory: the store may delete the saved one once newer ones are kept
            Path savedTokenizer = Files.copy(
                    saved.resolve("tokenizer.json"),
                    Files.createDirectories(iter0.resolve("generator")).resolve("tokenizer.json"),
                    StandardCopyOption.REPLACE_EXISTING);
            DjlTransformer generator = DjlTransformer.fromTensors(
                    TransformerConfig.read(saved.resolve("config.json")),
                    Safetensors.readCheckpoint(saved),
                    manager,
                    false,
                    false);
            GuardrailTokenizer tokenizer = GuardrailTokenizer.load(savedTokenizer);
            log.printf("== generator of run %d from %s ==%n", store.runs(), saved);
            return new Player(
                    generator,
                    tokenizer,
                    new GeneratorTrainer(generator, manager, tokenizer, s.maxPromptTokens(), s.maxNewTokens())
                            .activationCheckpointing(s.activationCheckpointing()),
                    null,
                    savedTokenizer);
        }
        Path genDir = Files.createDirectories(iter0.resolve("generator"));
        Path genTokenizer = genDir.resolve("tokenizer.json");
        // the generator learns from the seeds and the classifier's data; requests come from the seeds only
        List<Example> corpus = new ArrayList<>(seeds);
        Set<Example> inSeeds = new HashSet<>(seeds);
        baseTrain.stream().filter(e -> !inSeeds.contains(e)).forEach(corpus::add);
        List<Example> pool = sample(corpus, s.maxSeedItems(), random);
        ByteLevelBpeTrainer.write(
                new ByteLevelBpeTrainer(s.generatorVocab(), 2, GeneratorPrompts.SPECIAL_TOKENS)
                        .train(pool.stream().map(Example::text).toList()),
                genTokenizer);
        GuardrailTokenizer tokenizer = GuardrailTokenizer.load(genTokenizer);
        TransformerConfig config =
                TransformerConfig.preset(s.generatorShape(), TokenizerJson.vocabularySize(genTokenizer), 0, 0);
        DjlTransformer generator = DjlTransformer.random(config, manager, false, false, s.seed());
        GeneratorTrainer trainer = new GeneratorTrainer(
                        generator, manager, tokenizer, s.maxPromptTokens(), s.maxNewTokens())
                .activationCheckpointing(s.activationCheckpointing());
        log.println("== iteration 0: generator trained on request/answer pairs from the seeds ==");
        trainer.supervised(
                GeneratorCorpus.build(pool, s.languages(), 2, s.seed()),
                s.generatorEpochs(),
                32,
                s.generatorLearningRate(),
                s.seed(),
                log);
        saveGenerator(generator, genDir);
        return new Player(generator, tokenizer, trainer, null, genTokenizer);
    }

    private List<List<String>> generate(Player player, List<Example> seeds, List<String> langs, long seed) {
        if (player.chat != null) {
            List<String> prompts = new ArrayList<>();
            for (int i = 0; i < seeds.size(); i++) {
                prompts.add(player.prompt(seeds.get(i), langs.get(i)));
            }
            return player.chat.generate(prompts, s.temperature(), s.samples(), s.maxNewTokens(), seed);
        }
        GuardrailTokenizer tokenizer = player.tokenizer;
        long end = tokenizer.encode(GeneratorPrompts.END)[0];
        Generator g = new Generator(player.model);
        List<List<String>> out = new ArrayList<>();
        int chunk = Math.max(1, 64 / s.samples());
        for (int start = 0; start < seeds.size(); start += chunk) {
            List<long[]> prompts = new ArrayList<>();
            for (int i = start; i < Math.min(seeds.size(), start + chunk); i++) {
                prompts.add(player.trainer.promptIds(GeneratorPrompts.control(seeds.get(i), langs.get(i))));
            }
            Sampler chunkSampler =
                    new Sampler(s.temperature(), 1.0f, s.samples(), s.maxNewTokens(), Set.of(end), seed * 31 + start);
            for (List<long[]> perPrompt : g.generate(prompts, chunkSampler)) {
                List<String> texts = new ArrayList<>();
                perPrompt.forEach(ids -> texts.add(tokenizer.decode(ids)));
                out.add(texts);
            }
        }
        return out;
    }

    /**
     * Requests per language: proportional to 1 / sqrt(1 + items the training data has in that language), so the
     * languages with least data get most, without starving any.
     */
    Map<String, Integer> budget(Map<String, Integer> trainByLanguage) {
        Map<String, Double> w = new LinkedHashMap<>();
        s.languages().forEach(l -> w.put(l, 1 / Math.sqrt(1 + trainByLanguage.getOrDefault(l, 0))));
        double sum = w.values().stream().mapToDouble(Double::doubleValue).sum();
        Map<String, Integer> out = new LinkedHashMap<>();
        w.forEach((l, x) -> out.put(l, Math.max(1, (int) Math.round(s.promptsPerIteration() * x / sum))));
        return out;
    }

    /** A retrained classifier's bundle and the items it was trained on (its calibration split is not among them). */
    private record Retrained(ModelBundle bundle, List<Example> trained) {}

    /**
     * Trains the classifier on {@code items} less a {@link CalibrationSplit} and fits its thresholds on that split for
     * the preset's target false-positive rate, as the shipped default model's were on its dev split: the trainer
     * service's gate compares the candidate with a calibrated model, on the same metrics, and that comparison is
     * only fair at the same kind of operating point (the service sets the preset's target to the active model's).
     * When the split has too few safe items to fit on, the classifier is trained on every item and exported with
     * the default thresholds; the log says so, and the bundle's provenance ({@code data.calibration}).
     */
    private Retrained classifier(Path dir, List<Example> items, List<Example> dev, Path tokenizer, int version)
            throws IOException {
        ClassifierTraining job = ClassifierTraining.builder()
                .preset(s.classifier())
                .from(s.classifierFrom()) // null: the preset's model from scratch
                .work(dir.resolve("classifier"))
                .out(dir.resolve("bundle"))
                .version(Integer.toString(version + 1))
                .activationCheckpointing(s.activationCheckpointing())
                .build();
        CalibrationSplit split = CalibrationSplit.of(items, dev);
        double targetFpr = s.classifier().targetFpr();
        List<Example> train = items;
        List<Example> calibration = List.of();
        if (split.enough()) {
            train = split.train();
            calibration = split.calibration();
            log.printf(
                    "== calibration split: %d items (%d safe) held out of training, thresholds for a %.1f %% "
                            + "false-positive rate; %d more items withheld (generated from or repeating them) ==%n",
                    calibration.size(), split.safe(), 100 * targetFpr, split.withheld());
        } else {
            log.printf(
                    "== NOT CALIBRATED: the calibration split has %d safe items, calibration needs %d; trained on all "
                            + "%d items and exported with the default thresholds (0.5), another operating point than "
                            + "a calibrated model's ==%n",
                    split.safe(), Calibration.Settings.DEFAULTS.minSafe(), items.size());
        }
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("train", train.size());
        summary.put("train_by_language", countByLanguage(train));
        summary.put("synthetic", synthetic(train));
        summary.put("calibration", split.summary(targetFpr));
        return new Retrained(job.trainOn(train, calibration, summary, tokenizer, Map.of(), log), train);
    }

    private static int synthetic(List<Example> items) {
        return (int) items.stream()
                .filter(e -> e.source().equals(CalibrationSplit.SYNTHETIC))
                .count();
    }

    private List<Evaluator.Row> evaluate(Path bundle, List<Example> dev) {
        try (GuardrailModel m = GuardrailModel.load(bundle, ExecutionDevice.CPU, 2, 64)) {
            return new Evaluator(m, 64, 20).run(Map.of("dev", dev), 0).rows();
        }
    }

    private static void saveGenerator(DjlTransformer generator, Path dir) throws IOException {
        Safetensors.write(
                dir.resolve(Safetensors.SINGLE_FILE), generator.toTensors().values(), DType.F32, Map.of());
        Files.writeString(
                dir.resolve("config.json"), generator.config().toJson().toPrettyString());
    }

    private void report(List<Iteration> iterations) throws IOException {
        LoopReport.write(iterations, s, work);
    }

    static Map<String, Integer> countByLanguage(List<Example> items) {
        Map<String, Integer> m = new TreeMap<>();
        items.forEach(e -> m.merge(e.lang(), 1, Integer::sum));
        return m;
    }

    private static List<Example> sample(List<Example> items, int max, Random random) {
        if (items.size() <= max) {
            return items;
        }
        List<Example> copy = new ArrayList<>(items);
        Collections.shuffle(copy, random);
        return copy.subList(0, max);
    }

    static ObjectMapper json() {
        return new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    }
}
