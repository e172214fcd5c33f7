package dev.duoguard.trainer.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.duoguard.trainer.EncoderReference;
import dev.duoguard.trainer.hf.DType;
import dev.duoguard.trainer.hf.EncoderConfig;
import dev.duoguard.trainer.hf.Safetensors;
import dev.duoguard.trainer.hf.Tensor;
import dev.duoguard.trainer.train.MultiLabelLoss;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link DjlEncoder} on tiny Hugging Face checkpoints the test writes itself (config.json + model.safetensors),
 * against {@link EncoderReference}; checkpoint naming variants and refusals; new heads; freezing; GELU.
 */
class DjlEncoderTest {

    static final double TOLERANCE = 1e-4;
    static final ObjectMapper JSON = new ObjectMapper();
    static NDManager manager;

    @TempDir
    Path dir;

    @BeforeAll
    static void engine() {
        manager = NDManager.newBaseManager();
    }

    @AfterAll
    static void close() {
        manager.close();
    }

    /** A tiny config.json: 16 wide, 4 heads; XLM-R's position table holds exactly 7 tokens after its pad + 1 offset. */
    static ObjectNode configJson(String type, int layers, int labels) {
        boolean bert = type.equals("bert");
        ObjectNode o = JSON.createObjectNode();
        o.put("model_type", type);
        o.put("vocab_size", 60);
        o.put("hidden_size", 16);
        o.put("num_hidden_layers", layers);
        o.put("num_attention_heads", 4);
        o.put("intermediate_size", 24);
        o.put("hidden_act", "gelu");
        o.put("max_position_embeddings", bert ? 12 : 9);
        o.put("type_vocab_size", bert ? 2 : 1);
        o.put("layer_norm_eps", bert ? 1e-12 : 1e-5);
        o.put("pad_token_id", bert ? 0 : 1);
        if (labels > 0) {
            ObjectNode id2label = o.putObject("id2label");
            for (int i = 0; i < labels; i++) {
                id2label.put(Integer.toString(i), "LABEL_" + i);
            }
        }
        return o;
    }

    /** Weights large enough that every block visibly changes its input (Hugging Face's 0.02 would not). */
    static Map<String, Tensor> randomWeights(EncoderConfig c, long seed) {
        Random r = new Random(seed);
        Map<String, Tensor> t = new LinkedHashMap<>();
        c.layout().forEach((name, shape) -> {
            float[] v = new float[(int) Tensor.numel(shape)];
            boolean norm = name.contains("LayerNorm.weight");
            for (int i = 0; i < v.length; i++) {
                double g = r.nextGaussian();
                v[i] = (float) (norm ? 1 + 0.2 * g : name.endsWith(".bias") ? 0.2 * g : 0.5 * g);
            }
            t.put(name, new Tensor(name, shape, v));
        });
        return t;
    }

    void write(ObjectNode config, Map<String, Tensor> tensors) throws Exception {
        Files.createDirectories(dir);
        JSON.writeValue(dir.resolve("config.json").toFile(), config);
        Safetensors.writeCheckpoint(dir, tensors, DType.F32, Long.MAX_VALUE);
    }

    static final int[] LENGTHS = {7, 4, 1};

    /** Right-padded rows of LENGTHS with ids in [2, 60), pad ids after them. */
    static long[][][] batch(EncoderConfig c, long seed) {
        Random r = new Random(seed);
        long[][] ids = new long[LENGTHS.length][7];
        long[][] mask = new long[LENGTHS.length][7];
        for (int b = 0; b < LENGTHS.length; b++) {
            Arrays.fill(ids[b], c.padTokenId());
            for (int t = 0; t < LENGTHS[b]; t++) {
                ids[b][t] = 2 + r.nextInt(58);
                mask[b][t] = 1;
            }
        }
        return new long[][][] {ids, mask};
    }

    @ParameterizedTest
    @ValueSource(strings = {"bert", "xlm-roberta"})
    void huggingFaceSequenceClassifierCheckpointMatchesTheReference(String type) throws Exception {
        EncoderConfig c = EncoderConfig.parse(configJson(type, 2, 3));
        Map<String, Tensor> weights = randomWeights(c, 11);
        Map<String, Tensor> file = new LinkedHashMap<>(weights);
        // Tensors Hugging Face checkpoints carry that these classifiers do not use: ignored.
        file.put("lm_head.bias", new Tensor("lm_head.bias", new long[] {60}, new float[60]));
        write(configJson(type, 2, 3), file);
        assertThat(c.headLayout())
                .containsKey(type.equals("bert") ? "bert.pooler.dense.weight" : "classifier.out_proj.weight");

        EncoderReference ref = new EncoderReference(c, weights);
        long[][][] batch = batch(c, 5);
        try (DjlEncoder m = DjlEncoder.load(dir, manager);
                NDManager b = manager.newSubManager()) {
            assertThat(m.config()).isEqualTo(c);
            NDArray ids = b.create(batch[0]);
            NDArray mask = b.create(batch[1]);
            float[] logits = m.classify(ids, mask).toFloatArray();
            float[] hidden = m.hidden(ids, mask).toFloatArray();
            double maxDiff = 0;
            for (int row = 0; row < LENGTHS.length; row++) {
                long[] real = Arrays.copyOf(batch[0][row], LENGTHS[row]);
                double[] want = ref.logits(real);
                for (int l = 0; l < 3; l++) {
                    maxDiff = Math.max(maxDiff, Math.abs(logits[row * 3 + l] - want[l]));
                }
                double[][] h = ref.hidden(real);
                for (int t = 0; t < real.length; t++) {
                    for (int j = 0; j < 16; j++) {
                        maxDiff = Math.max(maxDiff, Math.abs(hidden[(row * 7 + t) * 16 + j] - h[t][j]));
                    }
                }
            }
            System.out.printf("%s tiny checkpoint: DJL vs reference max abs diff %.3g%n", type, maxDiff);
            assertThat(maxDiff).isLessThan(TOLERANCE);
            assertThat(Math.abs(logits[0] - logits[3]))
                    .as("rows differ: the test can fail")
                    .isGreaterThan(1e-3f);
        }
    }

    @Test
    void meanPoolingHeadMatchesTheReference() throws Exception {
        EncoderConfig c =
                EncoderConfig.parse(configJson("bert", 2, 3)).withClassifierHead(3, EncoderConfig.Pooling.MEAN);
        Map<String, Tensor> weights = randomWeights(c, 12);
        EncoderReference ref = new EncoderReference(c, weights);
        long[][][] batch = batch(c, 6);
        try (DjlEncoder m = DjlEncoder.fromTensors(c, weights, manager);
                NDManager b = manager.newSubManager()) {
            float[] logits = m.classify(b.create(batch[0]), b.create(batch[1])).toFloatArray();
            for (int row = 0; row < LENGTHS.length; row++) {
                double[] want = ref.logits(Arrays.copyOf(batch[0][row], LENGTHS[row]));
                for (int l = 0; l < 3; l++) {
                    assertThat((double) logits[row * 3 + l]).isCloseTo(want[l], within(TOLERANCE));
                }
            }
        }
    }

    /** BertModel checkpoints without the {@code bert.} prefix, with TF-era {@code gamma}/{@code beta}: same model. */
    @Test
    void baseModelNamingAndGammaBetaLoadAsTheSameModel() throws Exception {
        EncoderConfig c = EncoderConfig.parse(configJson("bert", 2, 3));
        Map<String, Tensor> weights = randomWeights(c, 13);
        Map<String, Tensor> renamed = new LinkedHashMap<>();
        weights.forEach((name, t) -> {
            String n = name.startsWith("bert.") ? name.substring(5) : name;
            n = n.contains("LayerNorm.") ? n.replace(".weight", ".gamma").replace(".bias", ".beta") : n;
            renamed.put(n, new Tensor(n, t.shape(), t.data()));
        });
        assertThat(renamed)
                .containsKeys(
                        "embeddings.LayerNorm.gamma",
                        "encoder.layer.1.output.LayerNorm.beta",
                        "pooler.dense.weight",
                        "classifier.weight");
        write(configJson("bert", 2, 3), renamed);
        try (DjlEncoder m = DjlEncoder.load(dir, manager)) {
            m.toTensors()
                    .forEach((name, t) -> assertThat(t.data())
                            .as(name)
                            .isEqualTo(weights.get(name).data()));
        }
        Map<String, Tensor> both = new LinkedHashMap<>(renamed);
        both.put("bert.embeddings.LayerNorm.weight", weights.get("bert.embeddings.LayerNorm.weight"));
        assertThatThrownBy(() -> DjlEncoder.fromTensors(c, both, manager))
                .hasMessageContaining("bert.embeddings.LayerNorm.weight twice");
    }

    @Test
    void newHeadKeepsThePretrainedPoolerAndReplacesAnOutputLayerOfAnotherSize() throws Exception {
        EncoderConfig twoWay = EncoderConfig.parse(configJson("bert", 2, 2));
        Map<String, Tensor> weights = randomWeights(twoWay, 14);
        write(configJson("bert", 2, 2), weights);
        try (DjlEncoder m = DjlEncoder.forFineTuning(dir, 12, EncoderConfig.Pooling.CLS, manager, 9);
                DjlEncoder again = DjlEncoder.forFineTuning(dir, 12, EncoderConfig.Pooling.CLS, manager, 9);
                DjlEncoder other = DjlEncoder.forFineTuning(dir, 12, EncoderConfig.Pooling.CLS, manager, 10)) {
            Map<String, Tensor> t = m.toTensors();
            assertThat(t.get("bert.pooler.dense.weight").data())
                    .isEqualTo(weights.get("bert.pooler.dense.weight").data());
            assertThat(t.get("classifier.weight").shape()).containsExactly(12, 16);
            assertThat(t.get("classifier.bias").data()).containsOnly(0f);
            float[] w = t.get("classifier.weight").data();
            double sq = 0;
            for (float v : w) {
                sq += v * v;
            }
            assertThat(Math.sqrt(sq / w.length)).as("normal(0, 0.02)").isBetween(0.015, 0.025);
            assertThat(again.toTensors().get("classifier.weight").data()).isEqualTo(w);
            assertThat(other.toTensors().get("classifier.weight").data()).isNotEqualTo(w);
        }
        // A mis-shaped tensor outside the output layer is not silently replaced.
        EncoderConfig twelve = twoWay.withClassifierHead(12, EncoderConfig.Pooling.CLS);
        Map<String, Tensor> badPooler = new LinkedHashMap<>(weights);
        badPooler.put("bert.pooler.dense.bias", new Tensor("bert.pooler.dense.bias", new long[] {8}, new float[8]));
        assertThatThrownBy(() -> DjlEncoder.withNewHead(twelve, badPooler, 1))
                .hasMessageContaining("bert.pooler.dense.bias has shape [8] but the head needs [16]");
    }

    @Test
    void missingMisShapedAndMisPrefixedTensorsAreRefusedByName() {
        EncoderConfig c = EncoderConfig.parse(configJson("bert", 2, 3));
        Map<String, Tensor> weights = randomWeights(c, 15);

        Map<String, Tensor> missing = new LinkedHashMap<>(weights);
        missing.remove("bert.encoder.layer.1.output.dense.bias");
        assertThatThrownBy(() -> DjlEncoder.fromTensors(c, missing, manager))
                .hasMessageContaining("missing tensor bert.encoder.layer.1.output.dense.bias (expected shape [16])");

        Map<String, Tensor> shaped = new LinkedHashMap<>(weights);
        shaped.put(
                "bert.encoder.layer.0.intermediate.dense.weight",
                new Tensor("bert.encoder.layer.0.intermediate.dense.weight", new long[] {16, 24}, new float[16 * 24]));
        assertThatThrownBy(() -> DjlEncoder.fromTensors(c, shaped, manager))
                .hasMessageContaining(
                        "bert.encoder.layer.0.intermediate.dense.weight has shape [16, 24] but the config expects [24, 16]");

        EncoderConfig roberta = EncoderConfig.parse(configJson("xlm-roberta", 2, 3));
        assertThatThrownBy(() -> DjlEncoder.fromTensors(roberta, weights, manager))
                .hasMessageContaining("missing tensor roberta.embeddings.word_embeddings.weight")
                .hasMessageContaining("expects prefix 'roberta.'");

        Map<String, Tensor> headless = new LinkedHashMap<>(weights);
        headless.keySet().removeIf(n -> n.startsWith("classifier.") || n.startsWith("bert.pooler."));
        assertThatThrownBy(() -> DjlEncoder.fromTensors(c, headless, manager))
                .hasMessageContaining("DjlEncoder.withNewHead");
    }

    @Test
    void rowsLongerThanThePositionTableAreRefused() {
        EncoderConfig c = EncoderConfig.parse(configJson("xlm-roberta", 1, 3));
        assertThat(c.maxUsableTokens()).isEqualTo(7);
        try (DjlEncoder m = DjlEncoder.random(c, manager, 1);
                NDManager b = manager.newSubManager()) {
            assertThat(m.hidden(b.ones(new Shape(1, 7), DataType.INT64), b.ones(new Shape(1, 7), DataType.INT64))
                            .getShape()
                            .get(1))
                    .isEqualTo(7);
            assertThatThrownBy(() ->
                            m.hidden(b.ones(new Shape(1, 8), DataType.INT64), b.ones(new Shape(1, 8), DataType.INT64)))
                    .hasMessageContaining("rows of 8 tokens exceed the encoder's 7 positions");
        }
    }

    /** Exact GELU x Phi(x) (values from erf); the tanh approximation is off by 1.5e-4 to 4e-4 at |x| = 1, 2, 3. */
    @Test
    void geluIsTheExactErfFormOnHandComputedValues() {
        double[][] cases = {
            {-3, -0.00404969409489031},
            {-1, -0.15865525393145707},
            {-0.5, -0.15426876936299344},
            {0, 0},
            {0.5, 0.34573123063700656},
            {1, 0.8413447460685429},
            {2, 1.9544997361036416},
            {3, 2.99595030590511}
        };
        float[] x = new float[cases.length];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) cases[i][0];
        }
        try (NDManager b = manager.newSubManager()) {
            float[] y = DjlEncoder.gelu(b.create(x)).toFloatArray();
            for (int i = 0; i < x.length; i++) {
                assertThat((double) y[i]).as("gelu(%s)", x[i]).isCloseTo(cases[i][1], within(2e-6));
                assertThat(EncoderReference.gelu(x[i])).isCloseTo(cases[i][1], within(1e-9));
            }
        }
    }

    @Test
    void topLayersSelectsTheHeadAndTheTopLayersOnly() {
        EncoderConfig c = EncoderConfig.parse(configJson("bert", 4, 3));
        Predicate<String> top2 = DjlEncoder.topLayers(c, 2);
        assertThat(c.layout().keySet().stream().filter(top2).count()).isEqualTo(2 * 16 + 4);
        assertThat(top2)
                .accepts(
                        "bert.pooler.dense.weight",
                        "classifier.bias",
                        "bert.encoder.layer.2.attention.self.query.weight",
                        "bert.encoder.layer.3.output.LayerNorm.bias");
        assertThat(top2)
                .rejects(
                        "bert.embeddings.word_embeddings.weight",
                        "bert.embeddings.LayerNorm.weight",
                        "bert.encoder.layer.1.output.dense.weight",
                        "bert.encoder.layer.0.attention.self.key.bias");
        assertThat(c.layout().keySet().stream()
                        .filter(DjlEncoder.topLayers(c, 0))
                        .toList())
                .containsExactlyInAnyOrderElementsOf(c.headLayout().keySet());
        assertThatThrownBy(() -> DjlEncoder.topLayers(c, 5)).hasMessageContaining("top 0..4 layers, not 5");
    }

    @Test
    void trainingTopTwoLayersChangesOnlyThemAndLowersTheLoss() {
        EncoderConfig c = EncoderConfig.parse(configJson("bert", 4, 3));
        Predicate<String> top2 = DjlEncoder.topLayers(c, 2);
        long[][][] batch = batch(c, 7);
        try (DjlEncoder m = DjlEncoder.random(c, manager, 3);
                NDManager b = manager.newSubManager()) {
            List<NDArray> trainable = m.trainable(top2);
            assertThat(trainable).hasSize(2 * 16 + 4);
            NDArray ids = b.create(batch[0]);
            NDArray mask = b.create(batch[1]);
            NDArray positive = b.create(new float[][] {{1, 0, 0}, {0, 0, 0}, {0, 1, 1}});
            NDArray unknown = b.create(new float[] {0, 0, 0});
            Map<String, float[]> before = snapshot(m);
            TrainingStep training = TrainingStep.sgd(trainable);
            double first = step(m, training, ids, mask, positive, unknown);
            Map<String, float[]> after = snapshot(m);
            // The key bias adds the same q.b_k to every score of a query row, which softmax ignores: its gradient is
            // zero in exact arithmetic, so it may or may not move by rounding. Every other trainable tensor must move.
            before.forEach((name, v) -> {
                boolean changed = !Arrays.equals(v, after.get(name));
                if (!top2.test(name)) {
                    assertThat(changed).as("frozen %s changed", name).isFalse();
                } else if (!name.endsWith("attention.self.key.bias")) {
                    assertThat(changed).as("trainable %s changed", name).isTrue();
                }
            });
            double last = first;
            for (int s = 0; s < 15; s++) {
                last = step(m, training, ids, mask, positive, unknown);
            }
            System.out.printf("tiny encoder, top 2 of 4 layers: loss %.4f -> %.4f%n", first, last);
            assertThat(last).isLessThan(first * 0.8);
            // Frozen parameters are still where they started after all steps.
            Map<String, float[]> end = snapshot(m);
            before.forEach((name, v) -> {
                if (!top2.test(name)) {
                    assertThat(end.get(name)).as(name).isEqualTo(v);
                }
            });
        }
    }

    /** One SGD step (lr 0.5) on the trainer's multi-label loss, which must be applied; returns the loss before it. */
    static double step(
            DjlEncoder m, TrainingStep training, NDArray ids, NDArray mask, NDArray positive, NDArray unknown) {
        TrainingStep.Result r =
                training.step(() -> MultiLabelLoss.loss(m.classify(ids, mask), positive, unknown), 0.5f);
        assertThat(r.outcome()).as("step outcome").isEqualTo(TrainingStep.Outcome.APPLIED);
        return r.loss();
    }

    static Map<String, float[]> snapshot(DjlEncoder m) {
        Map<String, float[]> out = new LinkedHashMap<>();
        m.parameters().forEach((name, a) -> out.put(name, a.toFloatArray()));
        return out;
    }
}
