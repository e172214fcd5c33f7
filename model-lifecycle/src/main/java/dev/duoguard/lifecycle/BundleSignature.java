package dev.duoguard.lifecycle;

import dev.duoguard.runtime.bundle.BundleManifest;
import dev.duoguard.runtime.bundle.InvalidBundleException;
import java.io.IOException;
import java.io.Reader;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.InvalidKeyException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.SignatureException;
import java.security.spec.InvalidKeySpecException;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.stream.Stream;

/**
 * Ed25519 signatures of model bundles (the JDK's own provider). The trainer signs the exact bytes of {@code
 * manifest.json}, which pins the sha256 of every other file, and writes {@value #FILE_NAME} beside it: a properties
 * file with {@code algorithm=Ed25519}, {@code key-id} (the first 16 hex digits of the sha256 of the public key's
 * X.509 encoding) and {@code signature} (base64). The signature file itself is not listed in the manifest.
 *
 * <p>Keys are files: a private key as PKCS#8, a public key as X.509 (SubjectPublicKeyInfo), each PEM or DER. The
 * JDK cannot derive an Ed25519 public key from its private key, so a signing key is a pair of files: {@code
 * NAME.key} and {@code NAME.pub} beside it ({@link #keygen} writes both); {@link Signer#load} checks that they match.
 */
public final class BundleSignature {

    public static final String FILE_NAME = "manifest.sig";
    public static final String ALGORITHM = "Ed25519";

    private BundleSignature() {}

    /** A private key, its public key and that key's id: what signs bundles. */
    public record Signer(PrivateKey key, PublicKey publicKey, String keyId) {

        /** The public key by its id: what trusts exactly what this signer signs. */
        public Map<String, PublicKey> trusted() {
            return Map.of(keyId, publicKey);
        }

        /** Reads {@code privateKeyFile} and its public key {@code NAME.pub} beside it, and checks they are a pair. */
        public static Signer load(Path privateKeyFile) {
            String file = privateKeyFile.getFileName().toString();
            String base = file.endsWith(".key") ? file.substring(0, file.length() - 4) : file;
            Path publicKeyFile = privateKeyFile.resolveSibling(base + ".pub");
            PrivateKey key = readPrivateKey(privateKeyFile);
            PublicKey pub = readPublicKey(publicKeyFile);
            byte[] probe = "duoguard signing key check".getBytes(StandardCharsets.UTF_8);
            if (!verifies(pub, probe, sign(key, probe))) {
                throw new IllegalArgumentException(
                        "signing key " + privateKeyFile + " and its public key " + publicKeyFile + " are not a pair");
            }
            return new Signer(key, pub, BundleSignature.keyId(pub));
        }
    }

    /** Writes a new key pair: {@code dir/NAME.key} (PKCS#8 PEM, owner-only where the file system allows) and {@code dir/NAME.pub}. */
    public static Path keygen(Path dir, String name) throws IOException {
        KeyPair pair;
        try {
            pair = KeyPairGenerator.getInstance(ALGORITHM).generateKeyPair();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(ALGORITHM + " is missing from this JVM", e);
        }
        Files.createDirectories(dir);
        Path key = dir.resolve(name + ".key");
        Path pub = dir.resolve(name + ".pub");
        if (Files.exists(key) || Files.exists(pub)) {
            throw new IllegalArgumentException(key + " or " + pub + " exists: not overwriting a key");
        }
        Files.createFile(key);
        try {
            Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("rw-------"));
        } catch (UnsupportedOperationException e) {
            // not a POSIX file system: the directory's permissions protect the key
        }
        Files.writeString(key, pem("PRIVATE KEY", pair.getPrivate().getEncoded()));
        Files.writeString(pub, pem("PUBLIC KEY", pair.getPublic().getEncoded()));
        return key;
    }

    /** Signs {@code bundleDir}'s manifest.json as it is on disk now and writes {@value #FILE_NAME} beside it. */
    public static void sign(Path bundleDir, Signer signer) throws IOException {
        byte[] manifest = Files.readAllBytes(bundleDir.resolve(BundleManifest.FILE_NAME));
        Properties p = new Properties();
        p.setProperty("algorithm", ALGORITHM);
        p.setProperty("key-id", signer.keyId());
        p.setProperty("signature", Base64.getEncoder().encodeToString(sign(signer.key(), manifest)));
        StringWriter out = new StringWriter();
        p.store(out, "Ed25519 signature of manifest.json");
        Files.writeString(bundleDir.resolve(FILE_NAME), out.toString());
    }

    /** A parsed {@value #FILE_NAME}. */
    record Parsed(String keyId, byte[] signature) {}

    /** Reads {@code sigFile}; throws naming what is wrong with it. */
    static Parsed read(Path sigFile) {
        Properties p = new Properties();
        try (Reader in = Files.newBufferedReader(sigFile, StandardCharsets.UTF_8)) {
            p.load(in);
        } catch (IOException e) {
            throw new InvalidBundleException("cannot read " + sigFile + ": " + e.getMessage(), e);
        }
        if (!ALGORITHM.equals(p.getProperty("algorithm"))) {
            throw new InvalidBundleException(
                    sigFile + ": algorithm must be " + ALGORITHM + " but is " + p.getProperty("algorithm"));
        }
        String keyId = p.getProperty("key-id");
        String signature = p.getProperty("signature");
        if (keyId == null || keyId.isBlank() || signature == null) {
            throw new InvalidBundleException(sigFile + ": key-id and signature are required");
        }
        try {
            return new Parsed(keyId.trim(), Base64.getDecoder().decode(signature.trim()));
        } catch (IllegalArgumentException e) {
            throw new InvalidBundleException(sigFile + ": the signature is not base64", e);
        }
    }

    /** The id of {@code key}: the first 16 hex digits of the sha256 of its X.509 encoding. */
    public static String keyId(PublicKey key) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(key.getEncoded());
            return HexFormat.of().formatHex(d, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    /**
     * The public keys in {@code paths} by key id: each path a key file or a directory whose files (not those
     * starting with '.', as Kubernetes' secret mounts have) are all keys. A file that is not an Ed25519 public key
     * is a configuration error.
     */
    public static Map<String, PublicKey> trustedKeys(List<Path> paths) {
        Map<String, PublicKey> keys = new LinkedHashMap<>();
        for (Path path : paths) {
            List<Path> files = new ArrayList<>();
            if (Files.isDirectory(path)) {
                try (Stream<Path> list = Files.list(path)) {
                    list.filter(f -> !f.getFileName().toString().startsWith("."))
                            .filter(Files::isRegularFile)
                            .sorted()
                            .forEach(files::add);
                } catch (IOException e) {
                    throw new UncheckedIOException("cannot list trusted keys in " + path, e);
                }
            } else {
                files.add(path);
            }
            for (Path f : files) {
                PublicKey k = readPublicKey(f);
                keys.put(keyId(k), k);
            }
        }
        return keys;
    }

    static boolean verifies(PublicKey key, byte[] data, byte[] signature) {
        try {
            Signature s = Signature.getInstance(ALGORITHM);
            s.initVerify(key);
            s.update(data);
            return s.verify(signature);
        } catch (SignatureException e) {
            return false; // a malformed signature does not verify
        } catch (InvalidKeyException | NoSuchAlgorithmException e) {
            throw new IllegalStateException("cannot verify " + ALGORITHM + " signatures: " + e.getMessage(), e);
        }
    }

    private static byte[] sign(PrivateKey key, byte[] data) {
        try {
            Signature s = Signature.getInstance(ALGORITHM);
            s.initSign(key);
            s.update(data);
            return s.sign();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot sign with " + ALGORITHM + ": " + e.getMessage(), e);
        }
    }

    static PrivateKey readPrivateKey(Path file) {
        try {
            return KeyFactory.getInstance(ALGORITHM).generatePrivate(new PKCS8EncodedKeySpec(der(file)));
        } catch (InvalidKeySpecException e) {
            throw new IllegalArgumentException(
                    file + " is not an " + ALGORITHM + " private key (PKCS#8, PEM or DER)", e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(ALGORITHM + " is missing from this JVM", e);
        }
    }

    static PublicKey readPublicKey(Path file) {
        try {
            return KeyFactory.getInstance(ALGORITHM).generatePublic(new X509EncodedKeySpec(der(file)));
        } catch (InvalidKeySpecException e) {
            throw new IllegalArgumentException(file + " is not an " + ALGORITHM + " public key (X.509, PEM or DER)", e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(ALGORITHM + " is missing from this JVM", e);
        }
    }

    /** The DER bytes of a PEM or DER key file. */
    private static byte[] der(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read key file " + file, e);
        }
        String text = new String(bytes, StandardCharsets.US_ASCII);
        if (!text.contains("-----BEGIN ")) {
            return bytes;
        }
        String body = text.replaceAll("-----(BEGIN|END) [A-Z ]+-----", "").replaceAll("\\s", "");
        try {
            return Base64.getDecoder().decode(body);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("key file " + file + " is not valid PEM", e);
        }
    }

    private static String pem(String label, byte[] der) {
        return "-----BEGIN " + label + "-----\n"
                + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII))
                        .encodeToString(der)
                + "\n-----END " + label + "-----\n";
    }
}
