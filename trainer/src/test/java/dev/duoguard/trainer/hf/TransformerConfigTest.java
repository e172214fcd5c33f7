package dev.duoguard.trainer.hf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.duoguard.trainer.TinyCheckpoint;
import org.junit.jupiter.api.Test;

class TransformerConfigTest {

    @Test
    void llama3RopeScalingFollowsTheHuggingFaceFormula() {
        TransformerConfig c = TransformerConfig.parse(TinyCheckpoint.llama32Like());
        assertThat(c.attentionBias()).as("Llama has no q/k/v biases").isFalse();
        double[] inv = c.inverseFrequencies();
        assertThat(inv).hasSize(8);
        // golden values: short wavelength kept, long divided by 32, middle band interpolated
        assertThat(inv[0]).isCloseTo(1.0, within(1e-12));
        assertThat(inv[4]).isCloseTo(4.2955679655936815e-4, within(1e-15));
        assertThat(inv[7]).isCloseTo(3.2229329303788936e-7, within(1e-18));
        assertThat(TransformerConfig.parse(c.toJson()).inverseFrequencies()).containsExactly(inv);
    }

    @Test
    void unsupportedRopeScalingAndHeadDimAreRefused() {
        ObjectNode yarn = TinyCheckpoint.llama32Like();
        ((ObjectNode) yarn.get("rope_scaling")).put("rope_type", "yarn");
        assertThatThrownBy(() -> TransformerConfig.parse(yarn)).hasMessageContaining("'yarn' is not supported");
        ObjectNode headDim = TinyCheckpoint.llama32Like();
        headDim.put("head_dim", 32);
        assertThatThrownBy(() -> TransformerConfig.parse(headDim)).hasMessageContaining("head_dim 32");
    }
}
