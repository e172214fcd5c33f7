package dev.duoguard.embedded;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * A throwaway certificate authority and a broker certificate for {@code 127.0.0.1}, made at run time with the
 * JDK's own {@code keytool} (nothing is committed): the CA's key pair, the broker's key pair, its certificate
 * request signed by the CA (with 127.0.0.1 and localhost as subject alternative names, so clients verify the host
 * name as they would in production), and a truststore holding only the CA. PKCS12 stores, one random password.
 */
record TestCertificates(Path truststore, Path keystore, String password) {

    static TestCertificates generate(Path dir) {
        try {
            Files.createDirectories(dir);
            String pw = UUID.randomUUID().toString();
            Path ca = dir.resolve("ca.p12");
            Path caPem = dir.resolve("ca.pem");
            Path truststore = dir.resolve("truststore.p12");
            Path keystore = dir.resolve("broker.p12");
            Path csr = dir.resolve("broker.csr");
            Path signed = dir.resolve("broker.pem");
            String ec = "-keyalg EC -groupname secp256r1 -validity 2";
            keytool("-genkeypair -alias ca -dname CN=duoguard-test-ca -ext bc:c " + ec, ca, pw);
            keytool("-exportcert -rfc -alias ca -file " + caPem, ca, pw);
            keytool("-importcert -noprompt -alias ca -file " + caPem, truststore, pw);
            keytool("-genkeypair -alias broker -dname CN=127.0.0.1 " + ec, keystore, pw);
            keytool("-certreq -alias broker -file " + csr, keystore, pw);
            keytool(
                    "-gencert -alias ca -rfc -validity 2 -ext SAN=ip:127.0.0.1,dns:localhost "
                            + "-ext EKU=serverAuth,clientAuth -infile " + csr + " -outfile " + signed,
                    ca,
                    pw);
            // the chain: the CA first, then the CA's answer to the broker's request replaces its self-signed cert
            keytool("-importcert -noprompt -alias ca -file " + caPem, keystore, pw);
            keytool("-importcert -alias broker -file " + signed, keystore, pw);
            return new TestCertificates(truststore, keystore, pw);
        } catch (IOException e) {
            throw new IllegalStateException("cannot generate the test certificates in " + dir + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while generating the test certificates", e);
        }
    }

    /** Runs keytool on {@code store}; paths here contain no spaces (a temporary directory of the test's). */
    private static void keytool(String args, Path store, String password) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
        command.addAll(List.of(args.split(" ")));
        command.addAll(List.of("-keystore", store.toString(), "-storetype", "PKCS12", "-storepass", password));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            p.destroyForcibly();
            throw new IOException("keytool " + args + " failed: " + output.strip());
        }
    }
}
