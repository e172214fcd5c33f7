package dev.duoguard.trainer.service;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.duoguard.common.redact.Redactor;
import dev.duoguard.runtime.language.LanguageIdentifier;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import dev.duoguard.schemas.Category;
import dev.duoguard.schemas.Seed;
import dev.duoguard.trainer.data.Example;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.EnumSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * Durable seed storage: one JSON file per seed, named by the sha256 of its (redacted, normalized) content, written
 * to a temporary file, forced to disk and renamed into place. Storing the same content twice is a no-op, which is
 * what makes re-consumption after a crash harmless (see {@link SeedIngest}). Retention deletes seeds stored longer
 * ago than a bound. An in-memory index (hash → stored-at, labelled), read from the files once at start and kept
 * up to date by {@link #put} and {@link #purge}, answers counts without reading the store: the service asks every
 * two seconds. One process owns a store directory.
 */
public final class SeedStore {

    /** A stored seed. {@code label} is null for an uncertain item nobody labelled. */
    public record Stored(
            String hash,
            String text,
            String prompt,
            String language,
            String label,
            List<String> categories,
            String reason,
            String origin,
            String tenant,
            String modelVersion,
            long createdAt,
            long storedAt) {

        /** As a training item (replies as prompt + " " + reply, DuoGuard's pair text); null without a label. */
        public Example toExample() {
            if (label == null) {
                return null;
            }
            boolean unsafe = label.equals("UNSAFE");
            Set<SafetyCategory> cats = EnumSet.noneOf(SafetyCategory.class);
            if (unsafe) {
                categories.forEach(c -> cats.add(SafetyCategory.parse(c)));
            }
            String full = prompt == null ? text : prompt + " " + text;
            return new Example("seed-" + hash.substring(0, 12), full, language, unsafe, cats, "seeds-topic", "", hash);
        }
    }

    private record Indexed(long storedAt, boolean labelled) {}

    private static final ObjectMapper JSON = new ObjectMapper();
    private final Path dir;
    private final Redactor redactor;
    private final Map<String, Indexed> index = new ConcurrentHashMap<>();

    /** @param redactor applied to text and prompt before hashing and storing; null stores them as they came */
    public SeedStore(Path dir, Redactor redactor) throws IOException {
        this.dir = Files.createDirectories(dir);
        this.redactor = redactor;
        for (Stored s : all()) {
            index.put(s.hash(), new Indexed(s.storedAt(), s.label() != null));
        }
    }

    /** Stores {@code seed} unless the same content is stored already; true when it was new. */
    public boolean put(Seed seed, Instant now) throws IOException {
        String text = redactor == null ? seed.getText() : redactor.redact(seed.getText());
        String prompt = redactor == null ? seed.getPrompt() : redactor.redact(seed.getPrompt());
        String label = seed.getLabel() == null ? null : seed.getLabel().name();
        String hash = hash(label + "\u0000" + normalize(prompt) + "\u0000" + normalize(text));
        Path file = dir.resolve(hash + ".json");
        if (Files.exists(file)) {
            return false;
        }
        List<String> cats = new ArrayList<>();
        for (Category c : seed.getCategories()) {
            cats.add(c.name());
        }
        Stored s = new Stored(
                hash,
                text,
                prompt,
                seed.getLanguage(),
                label,
                cats,
                seed.getReason().name(),
                seed.getOriginMessageId(),
                seed.getTenant(),
                seed.getModelVersion(),
                seed.getCreatedAt().toEpochMilli(),
                now.toEpochMilli());
        Path tmp = dir.resolve(hash + ".json.tmp");
        Files.write(tmp, JSON.writeValueAsBytes(s));
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
            ch.force(true);
        }
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
        index.put(hash, new Indexed(s.storedAt(), label != null));
        return true;
    }

    /**
     * The labelled seeds as training items. A seed whose language is undetermined gets it here, identified among
     * {@code languages} (the streams app sends the client's hint or {@code und} when it does not identify
     * languages, {@code language.detect=false}, and the trainer balances and evaluates by language; identifying
     * the few labelled seeds here keeps Lingua off the streaming path). Fewer than two languages: left as it is.
     */
    public List<Example> labelledExamples(Collection<String> languages) throws IOException {
        List<Example> out = new ArrayList<>();
        LanguageIdentifier identifier = null;
        for (Stored s : all()) {
            Example e = s.toExample();
            if (e == null) {
                continue;
            }
            if (LanguageIdentifier.UNDETERMINED.equals(e.lang()) && languages.size() >= 2) {
                if (identifier == null) {
                    identifier = new LanguageIdentifier(languages, false);
                }
                String lang = identifier.detect(s.text()).language();
                e = new Example(
                        e.id(), e.text(), lang, e.unsafe(), e.categories(), e.source(), e.split(), e.groupKey());
            }
            out.add(e);
        }
        return out;
    }

    public List<Stored> all() throws IOException {
        List<Stored> out = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : (Iterable<Path>)
                    files.filter(p -> p.toString().endsWith(".json")).sorted()::iterator) {
                out.add(JSON.readValue(f.toFile(), Stored.class));
            }
        }
        return out;
    }

    public long count() {
        return index.size();
    }

    /** Labelled seeds stored after {@code epochMillis} (what starts an iteration). */
    public long labelledStoredAfter(long epochMillis) {
        return index.values().stream()
                .filter(i -> i.labelled() && i.storedAt() > epochMillis)
                .count();
    }

    /** Deletes seeds stored before {@code now - retention}; returns how many. */
    public int purge(Duration retention, Instant now) throws IOException {
        long cutoff = now.minus(retention).toEpochMilli();
        int removed = 0;
        for (Map.Entry<String, Indexed> e : index.entrySet()) {
            if (e.getValue().storedAt() < cutoff) {
                Files.deleteIfExists(dir.resolve(e.getKey() + ".json"));
                index.remove(e.getKey());
                removed++;
            }
        }
        return removed;
    }

    static String normalize(String s) {
        return s == null
                ? ""
                : s.toLowerCase(Locale.ROOT).replaceAll("\\s+", " ").strip();
    }

    static String hash(String s) {
        try {
            return HexFormat.of()
                    .formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
