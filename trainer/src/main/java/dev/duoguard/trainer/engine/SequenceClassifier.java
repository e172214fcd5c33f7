package dev.duoguard.trainer.engine;

import ai.djl.ndarray.NDArray;
import dev.duoguard.trainer.hf.Tensor;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * What {@code ClassifierTrainer} needs of a model: category logits for right-padded rows, parameters by Hugging
 * Face name, freezing by name and a plain checkpoint. Implemented by the decoder ({@link DjlTransformer}) and the
 * BERT-family encoder.
 */
public interface SequenceClassifier extends AutoCloseable {

    /** (B, L) logits for ids (B, T) and mask (B, T), right padded. */
    NDArray classify(NDArray ids, NDArray mask);

    /** Every parameter by its Hugging Face name. */
    Map<String, NDArray> parameters();

    /** Marks the parameters whose names pass {@code trainable} for gradients and returns them; the others get none (frozen). */
    List<NDArray> trainable(Predicate<String> trainable);

    /** The weights as Hugging Face tensors (a plain checkpoint). */
    Map<String, Tensor> toTensors();

    /** The id batches are right-padded with. */
    long padTokenId();

    @Override
    void close();
}
