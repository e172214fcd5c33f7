package dev.duoguard.trainer.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.duoguard.trainer.hf.DType;
import dev.duoguard.trainer.hf.Safetensors;
import dev.duoguard.trainer.hf.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A resumable training checkpoint: the weights, the optimizer moments and the position in the run. Written to a
 * sibling directory and swapped in by a rename, so a run killed while writing leaves the previous checkpoint whole.
 */
public record Checkpoint(
        Map<String, Tensor> weights,
        Map<String, Tensor> optimizer,
        long step,
        long skipped,
        String fingerprint,
        int items) {

    static final String WEIGHTS = "model.safetensors";
    static final String OPTIMIZER = "optimizer.safetensors";
    static final String STATE = "trainer_state.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    public static boolean exists(Path dir) {
        return Files.isRegularFile(dir.resolve(STATE));
    }

    public void write(Path dir) throws IOException {
        Path tmp = dir.resolveSibling(dir.getFileName() + ".tmp");
        deleteTree(tmp);
        Files.createDirectories(tmp);
        Safetensors.write(tmp.resolve(WEIGHTS), weights.values(), DType.F32, Map.of());
        Safetensors.write(tmp.resolve(OPTIMIZER), optimizer.values(), DType.F32, Map.of());
        ObjectNode state = JSON.createObjectNode();
        state.put("step", step)
                .put("skipped", skipped)
                .put("fingerprint", fingerprint)
                .put("items", items);
        JSON.writerWithDefaultPrettyPrinter().writeValue(tmp.resolve(STATE).toFile(), state);
        Path old = dir.resolveSibling(dir.getFileName() + ".old");
        deleteTree(old);
        if (Files.exists(dir)) {
            Files.move(dir, old, StandardCopyOption.ATOMIC_MOVE);
        }
        Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
        deleteTree(old);
    }

    public static Checkpoint read(Path dir) throws IOException {
        var state = JSON.readTree(dir.resolve(STATE).toFile());
        return new Checkpoint(
                Safetensors.read(dir.resolve(WEIGHTS)),
                Safetensors.read(dir.resolve(OPTIMIZER)),
                state.path("step").asLong(),
                state.path("skipped").asLong(),
                state.path("fingerprint").asText(),
                state.path("items").asInt());
    }

    static void deleteTree(Path p) throws IOException {
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
