package dev.duoguard.common.packaging;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.List;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;

/**
 * What a runnable jar of this project puts on the class path: the jar itself and every jar its manifest's
 * {@code Class-Path} names ({@code lib/...}, copied next to it by the build and into the images by the
 * Dockerfiles). The jars are thin, so a broker would never show up inside the jar file itself: it would come in
 * through {@code lib/}. Reading the manifest instead of listing {@code target/lib} also ignores jars that an
 * earlier build left there and the manifest no longer names.
 *
 * <p>Shared by the production-jar checks of streams-app and trainer (a test-jar of {@code common}).
 */
public final class RunnableJar {

    /**
     * Entry prefixes that belong to the embedded platform only: the Kafka broker (kafka_2.13's {@code kafka.server}),
     * its Raft quorum, the Scala library the broker is written in, the harness that runs broker and registry
     * ({@code embedded}), and the Apicurio registry application (a Quarkus app, by its Maven coordinates).
     */
    public static final List<String> BROKER_AND_REGISTRY = List.of(
            "kafka/server/",
            "org/apache/kafka/raft/",
            "scala/",
            "dev/duoguard/embedded/",
            "io/quarkus/",
            "META-INF/maven/io.apicurio/apicurio-registry-app/");

    private RunnableJar() {}

    /** The jar and the jars its manifest's Class-Path names, resolved next to it; throws when one is missing. */
    public static List<Path> classPath(Path jar) {
        List<Path> out = new ArrayList<>(List.of(jar));
        try (JarFile f = new JarFile(jar.toFile())) {
            if (f.getManifest() == null) {
                throw new IllegalStateException(jar + " has no manifest");
            }
            String cp = f.getManifest().getMainAttributes().getValue(Attributes.Name.CLASS_PATH);
            if (cp != null) {
                for (String entry : cp.trim().split("\\s+")) {
                    Path lib = jar.toAbsolutePath().getParent().resolve(entry);
                    if (!Files.isRegularFile(lib)) {
                        throw new IllegalStateException(
                                jar + " names " + entry + " on its Class-Path, but " + lib + " does not exist");
                    }
                    out.add(lib);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + jar, e);
        }
        return out;
    }

    /**
     * For each jar on {@code jar}'s class path holding an entry under one of {@code prefixes}: the jar's name and
     * the first such entry ({@code lib/kafka_2.13-4.4.0.jar!kafka/server/KafkaConfig.class}); empty when none does.
     */
    public static List<String> entriesUnder(Path jar, List<String> prefixes) {
        List<String> found = new ArrayList<>();
        Path dir = jar.toAbsolutePath().getParent();
        for (Path p : classPath(jar)) {
            try (JarFile f = new JarFile(p.toFile())) {
                for (Enumeration<JarEntry> e = f.entries(); e.hasMoreElements(); ) {
                    String name = e.nextElement().getName();
                    if (prefixes.stream().anyMatch(name::startsWith)) {
                        found.add(dir.relativize(p.toAbsolutePath()) + "!" + name);
                        break;
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read " + p, e);
            }
        }
        return found;
    }
}
