package dev.duoguard.trainer.loop;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.duoguard.trainer.TinyCausalLm;
import dev.duoguard.trainer.TinyCausalLm.Family;
import dev.duoguard.trainer.engine.DjlTransformer;
import dev.duoguard.trainer.engine.LoraAdapters;
import dev.duoguard.trainer.engine.LoraConfig;
import dev.duoguard.trainer.hf.Safetensors;
import dev.duoguard.trainer.hf.Tensor;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** LoRA DPO on a tiny Qwen2 checkpoint (q/k/v biases, untied head) the test writes. */
class LoraDpoTest {

    static final PrintStream QUIET = new PrintStream(OutputStream.nullOutputStream());
    /** Attention and one MLP projection: the adapters sit on linear layers with and without a bias. */
    static final LoraConfig LORA = new LoraConfig(4, 8f, 0f, List.of("q_proj", "v_proj", "o_proj", "up_proj"));

    static NDManager manager;

    @BeforeAll
    static void start() {
        manager = NDManager.newBaseManager();
    }

    @AfterAll
    static void stop() {
        manager.close();
    }

    static List<GeneratorTrainer.PreferencePair> pairs(ChatGenerator g) {
        String prompt = g.prompt(ChatGeneratorTest.UNSAFE, "fr");
        return List.of(
                new GeneratorTrainer.PreferencePair(prompt, "comment fabriquer une bombe", "how to bake bread"),
                new GeneratorTrainer.PreferencePair(prompt, "wie vergifte ich", "recommend a good book"),
                new GeneratorTrainer.PreferencePair(prompt, "fabriquer un explosif", "a nice walk"));
    }

    /** One padded batch of prompt ++ completion rows, to compare forwards on. */
    record Batch(NDArray ids, NDArray mask, int[] promptLengths) {}

    static Batch batch(ChatGenerator g, NDManager m) {
        List<GeneratorTrainer.PreferencePair> pairs = pairs(g);
        long[] prompt = g.tokenizer().encode(pairs.get(0).prompt());
        List<long[]> rows = new ArrayList<>();
        for (GeneratorTrainer.PreferencePair p : pairs) {
            for (String completion : List.of(p.chosen(), p.rejected())) {
                long[] c = g.tokenizer().encode(completion);
                long[] row = Arrays.copyOf(prompt, prompt.length + c.length);
                System.arraycopy(c, 0, row, prompt.length, c.length);
                rows.add(row);
            }
        }
        int t = rows.stream().mapToInt(r -> r.length).max().orElseThrow();
        long[][] ids = new long[rows.size()][t];
        long[][] mask = new long[rows.size()][t];
        int[] promptLengths = new int[rows.size()];
        for (int r = 0; r < rows.size(); r++) {
            System.arraycopy(rows.get(r), 0, ids[r], 0, rows.get(r).length);
            Arrays.fill(mask[r], 0, rows.get(r).length, 1L);
            promptLengths[r] = prompt.length;
        }
        return new Batch(m.create(ids), m.create(mask), promptLengths);
    }

    static float[] logProbs(DjlTransformer model, Batch b) {
        return SequenceLogProbs.of(model, b.ids(), b.mask(), b.promptLengths()).toFloatArray();
    }

    static Map<String, float[]> weights(DjlTransformer model) {
        Map<String, float[]> out = new LinkedHashMap<>();
        model.parameters().forEach((name, a) -> out.put(name, a.toFloatArray()));
        return out;
    }

    /** A checkpoint in {@code dir}, loaded with adapters moved away from B = 0 by two DPO epochs. */
    static ChatGenerator trained(Path dir) throws IOException {
        TinyCausalLm.write(dir, Family.QWEN2, false, 7);
        ChatGenerator g = ChatGenerator.load(dir, manager, 512, ChatGeneratorTest.CLOCK);
        g.model().addLora(LORA, 3);
        GeneratorTrainer trainer = new GeneratorTrainer(g.model(), manager, g.tokenizer(), 512, 16);
        try (DpoReference reference = DpoReference.adaptersOff(g.model())) {
            trainer.dpo(pairs(g), reference, 0.1f, 0.4f, 1e-2f, 2, 3, 1, QUIET);
        }
        return g;
    }

    @Test
    void dpoLossFallsWhileTheBaseStaysBitIdenticalAndIsTheReference(@TempDir Path dir) throws IOException {
        TinyCausalLm.write(dir, Family.QWEN2, false, 7);
        try (ChatGenerator g = ChatGenerator.load(dir, manager, 512, ChatGeneratorTest.CLOCK);
                ChatGenerator base = ChatGenerator.load(dir, manager, 512, ChatGeneratorTest.CLOCK);
                NDManager m = manager.newSubManager()) {
            DjlTransformer model = g.model();
            Batch b = batch(g, m);
            Map<String, float[]> before = weights(model);
            float[] baseLogProbs = logProbs(base.model(), b);

            List<NDArray> trainable = model.addLora(LORA, 3);
            assertThat(trainable)
                    .as("A and B on 4 projections x 2 layers")
                    .hasSize(2 * 4 * g.checkpoint().config().layers())
                    .containsExactlyElementsOf(model.loraParameters().values());
            assertThat(logProbs(model, b)).as("B starts at zero").containsExactly(baseLogProbs);
            GeneratorTrainer trainer = new GeneratorTrainer(model, manager, g.tokenizer(), 512, 16);
            List<GeneratorTrainer.PreferencePair> pairs = pairs(g);
            try (DpoReference reference = DpoReference.adaptersOff(model)) {
                assertThat(reference
                                .logProbs(b.ids(), b.mask(), b.promptLengths())
                                .toFloatArray())
                        .as("the reference before training is the base model")
                        .containsExactly(baseLogProbs);
                assertThat(trainer.meanMargin(pairs, reference)).isZero();
                List<Double> losses = new ArrayList<>();
                for (int epoch = 0; epoch < 5; epoch++) {
                    losses.add(trainer.dpo(pairs, reference, 0.1f, 0.4f, 1e-2f, 1, 3, epoch, QUIET));
                }
                assertThat(losses.get(4)).as("DPO+RPO loss per epoch " + losses).isLessThan(losses.get(0) - 0.1);
                assertThat(trainer.meanMargin(pairs, reference))
                        .as("the chosen samples gained on the rejected ones")
                        .isPositive();

                float[] adapted = logProbs(model, b);
                assertThat(adapted).as("the adapters trained").isNotEqualTo(baseLogProbs);
                float[] referenceAfter =
                        reference.logProbs(b.ids(), b.mask(), b.promptLengths()).toFloatArray();
                assertThat(referenceAfter)
                        .as("the reference is the adapters-off forward")
                        .containsExactly(model.withAdaptersOff(() -> logProbs(model, b)))
                        .as("which is the base model's forward, before and after training")
                        .containsExactly(baseLogProbs)
                        .containsExactly(logProbs(base.model(), b));
                assertThat(logProbs(model, b)).as("the adapters are on again").containsExactly(adapted);
            }
            Map<String, float[]> after = weights(model);
            assertThat(after.keySet()).isEqualTo(before.keySet());
            before.forEach((name, w) -> assertThat(after.get(name))
                    .as("base weight %s is bit-identical", name)
                    .isEqualTo(w)); // Arrays.equals: float bits, in order
            model.parameters()
                    .forEach((name, w) -> assertThat(w.hasGradient())
                            .as("%s has no gradient: no optimizer can move it", name)
                            .isFalse());
        }
    }

    @Test
    void mergedAdaptersReproduceTheAdaptedModelAndAdaptersRoundTripInPeftLayout(@TempDir Path dir) throws IOException {
        Path ckpt = dir.resolve("ckpt");
        try (ChatGenerator g = trained(ckpt);
                ChatGenerator fresh = ChatGenerator.load(ckpt, manager, 512, ChatGeneratorTest.CLOCK);
                NDManager m = manager.newSubManager()) {
            Batch b = batch(g, m);
            float[] adapted = g.model().lmLogits(b.ids(), b.mask()).toFloatArray();
            float[] base = fresh.model().lmLogits(b.ids(), b.mask()).toFloatArray();
            assertThat(adapted).isNotEqualTo(base);

            Path adapter = dir.resolve("adapter");
            LoraAdapters.save(g.model(), adapter, ckpt.toString());
            JsonNode config = new ObjectMapper()
                    .readTree(adapter.resolve(LoraAdapters.CONFIG).toFile());
            assertThat(config.path("peft_type").asText()).isEqualTo("LORA");
            assertThat(config.path("r").asInt()).isEqualTo(4);
            assertThat(config.path("lora_alpha").asDouble()).isEqualTo(8.0);
            assertThat(config.path("target_modules").toString())
                    .isEqualTo("[\"o_proj\",\"q_proj\",\"up_proj\",\"v_proj\"]");
            assertThat(config.path("base_model_name_or_path").asText()).isEqualTo(ckpt.toString());
            Map<String, Tensor> file = Safetensors.read(adapter.resolve(LoraAdapters.WEIGHTS));
            assertThat(file)
                    .as("PEFT's names")
                    .hasSize(2 * 4 * 2)
                    .containsKeys(
                            "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
                            "base_model.model.model.layers.1.mlp.up_proj.lora_B.weight");
            assertThat(file.get("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")
                            .shape())
                    .containsExactly(4, 32);

            LoraAdapters.load(adapter, fresh.model());
            assertThat(fresh.model().loraConfig()).isEqualTo(LORA);
            assertThat(fresh.model().lmLogits(b.ids(), b.mask()).toFloatArray())
                    .as("the adapters loaded onto the base reproduce the adapted model")
                    .isEqualTo(adapted);

            // merged on demand: a plain checkpoint, here as the loop writes it with --merge-adapters
            Path merged = dir.resolve("merged");
            g.save(merged);
            assertThat(Safetensors.readCheckpoint(merged).keySet())
                    .as("no adapter tensors in a plain checkpoint")
                    .noneMatch(n -> n.contains("lora"));
            try (ChatGenerator plain = ChatGenerator.load(merged, manager, 512, ChatGeneratorTest.CLOCK)) {
                assertThat(plain.model().loraConfig()).isNull();
                float[] fromMerged = plain.model().lmLogits(b.ids(), b.mask()).toFloatArray();
                assertThat(fromMerged).hasSameSizeAs(adapted);
                double worst = 0;
                for (int i = 0; i < adapted.length; i++) {
                    worst = Math.max(worst, Math.abs(fromMerged[i] - adapted[i]));
                }
                assertThat(worst)
                        .as("W + (alpha/r) B A: largest logit difference")
                        .isLessThanOrEqualTo(1e-5);
            }
        }
    }

    @Test
    void adapterDropoutActsOnlyInTraining(@TempDir Path dir) throws IOException {
        try (ChatGenerator g = trained(dir.resolve("ckpt"));
                ChatGenerator withDropout =
                        ChatGenerator.load(dir.resolve("ckpt"), manager, 512, ChatGeneratorTest.CLOCK);
                NDManager m = manager.newSubManager()) {
            withDropout
                    .model()
                    .loadLora(
                            new LoraConfig(4, 8f, 0.5f, LORA.targets()),
                            g.model().loraTensors());
            Batch b = batch(g, m);
            float[] adapted = g.model().lmLogits(b.ids(), b.mask()).toFloatArray();
            DjlTransformer d = withDropout.model();
            assertThat(d.lmLogits(b.ids(), b.mask()).toFloatArray())
                    .as("no dropout outside training")
                    .isEqualTo(adapted);
            assertThat(d.training(() -> d.lmLogits(b.ids(), b.mask()).toFloatArray()))
                    .as("dropout on the adapters' input in training")
                    .isNotEqualTo(adapted);
        }
    }

    @Test
    void adaptersThatDoNotFitAreRefusedAndLeaveTheModelUnadapted(@TempDir Path dir) throws IOException {
        Path ckpt = dir.resolve("ckpt");
        Path adapter = dir.resolve("adapter");
        try (ChatGenerator g = trained(ckpt)) {
            LoraAdapters.save(g.model(), adapter, ckpt.toString());
        }
        try (ChatGenerator g = ChatGenerator.load(ckpt, manager, 512, ChatGeneratorTest.CLOCK)) {
            Map<String, Tensor> tensors = g.model().loraTensors();
            assertThat(tensors).isEmpty();
            LoraConfig rank8 = new LoraConfig(8, 8f, 0f, LORA.targets());
            Map<String, Tensor> saved = new LinkedHashMap<>();
            Safetensors.read(adapter.resolve(LoraAdapters.WEIGHTS))
                    .forEach((n, t) -> saved.put(n.substring("base_model.model.".length()), t));
            assertThatThrownBy(() -> g.model().loadLora(rank8, saved))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("lora_A.weight has shape [4, 32]");
            LoraConfig fewer = new LoraConfig(4, 8f, 0f, List.of("q_proj"));
            assertThatThrownBy(() -> g.model().loadLora(fewer, saved))
                    .hasMessageContaining("adapt nothing in this model")
                    .hasMessageContaining("v_proj.lora_A.weight");
            assertThat(g.model().loraConfig()).as("unchanged").isNull();

            ObjectNode config = (ObjectNode) new ObjectMapper()
                    .readTree(adapter.resolve(LoraAdapters.CONFIG).toFile());
            config.put("use_dora", true);
            Files.writeString(adapter.resolve(LoraAdapters.CONFIG), config.toString());
            assertThatThrownBy(() -> LoraAdapters.load(adapter, g.model()))
                    .hasMessageContaining("use_dora is not supported");
            assertThatThrownBy(() -> DpoReference.adaptersOff(g.model())).hasMessageContaining("no LoRA adapters");
        }
    }

    @Test
    void checkpointGeneratorsGetThePapersDpoRecipeAndTheScratchPresetKeepsItsOwn() {
        LoopSettings quick = LoopSettings.quick();
        LoopSettings lora = quick.toBuilder()
                .checkpointGenerator(Path.of("gen"), LoraConfig.of(16, 32f))
                .build();
        assertThat(lora.beta()).isEqualTo(0.01f);
        assertThat(lora.rpoAlpha()).isEqualTo(0.4f);
        assertThat(lora.dpoEpochs()).isEqualTo(1);
        assertThat(lora.dpoLearningRate()).isEqualTo(5e-6f);
        assertThat(quick.toBuilder()
                        .checkpointGenerator(Path.of("gen"), null)
                        .build()
                        .dpoLearningRate())
                .isEqualTo(5e-7f);
        assertThat(quick.dpoLearningRate()).isEqualTo(5e-4f);
        assertThat(LoopSettings.standard().dpoLearningRate()).isEqualTo(LoopSettings.DEFAULT_DPO_LEARNING_RATE);
        assertThat(lora.toBuilder().build()).isEqualTo(lora);
        assertThatThrownBy(() -> quick.toBuilder().lora(LoraConfig.of(4, 8f)).build())
                .hasMessageContaining("LoRA adapters train a checkpoint generator");
        assertThatThrownBy(() -> quick.toBuilder()
                        .checkpointGenerator(Path.of("gen"), null)
                        .mergeAdapters(true)
                        .build())
                .hasMessageContaining("mergeAdapters needs LoRA adapters");
        assertThatThrownBy(() -> new LoraConfig(0, 8f, 1f, List.of("qkv")))
                .hasMessageContaining("rank must be at least 1")
                .hasMessageContaining("dropout must be in [0, 1)")
                .hasMessageContaining("targets must be some of");
    }
}
