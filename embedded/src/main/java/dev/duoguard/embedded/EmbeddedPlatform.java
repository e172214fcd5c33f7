package dev.duoguard.embedded;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.kafka.common.utils.Utils;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A real broker and a real registry for one test class, as a JUnit 5 extension:
 * <pre>
 * &#64;RegisterExtension
 * static final EmbeddedPlatform platform = new EmbeddedPlatform();
 * </pre>
 * starts both before the class's first test, in a temporary directory of its own, and stops them and deletes the
 * directory after its last test. One per class rather than per test because starting them takes seconds; the
 * tests of a class stay independent by using topics (and consumer groups) of their own.
 *
 * <p>Only tests load this class: the JUnit API is a {@code provided} dependency of this module, so the demos that
 * ship with it do not carry JUnit.
 */
public class EmbeddedPlatform implements BeforeAllCallback, AfterAllCallback {

    private final boolean secured;
    private Path dir;
    private EmbeddedKafka kafka;
    private EmbeddedRegistry registry;

    /** A plaintext broker. */
    public EmbeddedPlatform() {
        this(false);
    }

    /** With {@code secured}, the broker is {@link EmbeddedKafka#secured}: SASL_SSL only, with ACLs. */
    protected EmbeddedPlatform(boolean secured) {
        this.secured = secured;
    }

    @Override
    public void beforeAll(ExtensionContext context) throws IOException {
        dir = Files.createTempDirectory("duoguard-platform-");
        kafka = (secured ? EmbeddedKafka.secured(dir.resolve("kafka")) : new EmbeddedKafka(dir.resolve("kafka")))
                .start();
        registry = new EmbeddedRegistry(dir).start();
    }

    /** Also runs when {@link #beforeAll} failed half-way (JUnit calls it regardless): stops what did start. */
    @Override
    @SuppressWarnings("try") // the try only closes r, then k, each skipped when null
    public void afterAll(ExtensionContext context) throws IOException {
        try (EmbeddedKafka k = kafka;
                EmbeddedRegistry r = registry) {
            // closes the registry, then the broker; a null one (never started) is skipped
        } finally {
            if (dir != null) {
                Utils.delete(dir.toFile());
            }
        }
    }

    public EmbeddedKafka kafka() {
        return started(kafka);
    }

    public EmbeddedRegistry registry() {
        return started(registry);
    }

    /** The directory the broker and the registry keep their data in (deleted after the class). */
    public Path dir() {
        return started(dir);
    }

    private static <T> T started(T part) {
        if (part == null) {
            throw new IllegalStateException("the embedded platform is not running: register it on a static field "
                    + "with @RegisterExtension, and use it from the class's tests and @BeforeAll/@AfterAll methods");
        }
        return part;
    }
}
