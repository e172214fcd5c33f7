package dev.duoguard.dev.arch;

import static com.tngtech.archunit.base.DescribedPredicate.not;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAPackage;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAnyPackage;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.core.importer.Location;
import dev.duoguard.client.ModerationClient;
import dev.duoguard.common.serde.SchemaIds;
import dev.duoguard.dev.demo.StreamsDemo;
import dev.duoguard.embedded.EmbeddedKafka;
import dev.duoguard.lifecycle.ModelKey;
import dev.duoguard.runtime.policy.Decision;
import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.streams.app.StreamsApp;
import dev.duoguard.trainer.service.TrainerService;
import java.util.Arrays;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The module graph and the "May depend on" line of each {@code package-info.java}, checked on the compiled main
 * classes of every module (the dev module sees them all). A row that fails means a package-info and the code
 * disagree: fix the code, or change the row and the package-info together. Only the project's own packages are
 * checked here; third-party dependencies are the poms' business ({@code dependency:analyze}).
 */
class ArchitectureTest {

    private static JavaClasses main;

    @BeforeAll
    static void importMainClasses() {
        // the modules' own class folders or jars, found from one class of each: scanning the whole classpath for
        // the package (DJL, ONNX Runtime, Kafka...) took most of a minute
        Set<Location> modules = Stream.of(
                        Decision.class,
                        SchemaIds.class,
                        ModelKey.class,
                        EmbeddedKafka.class,
                        StreamsApp.class,
                        TrainerService.class,
                        ModerationClient.class,
                        StreamsDemo.class,
                        ChatMessage.class)
                .map(c -> Location.of(c.getProtectionDomain().getCodeSource().getLocation()))
                .collect(Collectors.toSet());
        main = new ClassFileImporter()
                .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importLocations(modules);
    }

    /** Package (under dev.duoguard), then the project packages it may use besides itself. */
    @ParameterizedTest(name = "{0} uses only: {1}")
    @CsvSource(delimiter = '|', textBlock = """
            # the modules: streams-app and trainer never see each other; dev (demos, benches) is on top of all
            runtime..            | runtime..
            common..             | common.. schemas..
            common.topics..      | common.topics.. common.config.. common.serde.. schemas..
            common.kafka..       | common.kafka.. common.config..
            common.registry..    | common.registry.. common.config..
            common.serde..       | common.serde.. common.registry.. schemas..
            embedded..           | embedded..
            lifecycle..          | lifecycle.. schemas.. runtime.bundle.. common.kafka.. common.serde..
            streams..            | streams.. lifecycle.. schemas.. runtime.. common.. client..
            trainer..            | trainer.. lifecycle.. schemas.. runtime.. common..
            client..             | client.. common.kafka.. common.serde.. common.topics.. schemas..
            # guardrail-runtime
            runtime.taxonomy..   | runtime.taxonomy..
            runtime.language..   | runtime.language..
            runtime.bundle..     | runtime.bundle.. runtime.taxonomy..
            runtime.policy..     | runtime.policy.. runtime.taxonomy..
            runtime.onnx..       | runtime.onnx.. runtime.bundle..
            runtime.tokenizer..  | runtime.tokenizer.. runtime.bundle..
            runtime.scoring..    | runtime.scoring.. runtime.bundle.. runtime.onnx.. runtime.taxonomy.. runtime.tokenizer..
            # streams-app: the live model does not know the topology; the topology does not know the process
            streams.model..      | streams.model.. common.kafka.. common.serde.. lifecycle.. runtime.. schemas..
            streams.config..     | streams.config.. common.config.. common.http.. common.kafka.. common.redact.. common.registry.. common.topics.. runtime.onnx.. runtime.policy.. runtime.taxonomy..
            streams.metrics..    | streams.metrics.. streams.topology.. runtime.scoring.. schemas..
            streams.topology..   | streams.topology.. streams.config.. streams.model.. common.. lifecycle.. runtime.. schemas..
            streams.sample..     | streams.sample.. schemas..
            streams.api..        | streams.api.. client.. common.config.. common.http.. common.kafka.. common.serde.. common.topics.. streams.config.. schemas..
            # trainer: formats and the engine below training, training below the loop and the service
            trainer.tokenizer..  | trainer.tokenizer..
            trainer.data..       | trainer.data.. runtime.taxonomy..
            trainer.hf..         | trainer.hf.. runtime.onnx.. runtime.taxonomy..
            trainer.bench..      | trainer.bench.. trainer.engine.. trainer.hf.. trainer.loop..
            trainer.engine..     | trainer.engine.. trainer.hf..
            trainer.eval..       | trainer.eval.. trainer.data.. runtime.policy.. runtime.scoring..
            trainer.export..     | trainer.export.. trainer.hf.. trainer.tokenizer.. runtime.bundle.. runtime.onnx.. runtime.scoring.. runtime.taxonomy..
            trainer.train..      | trainer.train.. trainer.data.. trainer.engine.. trainer.eval.. trainer.export.. trainer.hf.. trainer.tokenizer.. runtime..
            trainer.loop..       | trainer.loop.. trainer.train.. trainer.data.. trainer.engine.. trainer.eval.. trainer.hf.. trainer.tokenizer.. runtime..
            """)
    void packageUsesOnlyWhatItsPackageInfoAllows(String pkg, String allowed) {
        String[] mayUse = Arrays.stream(allowed.trim().split("\\s+"))
                .map(p -> "dev.duoguard." + p)
                .toArray(String[]::new);
        noClasses()
                .that()
                .resideInAPackage("dev.duoguard." + pkg)
                .should()
                .dependOnClassesThat(resideInAPackage("dev.duoguard..").and(not(resideInAnyPackage(mayUse))))
                .check(main);
    }
}
