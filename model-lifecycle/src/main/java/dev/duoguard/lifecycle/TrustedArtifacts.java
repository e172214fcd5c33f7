package dev.duoguard.lifecycle;

import dev.duoguard.runtime.bundle.BundleManifest;
import dev.duoguard.runtime.bundle.InvalidBundleException;
import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.schemas.ModelVersion;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.PublicKey;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How an instance gets the bundle of a version it read on the models topic, which anyone who can write that topic
 * controls: the artifact URI must resolve (symbolic links followed) inside one of the artifact roots; the bundle
 * is copied into the instance's own staging directory, refusing symbolic links and anything but plain files and
 * directories; then, on the copy, the manifest's Ed25519 signature ({@link BundleSignature}) must verify with a
 * trusted key, every file must be listed in the manifest (so an ONNX external-data file cannot be slipped in
 * beside it) and match its sha256, and the manifest must be the one the record names. The model is loaded from the
 * copy, so what was checked is what is served: no one can swap a file between the check and the load.
 *
 * <p>Unsigned bundles are refused unless {@code allowUnsigned}; then a bundle without a signature, or signed by a
 * key that is not configured, is accepted with a warning. A signature that is checked and does not verify is
 * always refused. Any refusal throws with the reason, which the callers publish as the version's FAILED record.
 *
 * <p>Each fetch makes a new copy ({@code <name>@<version>.<n>}): the same version may be shadowed from one copy
 * while it is fetched again to be served. The caller {@link #discard}s a copy when the model loaded from it is
 * closed or fails to load; the next start empties the directory (nothing is loaded yet then), so copies left by a
 * crash do not pile up.
 */
public final class TrustedArtifacts {

    private static final Logger log = LoggerFactory.getLogger(TrustedArtifacts.class);

    private final Map<String, PublicKey> trustedKeys;
    private final List<Path> roots;
    private final boolean allowUnsigned;
    private final Path staging;
    private final AtomicLong copies = new AtomicLong();
    /** The copies {@link #fetch} handed out and nobody discarded yet: the only paths {@link #discard} deletes. */
    private final Set<Path> handedOut = ConcurrentHashMap.newKeySet();

    /**
     * @param trustedKeys   public keys by {@link BundleSignature#keyId}
     * @param roots         directories artifact URIs must resolve into; none: every URI is refused
     * @param allowUnsigned accept bundles that are not signed by a trusted key (demos, migration)
     * @param staging       the instance's own directory for verified copies; emptied now
     */
    public TrustedArtifacts(Map<String, PublicKey> trustedKeys, List<Path> roots, boolean allowUnsigned, Path staging) {
        this.trustedKeys = Map.copyOf(trustedKeys);
        this.roots = roots.stream().map(TrustedArtifacts::realRoot).toList();
        this.allowUnsigned = allowUnsigned;
        this.staging = staging.toAbsolutePath().normalize();
        try {
            deleteTree(this.staging);
            Files.createDirectories(this.staging);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot prepare the model staging directory " + this.staging, e);
        }
    }

    private static Path realRoot(Path root) {
        try {
            return root.toRealPath();
        } catch (IOException e) {
            throw new IllegalArgumentException("artifact root " + root + " does not exist", e);
        }
    }

    /** What this instance accepts, for its start-up log. */
    public String describe() {
        return "trusted keys " + trustedKeys.keySet() + ", artifact roots " + roots
                + (allowUnsigned ? ", UNSIGNED BUNDLES ALLOWED" : ", unsigned bundles refused");
    }

    /**
     * A verified private copy of {@code mv}'s bundle, to load from. Throws with the reason when the version must
     * not be served.
     */
    public Path fetch(ModelVersion mv) {
        Path source = withinRoots(mv.getArtifactUri());
        Path copy = staging.resolve(
                ModelKey.of(mv).toString().replaceAll("[^A-Za-z0-9._@-]", "_") + "." + copies.incrementAndGet());
        try {
            copyRefusingLinks(source, copy);
            checkSignature(copy, mv);
            ModelBundle bundle = ModelBundle.open(copy); // the sha256 of every listed file, on the copy
            checkEveryFileIsListed(copy, bundle.manifest());
            checkRecord(bundle, mv);
            handedOut.add(copy);
            return copy;
        } catch (IOException e) {
            deleteQuietly(copy);
            throw new UncheckedIOException("cannot copy the bundle " + source + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            deleteQuietly(copy);
            throw e;
        }
    }

    /** Checks {@code mv} as {@link #fetch} does, without keeping the copy (the operator's promote command). */
    public void check(ModelVersion mv) {
        discard(fetch(mv));
    }

    /**
     * Deletes {@code copy} if it is one of this instance's copies (anything else, e.g. the operator's
     * {@code model.path} bundle, is left alone). Called once the model loaded from it is closed, or failed to load.
     */
    public void discard(Path copy) {
        Path p = copy.toAbsolutePath().normalize();
        if (handedOut.remove(p)) {
            deleteQuietly(p);
        }
    }

    private Path withinRoots(String uri) {
        Path path = ModelArtifacts.path(uri);
        Path real;
        try {
            real = path.toRealPath();
        } catch (NoSuchFileException e) {
            throw new InvalidBundleException("artifact " + uri + " does not exist");
        } catch (IOException e) {
            throw new InvalidBundleException("artifact " + uri + " cannot be read: " + e.getMessage(), e);
        }
        if (roots.stream().noneMatch(real::startsWith)) {
            throw new InvalidBundleException("artifact " + uri + " (" + real + ") is outside the artifact roots "
                    + roots + " (models.artifact-roots)");
        }
        return real;
    }

    /** Copies the tree at {@code from}; a symbolic link or special file anywhere in it refuses the bundle. */
    private static void copyRefusingLinks(Path from, Path to) throws IOException {
        // walkFileTree does not follow links unless told to: a link shows up as a file whose attributes say so
        Files.walkFileTree(from, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) throws IOException {
                Files.createDirectories(to.resolve(from.relativize(dir).toString()));
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                String name = from.relativize(file).toString();
                if (attrs.isSymbolicLink()) {
                    throw new InvalidBundleException("bundle file " + name + " is a symbolic link: refused");
                }
                if (!attrs.isRegularFile()) {
                    throw new InvalidBundleException("bundle file " + name + " is not a regular file: refused");
                }
                // NOFOLLOW_LINKS: a file replaced by a link after the walk saw it is refused when opened
                try (InputStream in = Files.newInputStream(file, LinkOption.NOFOLLOW_LINKS)) {
                    Files.copy(in, to.resolve(name));
                }
                return FileVisitResult.CONTINUE;
            }
        });
    }

    private void checkSignature(Path copy, ModelVersion mv) throws IOException {
        Path manifest = copy.resolve(BundleManifest.FILE_NAME);
        Path sigFile = copy.resolve(BundleSignature.FILE_NAME);
        if (!Files.isRegularFile(manifest)) {
            throw new InvalidBundleException("bundle " + mv.getArtifactUri() + " has no " + BundleManifest.FILE_NAME);
        }
        if (!Files.exists(sigFile)) {
            unsigned(mv, "unsigned: the bundle has no " + BundleSignature.FILE_NAME);
            return;
        }
        BundleSignature.Parsed sig = BundleSignature.read(sigFile);
        PublicKey key = trustedKeys.get(sig.keyId());
        if (key == null) {
            unsigned(mv, "signed with key " + sig.keyId() + ", which is not a trusted key " + trustedKeys.keySet());
            return;
        }
        if (!BundleSignature.verifies(key, Files.readAllBytes(manifest), sig.signature())) {
            throw new InvalidBundleException("bad signature: " + BundleManifest.FILE_NAME + " does not verify with key "
                    + sig.keyId() + " (tampered manifest or signature)");
        }
    }

    private void unsigned(ModelVersion mv, String why) {
        if (!allowUnsigned) {
            throw new InvalidBundleException(why + " (models.allow-unsigned is false)");
        }
        log.warn("{}: {}; serving it because models.allow-unsigned is true", ModelKey.of(mv), why);
    }

    private static void checkEveryFileIsListed(Path copy, BundleManifest m) throws IOException {
        List<String> unlisted = new ArrayList<>();
        try (Stream<Path> walk = Files.walk(copy)) {
            walk.filter(Files::isRegularFile)
                    .map(f -> copy.relativize(f).toString().replace('\\', '/'))
                    .filter(f -> !f.equals(BundleManifest.FILE_NAME) && !f.equals(BundleSignature.FILE_NAME))
                    .filter(f -> !m.files().containsKey(f))
                    .forEach(unlisted::add);
        }
        if (!unlisted.isEmpty()) {
            throw new InvalidBundleException("unlisted files " + new TreeSet<>(unlisted)
                    + ": every file of a bundle (ONNX external data included) must be listed in its manifest");
        }
    }

    private static void checkRecord(ModelBundle bundle, ModelVersion mv) {
        if (!bundle.manifestSha256().equals(mv.getSha256())) {
            throw new InvalidBundleException("checksum mismatch: the manifest's sha256 is " + bundle.manifestSha256()
                    + " but the record says " + mv.getSha256());
        }
        BundleManifest m = bundle.manifest();
        if (!m.name().equals(mv.getModelName()) || !m.version().equals(mv.getVersion())) {
            throw new InvalidBundleException(
                    "the bundle is " + new ModelKey(m.name(), m.version()) + " but the record says " + ModelKey.of(mv));
        }
    }

    private static void deleteQuietly(Path p) {
        try {
            deleteTree(p);
        } catch (IOException e) {
            log.warn("cannot remove the model copy {}: {}", p, e.toString());
        }
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(p)) {
            for (Path f : (Iterable<Path>) walk.sorted(Comparator.reverseOrder())::iterator) {
                Files.delete(f);
            }
        }
    }
}
