package dev.duoguard.trainer.engine;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.duoguard.trainer.hf.TransformerConfig;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link DjlTransformer#checkpoint}: the gradients of a loss through the recomputed layers are those of the plain
 * forward's backward pass, for a model trained in full (embedding, tied or untied head, biases, GQA) and for LoRA
 * adapters with dropout (the recompute draws the masks the first pass drew).
 */
class ActivationCheckpointTest {

    static NDManager manager;

    @BeforeAll
    static void start() {
        manager = NDManager.newBaseManager();
    }

    @AfterAll
    static void stop() {
        manager.close();
    }

    /** A padded batch, a loss through the LM head, and the model's trainable arrays. */
    record Case(DjlTransformer model, List<NDArray> trainable, NDArray ids, NDArray mask, NDArray weights) {

        /** Σ log-softmax(head(hidden)) · weights: every position and vocabulary entry gets a gradient. */
        NDArray loss(NDArray hidden) {
            return loss(hidden, 0, (int) ids.getShape().get(0));
        }

        /** {@link #loss(NDArray)} of rows [from, to) from their hidden states. */
        NDArray loss(NDArray hidden, int from, int to) {
            return model.lmHead(hidden)
                    .logSoftmax(2)
                    .mul(weights.get(from + ":" + to))
                    .sum();
        }
    }

    static Case make(String kind, boolean lora, NDManager m) {
        TransformerConfig c = DjlTransformerTest.config(kind);
        DjlTransformer model = DjlTransformer.random(c, m, false, true, 11);
        List<NDArray> trainable;
        if (lora) {
            trainable =
                    model.addLora(new LoraConfig(4, 8f, 0.3f, List.of("q_proj", "v_proj", "o_proj", "down_proj")), 3);
            // B starts at zero, which would leave every A without a gradient: move it
            Random r = new Random(5);
            Gradients.withoutGrad(() -> model.loraParameters().forEach((name, a) -> {
                if (name.endsWith("lora_B.weight")) {
                    float[] v = new float[(int) a.size()];
                    for (int i = 0; i < v.length; i++) {
                        v[i] = (float) (r.nextGaussian() * 0.1);
                    }
                    a.addi(m.create(v, a.getShape()));
                }
            }));
        } else {
            trainable = model.trainable(name -> true);
        }
        Random r = new Random(9);
        int b = 3;
        int t = 7;
        long[][] ids = new long[b][t];
        long[][] mask = new long[b][t];
        for (int row = 0; row < b; row++) {
            int real = t - 2 * row; // right padding of 0, 2 and 4 tokens
            for (int pos = 0; pos < t; pos++) {
                ids[row][pos] = pos < real ? r.nextInt(c.vocabSize()) : 0;
                mask[row][pos] = pos < real ? 1 : 0;
            }
        }
        float[] w = new float[b * t * c.vocabSize()];
        for (int i = 0; i < w.length; i++) {
            w[i] = r.nextFloat();
        }
        return new Case(model, trainable, m.create(ids), m.create(mask), m.create(w, new Shape(b, t, c.vocabSize())));
    }

    /** Loss and gradients (by array index in {@code trainable}) of one backward pass; gradients zeroed after. */
    static Map<String, float[]> gradients(Case k, Function<GradientCollector, Float> pass) {
        Map<String, float[]> out = new LinkedHashMap<>();
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            out.put("loss", new float[] {pass.apply(gc)});
        }
        for (int i = 0; i < k.trainable().size(); i++) {
            out.put("param " + i, k.trainable().get(i).getGradient().toFloatArray());
        }
        Gradients.zero(k.trainable());
        return out;
    }

    static Map<String, float[]> plain(Case k, long[] seeds) {
        return gradients(
                k,
                gc -> k.model()
                        .training(() -> k.model().withLayerSeeds(seeds, () -> {
                            NDArray loss = k.loss(k.model().hidden(k.ids(), k.mask()));
                            gc.backward(loss);
                            return loss.getFloat();
                        })));
    }

    static void assertClose(Map<String, float[]> got, Map<String, float[]> want) {
        assertThat(got.keySet()).isEqualTo(want.keySet());
        want.forEach((name, w) -> {
            float[] g = got.get(name);
            double scale = 0;
            double worst = 0;
            for (int i = 0; i < w.length; i++) {
                scale = Math.max(scale, Math.abs(w[i]));
                worst = Math.max(worst, Math.abs(g[i] - w[i]));
            }
            assertThat(scale).as("%s has a gradient to compare", name).isPositive();
            assertThat(worst / scale)
                    .as("%s: largest difference relative to the largest value", name)
                    .isLessThan(1e-5);
        });
    }

    @ParameterizedTest
    @ValueSource(strings = {"gqa-bias-tied", "llama3"})
    void aModelTrainedInFullGetsThePlainGradients(String kind) {
        try (NDManager m = manager.newSubManager()) {
            Case k = make(kind, false, m);
            long[][] seeds = new long[1][];
            Map<String, float[]> checkpointed = gradients(
                    k,
                    gc -> k.model().training(() -> {
                        DjlTransformer.Checkpoint pass = k.model().checkpoint(k.ids(), k.mask());
                        seeds[0] = pass.seeds();
                        NDArray loss = k.loss(pass.hidden(0, pass.rows()));
                        gc.backward(loss);
                        pass.backward();
                        return loss.getFloat();
                    }));
            assertThat(seeds[0]).as("no dropout, no seeds").isNull();
            assertThat(k.trainable())
                    .as("embedding, norms, projections, biases and head all train")
                    .hasSize(k.model().parameters().size());
            assertClose(checkpointed, plain(k, null));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"gqa-bias-tied", "llama3"})
    void loraAdaptersWithDropoutGetThePlainGradientsOfTheSameMasks(String kind) {
        try (NDManager m = manager.newSubManager()) {
            Case k = make(kind, true, m);
            long[][] seeds = new long[1][];
            Map<String, float[]> checkpointed = gradients(
                    k,
                    gc -> k.model().training(() -> {
                        // the head chunked by rows, as the generator's trainer does for a large vocabulary
                        DjlTransformer.Checkpoint pass = k.model().checkpoint(k.ids(), k.mask());
                        seeds[0] = pass.seeds();
                        NDArray loss = k.loss(pass.hidden(0, 2), 0, 2).add(k.loss(pass.hidden(2, 3), 2, 3));
                        gc.backward(loss);
                        pass.backward();
                        return loss.getFloat();
                    }));
            assertThat(seeds[0])
                    .as("one seed per layer")
                    .hasSize(k.model().config().layers());
            assertClose(checkpointed, plain(k, seeds[0]));

            long[] other = seeds[0].clone();
            other[0]++;
            Map<String, float[]> otherMasks = plain(k, other);
            assertThat(otherMasks.get("loss")[0])
                    .as("the comparison can fail: other masks give another loss")
                    .isNotEqualTo(checkpointed.get("loss")[0]);
            k.model()
                    .parameters()
                    .forEach((name, w) -> assertThat(w.hasGradient())
                            .as("base weight %s stays frozen", name)
                            .isFalse());
        }
    }

    /** Only the top layer trains: the layers below it are not recomputed, and its gradients are the plain ones. */
    @Test
    void onlyTheTopLayerTrains() {
        try (NDManager m = manager.newSubManager()) {
            Case all = make("llama3", false, m);
            Gradients.zero(all.trainable());
            all.trainable().forEach(p -> p.setRequiresGradient(false));
            String top = "model.layers." + (all.model().config().layers() - 1) + ".";
            List<NDArray> trainable = all.model().trainable(name -> name.startsWith(top));
            assertThat(trainable).isNotEmpty();
            Case k = new Case(all.model(), trainable, all.ids(), all.mask(), all.weights());
            Map<String, float[]> checkpointed = gradients(
                    k,
                    gc -> k.model().training(() -> {
                        DjlTransformer.Checkpoint pass = k.model().checkpoint(k.ids(), k.mask());
                        NDArray loss = k.loss(pass.hidden(0, pass.rows()));
                        gc.backward(loss);
                        pass.backward();
                        return loss.getFloat();
                    }));
            assertClose(checkpointed, plain(k, null));
        }
    }
}
