package dev.duoguard.lifecycle;

import dev.duoguard.schemas.ModelVersion;

/**
 * What a serving instance does about the models topic, as {@link ModelsState} decides it. The instance carries
 * these out (loading, swapping, writing records); how each one can fail is the executor's business: a version
 * that does not verify or load is reported FAILED there, and the model serving now keeps serving.
 */
public sealed interface ModelAction {

    /** Load {@code version} (verified) and swap it in for the model serving now. */
    record Serve(ModelVersion version) implements ModelAction {}

    /** Load candidate {@code version} (verified) and shadow-score it next to the active model, replacing any shadow. */
    record StartShadow(ModelVersion version) implements ModelAction {}

    /** Stop shadow-scoring {@code version} and close it. */
    record StopShadow(ModelVersion version, String why) implements ModelAction {}

    /** Write the ACTIVE pointer for {@code version}: its shadow scoring was inside the bounds. */
    record Promote(ModelVersion version, String reason) implements ModelAction {}

    /** Mark {@code version} FAILED: its shadow scoring was outside the bounds. */
    record Reject(ModelVersion version, String reason) implements ModelAction {}

    /** Nothing to do about a record an operator may wonder about; {@code why} says why. */
    record Ignore(String why) implements ModelAction {}
}
