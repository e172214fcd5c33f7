package dev.duoguard.trainer.reference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.duoguard.trainer.TinyCheckpoint;
import dev.duoguard.trainer.hf.Qwen2Weights;
import dev.duoguard.trainer.hf.Tensor;
import dev.duoguard.trainer.hf.TransformerConfig;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Golden values written from the formulas, not from the implementation. */
class ReferenceMathTest {

    @Test
    void rmsNormDividesByTheRootMeanSquare() {
        float[] out = ReferenceClassifier.rmsNorm(new float[] {1, 2, 3, 4}, new float[] {1, 1, 1, 2}, 0f);
        float rms = (float) Math.sqrt((1 + 4 + 9 + 16) / 4.0); // 2.7386
        assertThat(out).containsExactly(new float[] {1 / rms, 2 / rms, 3 / rms, 2 * 4 / rms}, within(1e-6f));
    }

    @Test
    void ropeRotatesPairsInRotateHalfLayout() {
        float[] v = {1, 0, 0, 0};
        ReferenceClassifier.rope(v, 0, 4, 1, 10000);
        // pair (0, 2) turns by 1 rad; pair (1, 3) by 1/10000^(2/4) = 0.01 rad
        assertThat(v).containsExactly(new float[] {(float) Math.cos(1), 0, (float) Math.sin(1), 0}, within(1e-6f));
        float[] w = {0, 1, 0, 0};
        ReferenceClassifier.rope(w, 0, 4, 3, 10000);
        assertThat(w)
                .containsExactly(new float[] {0, (float) Math.cos(0.03), 0, (float) Math.sin(0.03)}, within(1e-6f));
        float[] offset = {9, 9, 1, 0, 0, 0};
        ReferenceClassifier.rope(offset, 2, 4, 0, 10000); // position 0 is the identity; offset leaves 9s alone
        assertThat(offset).containsExactly(9, 9, 1, 0, 0, 0);
    }

    @Test
    void groupedQueryAttentionSharesEachKvHeadAcrossItsGroup() {
        // H=4 heads over Hkv=2 equals H=4 over Hkv=4 with every KV head duplicated for the two queries that use it
        TransformerConfig gqa = TransformerConfig.parse(TinyCheckpoint.configJson(16, 1, 4, 2, 32, 64, true, false));
        TransformerConfig mha = TransformerConfig.parse(TinyCheckpoint.configJson(16, 1, 4, 4, 32, 64, true, false));
        Map<String, Tensor> w = TinyCheckpoint.randomWeights(gqa, 5);
        Map<String, Tensor> dup = new HashMap<>(w);
        int dh = gqa.headDim();
        for (String n : new String[] {"k_proj.weight", "v_proj.weight", "k_proj.bias", "v_proj.bias"}) {
            Tensor t = w.get("model.layers.0.self_attn." + n);
            int rowWidth = t.shape().length == 2 ? (int) t.shape()[1] : 1;
            float[] out = new float[t.data().length * 2];
            for (int head = 0; head < 4; head++) {
                System.arraycopy(t.data(), (head / 2) * dh * rowWidth, out, head * dh * rowWidth, dh * rowWidth);
            }
            long[] shape = t.shape().clone();
            shape[0] *= 2;
            dup.put(t.name(), new Tensor(t.name(), shape, out));
        }
        long[] ids = {3, 9, 27, 4};
        long[] mask = {1, 1, 1, 1};
        float[] a = new ReferenceClassifier(new Qwen2Weights(gqa, w)).logits(ids, mask);
        float[] b = new ReferenceClassifier(new Qwen2Weights(mha, dup)).logits(ids, mask);
        assertThat(a).containsExactly(b, within(1e-5f));
    }

    @Test
    void paddedTokensAndLaterTokensDoNotLeakIntoTheClassification() {
        TransformerConfig c = TransformerConfig.parse(TinyCheckpoint.configJson(16, 2, 2, 2, 32, 64, false, false));
        ReferenceClassifier m = new ReferenceClassifier(new Qwen2Weights(c, TinyCheckpoint.randomWeights(c, 9)));
        float[] plain = m.logits(new long[] {5, 6, 7}, new long[] {1, 1, 1});
        float[] padded = m.logits(new long[] {5, 6, 7, 50, 51}, new long[] {1, 1, 1, 0, 0}); // junk under padding
        float[] leftPadded = m.logits(new long[] {60, 5, 6, 7}, new long[] {0, 1, 1, 1});
        assertThat(padded).containsExactly(plain, within(1e-6f));
        assertThat(leftPadded).containsExactly(plain, within(1e-6f));
        float[] longer = m.logits(new long[] {5, 6, 7, 8}, new long[] {1, 1, 1, 1});
        assertThat(longer)
                .as("a real extra token changes the last-token logits")
                .isNotEqualTo(plain);
    }
}
