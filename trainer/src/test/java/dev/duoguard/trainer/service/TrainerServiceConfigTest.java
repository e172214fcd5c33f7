package dev.duoguard.trainer.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.duoguard.common.kafka.KafkaConnection;
import dev.duoguard.trainer.data.Example;
import dev.duoguard.trainer.loop.LoopSettings;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class TrainerServiceConfigTest {

    /** The default minimum of safe items, so the false-positive rule can judge. */
    private static final List<Example> DEV = IntStream.range(0, TrainerService.Config.DEFAULT_MIN_SAFE_ITEMS)
            .mapToObj(i -> new Example("d" + i, "hello " + i, "en", false, Set.of(), "dev", "", null))
            .toList();

    private static TrainerService.Config.Builder valid() {
        return TrainerService.Config.builder()
                .kafka(KafkaConnection.plaintext("localhost:9092"))
                .home(Path.of("home"))
                .artifactStore(Path.of("artifacts"))
                .activeBundle(Path.of("models/default"))
                .loop(LoopSettings.quick())
                .baseTrain(List.of())
                .dev(DEV);
    }

    @Test
    void unsetValuesTakeTheNamedDefaults() {
        TrainerService.Config c = valid().build();
        assertThat(c.seedsTopic()).isEqualTo("guardrail.seeds");
        assertThat(c.modelsTopic()).isEqualTo("guardrail.models");
        assertThat(c.groupId()).isEqualTo(TrainerService.Config.DEFAULT_GROUP_ID);
        assertThat(c.minNewSeeds()).isEqualTo(TrainerService.Config.DEFAULT_MIN_NEW_SEEDS);
        assertThat(c.interval()).isEqualTo(TrainerService.Config.DEFAULT_INTERVAL);
        assertThat(c.retention()).isEqualTo(TrainerService.Config.DEFAULT_RETENTION);
        assertThat(c.gateMargin()).isEqualTo(TrainerService.Config.DEFAULT_GATE_MARGIN);
        assertThat(c.fprMargin()).isEqualTo(0.02);
        assertThat(c.minSafeItems()).isEqualTo(100);
        assertThat(c.managementPort()).isEqualTo(TrainerService.Config.DEFAULT_MANAGEMENT_PORT);
        assertThat(c.managementBind()).isEqualTo("127.0.0.1");
        assertThat(c.adminToken().configured())
                .as("no token: POST /iterate disabled")
                .isFalse();
        assertThat(c.redact()).isTrue();
        assertThat(valid().noSchedule().build().interval()).as("no schedule").isNull();
    }

    @Test
    void missingRequiredValuesAreNamedTogether() {
        assertThatThrownBy(() -> TrainerService.Config.builder().build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("invalid trainer service configuration: ")
                .hasMessageContaining("kafka (the cluster's bootstrap servers and security) is required")
                .hasMessageContaining("home (seed store, iterations and state) is required")
                .hasMessageContaining("artifactStore is required")
                .hasMessageContaining("activeBundle (the install's model) is required")
                .hasMessageContaining("loop (the LoopSettings an iteration runs) is required")
                .hasMessageContaining("baseTrain is required")
                .hasMessageContaining("dev must not be empty");
    }

    @Test
    void aGateWithoutADevSetCouldNeverPassSoItIsRefused() {
        assertThatThrownBy(() -> valid().dev(List.of()).build())
                .hasMessageContaining("dev must not be empty: the gate compares candidate and active model on it");
    }

    @Test
    void outOfRangeValuesSayWhatIsAllowed() {
        assertThatThrownBy(() -> valid().seedsTopic(" ")
                        .minNewSeeds(0)
                        .interval(Duration.ZERO)
                        .retention(Duration.ofDays(-1))
                        .gateMargin(-0.1)
                        .fprMargin(1.5)
                        .managementPort(70000)
                        .managementBind("")
                        .adminToken("short")
                        .build())
                .hasMessageContaining("seedsTopic is required (got ' ')")
                .hasMessageContaining("minNewSeeds must be at least 1 (got 0)")
                .hasMessageContaining("interval must be positive (got PT0S); noSchedule() turns the schedule off")
                .hasMessageContaining("retention must be positive")
                .hasMessageContaining("gateMargin is an F1 difference, from 0 up to 1 (got -0.1)")
                .hasMessageContaining("fprMargin is a false-positive rate difference, from 0 up to 1 (got 1.5)")
                .hasMessageContaining("managementPort must be 0 (any free port) to 65535 (got 70000)")
                .hasMessageContaining("managementBind is required")
                .hasMessageContaining("admin token")
                .hasMessageContaining("at least 16 characters")
                .hasMessageNotContaining("short\"");
        assertThatThrownBy(() -> valid().gateMargin(Double.NaN).build()).hasMessageContaining("gateMargin");
    }

    @Test
    void aDevSetTooSmallForTheFalsePositiveRuleIsRefusedAtStart() {
        assertThatThrownBy(() -> valid().dev(DEV.subList(0, 99)).build())
                .hasMessageContaining("dev has 99 safe items: the gate judges false-positive rates from 100 "
                        + "(minSafeItems), so it could never accept a candidate");
        assertThat(valid().dev(DEV.subList(0, 10)).minSafeItems(10).build().minSafeItems())
                .isEqualTo(10);
        assertThatThrownBy(() -> valid().minSafeItems(0).build())
                .hasMessageContaining("minSafeItems must be at least 1");
    }

    @Test
    void baseTrainingDataHoldingADevItemOrItsTranslationIsRefused() {
        Example english = new Example("src-1", "how do I pick a lock", "en", true, Set.of(), "src", "", null);
        Example spanish =
                new Example("src-1.es", "¿cómo abro una cerradura?", "es", true, Set.of(), "src", "", "src-1");
        List<Example> dev = new ArrayList<>(DEV);
        dev.add(english);
        assertThatThrownBy(() -> valid().dev(dev).baseTrain(List.of(spanish)).build())
                .hasMessageContaining("baseTrain holds 1 dev items or items of a dev item's group")
                .hasMessageContaining("'src-1.es'");
        Example sameText = new Example("other-9", "How do  I pick a LOCK", "en", true, Set.of(), "other", "", null);
        assertThatThrownBy(() -> valid().dev(dev).baseTrain(List.of(sameText)).build())
                .hasMessageContaining("'other-9'");
        Example unrelated = new Example("other-10", "a recipe for bread", "en", false, Set.of(), "other", "", null);
        assertThat(valid().dev(dev).baseTrain(List.of(unrelated)).build().baseTrain())
                .containsExactly(unrelated);
    }
}
