package dev.duoguard.lifecycle;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.lifecycle.ModelsTopic.Entry;
import dev.duoguard.schemas.ModelStatus;
import dev.duoguard.schemas.ModelVersion;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Which ACTIVE versions a starting instance may try, newest first ({@link ModelsTopic#servable}): no Kafka. */
class ServableVersionsTest {

    private final List<Entry> topic = new ArrayList<>();

    private static ModelVersion version(String v, ModelStatus status) {
        return ModelVersion.newBuilder()
                .setModelName("guard")
                .setVersion(v)
                .setStatus(status)
                .setArtifactUri("file:///models/guard-" + v)
                .setSha256("00")
                .setCategories(List.of())
                .setThresholds(List.of())
                .setCreatedAt(Instant.EPOCH)
                .build();
    }

    private void pointer(String v) {
        topic.add(new Entry("guard", version(v, ModelStatus.ACTIVE)));
    }

    private void failed(String v) {
        ModelVersion mv = version(v, ModelStatus.FAILED);
        topic.add(new Entry(ModelKey.of(mv).toString(), mv));
    }

    private List<String> servable() {
        return ModelsTopic.servable(topic, "guard").stream()
                .map(ModelVersion::getVersion)
                .toList();
    }

    @Test
    void newestFirstEachVersionOnce() {
        pointer("1");
        pointer("2");
        pointer("1"); // rollback to 1
        assertThat(servable()).containsExactly("1", "2");
    }

    @Test
    void aVersionThatFailedAfterItsPointerIsLeftOut() {
        pointer("1");
        pointer("2");
        failed("2");
        assertThat(servable()).containsExactly("1");
    }

    @Test
    void pointedAtAgainAfterFailingItCountsAgain() {
        pointer("1");
        pointer("2");
        failed("2");
        pointer("2"); // an operator promotes it anew
        assertThat(servable()).containsExactly("2", "1");
    }

    @Test
    void aFailedRecordBeforeThePointerDoesNotCount() {
        failed("3"); // e.g. a rejected candidate, later fixed and promoted
        pointer("3");
        assertThat(servable()).containsExactly("3");
    }

    @Test
    void otherModelsCandidatesAndTombstonesAreIgnored() {
        ModelVersion candidate = version("4", ModelStatus.CANDIDATE);
        topic.add(new Entry(ModelKey.of(candidate).toString(), candidate));
        topic.add(new Entry("guard", null));
        ModelVersion other = ModelVersion.newBuilder(version("9", ModelStatus.ACTIVE))
                .setModelName("other")
                .build();
        topic.add(new Entry("other", other));
        pointer("1");
        assertThat(servable()).containsExactly("1");
    }
}
