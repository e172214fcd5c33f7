package dev.duoguard.trainer.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Option;

/** Where data comes from, shared by {@code train} and {@code eval}. */
final class DataOptions {

    @Option(
            names = "--data",
            defaultValue = "${env:DUOGUARD_TRAINER_DATA}",
            description =
                    "directory of normalized JSONL datasets (default: $DUOGUARD_TRAINER_DATA, else ../shared/data "
                            + "next to the install directory, when it exists)")
    Path data;

    @Option(
            names = "--input",
            description = "a data file (.jsonl, .json or .csv); normalized JSONL unless --mapping "
                    + "names a mapping for its file stem; repeatable")
    List<Path> inputs = new ArrayList<>();

    @Option(
            names = "--mapping",
            description = "STEM=FILE: a JSON field mapping for the input whose file stem is STEM "
                    + "(text, label, unsafe_values|unsafe_prefix, categories, lang, ...; see FieldMapping); repeatable")
    Map<String, Path> mappings = new LinkedHashMap<>();

    @Option(names = "--no-default-data", description = "do not look for ../shared/data when --data is not given")
    boolean noDefault;

    /** The data directory to use, or null. */
    Path dataDir() {
        if (data != null) {
            if (!Files.isDirectory(data)) {
                throw new IllegalArgumentException("--data " + data + " is not a directory");
            }
            return data;
        }
        if (noDefault) {
            return null;
        }
        Path shared = Path.of(System.getenv().getOrDefault("DUOGUARD_HOME", "."))
                .resolve("../shared/data")
                .normalize();
        return Files.isDirectory(shared) ? shared : null;
    }
}
