package dev.duoguard.common.cli;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;
import picocli.CommandLine.IVersionProvider;

/** {@code --version}: the jar (its module folder), the project version Maven built it from, and the JVM. */
final class VersionProvider implements IVersionProvider {

    private final String module;

    VersionProvider(String module) {
        this.module = module;
    }

    @Override
    public String[] getVersion() throws IOException {
        Properties build = new Properties();
        try (InputStream in = VersionProvider.class.getResourceAsStream("version.properties")) {
            if (in == null) {
                throw new IllegalStateException("version.properties is missing from the common jar");
            }
            build.load(in);
        }
        return new String[] {
            "duoguard " + module + " " + build.getProperty("version"),
            "Java " + Runtime.version() + " (" + System.getProperty("java.vendor") + ")"
        };
    }
}
