package dev.duoguard.trainer.loop;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.duoguard.trainer.data.Example;
import dev.duoguard.trainer.engine.LoraAdapters;
import dev.duoguard.trainer.engine.LoraConfig;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * The generator and the samples it produced, kept between runs of the loop: what lets the trainer service's
 * iterations continue one generator instead of starting a new one every time (which threw every DPO update away).
 * The directory holds
 *
 * <ul>
 *   <li>{@code generator-N/}: the generator after run N, as the loop saves an iteration's generator: the from-scratch
 *       model (model.safetensors, config.json, tokenizer.json), a checkpoint's LoRA adapters (PEFT layout, on the
 *       base checkpoint in {@code state.json}), or, with full DPO, the whole checkpoint;
 *   <li>{@code samples.jsonl}: the accepted generated samples (those the classifier retrains on), oldest first, at
 *       most {@code maxSamples}: the oldest go first;
 *   <li>{@code state.json}: the generator's kind and base checkpoint, runs saved, and the newest {@code generator-N}.
 * </ul>
 *
 * Only the newest {@code keep} generators stay (one is enough to continue; the others are there to go back to).
 * A run saves into temporary names and moves them in, {@code state.json} last, so a crash mid-save leaves the
 * previous state loadable. A store made for one kind of generator refuses settings of another (or other LoRA
 * adapters, or another base checkpoint) rather than silently starting over.
 */
public final class GeneratorStore {

    /** Adapters are a few MB; a full-DPO checkpoint is the model's size, three of them are the default's price. */
    public static final int DEFAULT_KEEP = 3;

    /** About ten service iterations of the standard budget (400 requests x 8 samples, half kept). */
    public static final int DEFAULT_MAX_SAMPLES = 20_000;

    static final String STATE = "state.json";
    /**
     * The samples kept after run N are {@code samples-N.jsonl}: a save writes the new file before the state that
     * names run N, so a crash between the two leaves run N-1's state with run N-1's samples (one file replaced in
     * place would pair the old state with the new samples, and the rerun would add its samples again).
     */
    static String samplesFile(int run) {
        return "samples-" + run + ".jsonl";
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * What {@code state.json} holds; {@code base} is null for the from-scratch generator, {@code shape} (its preset
     * and vocabulary size) null for a checkpoint's.
     */
    record State(Kind kind, String base, int runs, String latest, String shape) {}

    /** How the generator is kept: see the class comment. */
    public enum Kind {
        SCRATCH,
        LORA,
        FULL;

        static Kind of(LoopSettings s) {
            return s.generatorFrom() == null ? SCRATCH : s.lora() != null ? LORA : FULL;
        }
    }

    private final Path dir;
    private final Kind kind;
    private final String base;
    private final int keep;
    private final int maxSamples;
    private State state;

    private final String shape;

    private GeneratorStore(Path dir, Kind kind, String base, String shape, int keep, int maxSamples, State state) {
        this.dir = dir;
        this.kind = kind;
        this.base = base;
        this.shape = shape;
        this.keep = keep;
        this.maxSamples = maxSamples;
        this.state = state;
    }

    /**
     * Opens (or starts) the store in {@code dir} for the generator {@code settings} describe.
     *
     * @throws IllegalArgumentException when {@code keep} or {@code maxSamples} is below 1, or the store holds another
     *     kind of generator, another base checkpoint or adapters of another shape; the message says how to start over
     */
    public static GeneratorStore open(Path dir, LoopSettings settings, int keep, int maxSamples) throws IOException {
        if (keep < 1 || maxSamples < 1) {
            throw new IllegalArgumentException("the generator store keeps at least 1 generator and 1 sample (got "
                    + keep + ", " + maxSamples + ")");
        }
        Kind kind = Kind.of(settings);
        String base = settings.generatorFrom() == null
                ? null
                : settings.generatorFrom().toAbsolutePath().normalize().toString();
        Path file = dir.resolve(STATE);
        State state = Files.exists(file) ? JSON.readValue(file.toFile(), State.class) : null;
        String shape =
                kind == Kind.SCRATCH ? settings.generatorShape() + ", vocabulary " + settings.generatorVocab() : null;
        if (state != null) {
            String startOver = "; move " + dir + " away to start the generator over";
            if (state.kind() != kind || !String.valueOf(state.base()).equals(String.valueOf(base))) {
                throw new IllegalArgumentException(dir + " holds a " + describe(state.kind(), state.base())
                        + " generator, the settings ask for a " + describe(kind, base) + " one" + startOver);
            }
            if (!String.valueOf(state.shape()).equals(String.valueOf(shape))) {
                throw new IllegalArgumentException(dir + " holds a from-scratch generator of shape " + state.shape()
                        + ", the settings ask for " + shape + startOver);
            }
            Path latest = dir.resolve(state.latest());
            if (!Files.isDirectory(latest)) {
                throw new IllegalArgumentException(
                        dir + ": " + STATE + " names " + latest + ", which is missing" + startOver);
            }
            if (kind == Kind.LORA) {
                LoraConfig saved = LoraAdapters.readConfig(latest);
                if (!saved.equals(settings.lora())) {
                    throw new IllegalArgumentException(dir + " holds LoRA adapters " + saved + ", the settings ask for "
                            + settings.lora() + ": give the same --lora-* options" + startOver);
                }
            }
        }
        return new GeneratorStore(dir, kind, base, shape, keep, maxSamples, state);
    }

    private static String describe(Kind kind, String base) {
        return switch (kind) {
            case SCRATCH -> "from-scratch";
            case LORA -> "LoRA-adapted " + base;
            case FULL -> "fully fine-tuned " + base;
        };
    }

    public Path dir() {
        return dir;
    }

    /** Runs saved so far (0: a fresh store). */
    public int runs() {
        return state == null ? 0 : state.runs();
    }

    /** The newest saved generator's directory, or null before the first run is saved. */
    public Path latest() {
        return state == null ? null : dir.resolve(state.latest());
    }

    /** The kept samples, oldest first (empty before the first run is saved). */
    public List<Example> samples() throws IOException {
        List<Example> out = new ArrayList<>();
        if (state == null) {
            return out;
        }
        Path file = dir.resolve(samplesFile(state.runs()));
        if (!Files.exists(file)) {
            return out;
        }
        try (Stream<String> lines = Files.lines(file)) {
            lines.filter(l -> !l.isBlank()).forEach(l -> {
                try {
                    out.add(JSON.readValue(l, Example.class));
                } catch (IOException e) {
                    throw new UncheckedIOException(file + ": " + e.getMessage(), e);
                }
            });
        }
        return out;
    }

    /**
     * Records one more run: a copy of {@code generator} (the directory the loop saved the run's generator to) and
     * {@code samples} (every accepted sample so far, oldest first; the newest {@code maxSamples} are kept); then
     * deletes generators beyond the newest {@code keep}.
     */
    void save(Path generator, List<Example> samples) throws IOException {
        Files.createDirectories(dir);
        int run = runs() + 1;
        String name = "generator-" + run;
        Path tmp = dir.resolve(name + ".tmp");
        deleteTree(tmp); // a crash's leftover
        Files.createDirectories(tmp);
        // a saved generator is flat: weights, configs, tokenizer
        try (Stream<Path> files = Files.list(generator)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                Files.copy(f, tmp.resolve(f.getFileName()));
            }
        }
        deleteTree(dir.resolve(name)); // moved in before a crash, never recorded in the state
        Files.move(tmp, dir.resolve(name), StandardCopyOption.ATOMIC_MOVE);

        Path samplesTmp = dir.resolve(samplesFile(run) + ".tmp");
        try (BufferedWriter w = Files.newBufferedWriter(samplesTmp)) {
            for (Example e : samples.subList(Math.max(0, samples.size() - maxSamples), samples.size())) {
                w.write(JSON.writeValueAsString(e));
                w.newLine();
            }
        }
        Files.move(
                samplesTmp,
                dir.resolve(samplesFile(run)),
                StandardCopyOption.ATOMIC_MOVE,
                StandardCopyOption.REPLACE_EXISTING);

        State next = new State(kind, base, run, name, shape);
        Path stateTmp = dir.resolve(STATE + ".tmp");
        JSON.writerWithDefaultPrettyPrinter().writeValue(stateTmp.toFile(), next);
        Files.move(stateTmp, dir.resolve(STATE), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        state = next;
        Files.deleteIfExists(dir.resolve(samplesFile(run - 1)));
        for (int old = run - keep; old >= 1; old--) {
            Path p = dir.resolve("generator-" + old);
            if (!Files.exists(p)) {
                break;
            }
            deleteTree(p);
        }
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(p)) {
            for (Path f : (Iterable<Path>) walk.sorted(Comparator.reverseOrder())::iterator) {
                Files.delete(f);
            }
        }
    }
}
