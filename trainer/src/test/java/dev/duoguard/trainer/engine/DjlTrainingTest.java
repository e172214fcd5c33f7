package dev.duoguard.trainer.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Activation;
import dev.duoguard.trainer.hf.TransformerConfig;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Gradients flow where they should: full fine-tuning, frozen parameters, LoRA adapters and their merge. */
class DjlTrainingTest {

    static NDManager manager;
    static final TransformerConfig TINY = TransformerConfig.preset("tiny", 300, 12, 0);
    static final long[][] IDS = {{5, 9, 200, 7, 0}, {11, 3, 250, 0, 0}, {42, 43, 44, 45, 46}};
    static final long[][] MASK = {{1, 1, 1, 1, 0}, {1, 1, 1, 0, 0}, {1, 1, 1, 1, 1}};

    @BeforeAll
    static void engine() {
        manager = NDManager.newBaseManager();
    }

    @AfterAll
    static void close() {
        manager.close();
    }

    /** mean((sigmoid(logits) - y)^2) toward a fixed multi-label target: any smooth loss shows that training works. */
    static NDArray loss(DjlTransformer m, NDManager b) {
        NDArray logits = m.classify(b.create(IDS), b.create(MASK));
        NDArray p = Activation.sigmoid(logits);
        NDArray y = b.zeros(p.getShape()).add(0.1f);
        return Scalars.pow(p.sub(y), 2).mean();
    }

    @Test
    void fullFineTuningLowersTheLossAndFrozenParametersStayPut() {
        try (DjlTransformer m = DjlTransformer.random(TINY, manager, true, false, 1);
                NDManager b = manager.newSubManager()) {
            List<NDArray> trainable = m.trainable(name -> !name.equals("model.embed_tokens.weight"));
            float[] embedBefore =
                    m.parameters().get("model.embed_tokens.weight").toFloatArray();
            TrainingStep training = TrainingStep.sgd(trainable);
            double first = training.step(() -> loss(m, b), 0.1f).loss();
            double last = first;
            for (int step = 1; step < 30; step++) {
                last = training.step(() -> loss(m, b), 0.1f).loss();
            }
            assertThat(training.skipped()).as(training.summary()).isZero();
            assertThat(last).isLessThan(first * 0.5);
            assertThat(m.parameters().get("model.embed_tokens.weight").hasGradient())
                    .isFalse();
            assertThat(m.parameters().get("model.embed_tokens.weight").toFloatArray())
                    .containsExactly(embedBefore);
        }
    }

    @Test
    void loraStartsAsTheBaseModelTrainsOnlyItsAdaptersAndMergesExactly() {
        try (DjlTransformer m = DjlTransformer.random(TINY, manager, true, false, 2);
                NDManager b = manager.newSubManager()) {
            float[] base = m.classify(b.create(IDS), b.create(MASK)).toFloatArray();
            List<NDArray> adapters = m.addLora(LoraConfig.of(4, 8f), 3);
            assertThat(adapters).hasSize(2 * 2 * TINY.layers());
            assertThat(m.classify(b.create(IDS), b.create(MASK)).toFloatArray())
                    .as("B starts at zero")
                    .containsExactly(base);

            TrainingStep training = TrainingStep.sgd(adapters);
            for (int step = 0; step < 6; step++) {
                training.step(() -> loss(m, b), 1f);
            }
            assertThat(training.skipped()).as(training.summary()).isZero();
            assertThat(m.parameters()
                            .get("model.layers.0.self_attn.q_proj.weight")
                            .hasGradient())
                    .as("base frozen")
                    .isFalse();
            float[] adapted = m.classify(b.create(IDS), b.create(MASK)).toFloatArray();
            assertThat(adapted).isNotEqualTo(base);

            try (DjlTransformer merged = DjlTransformer.fromTensors(TINY, m.toTensors(), manager, true, false)) {
                float[] fromMerged =
                        merged.classify(b.create(IDS), b.create(MASK)).toFloatArray();
                assertThat(fromMerged).containsExactly(adapted, within(1e-5f));
            }
            assertThat(m.loraTensors())
                    .containsKeys(
                            "model.layers.0.self_attn.q_proj.lora_A.weight",
                            "model.layers.1.self_attn.v_proj.lora_B.weight");
        }
    }

    @Test
    void presetsAreValidQwen2Shapes() {
        TransformerConfig small = TransformerConfig.preset("small", 8000, 12, 0);
        assertThat(small.kvGroups()).isEqualTo(2);
        assertThat(small.attentionBias()).isTrue();
        assertThat(TINY.headDim()).isEqualTo(16);
    }
}
