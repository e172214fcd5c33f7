package dev.duoguard.trainer.export;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.duoguard.trainer.TinyCheckpoint;
import dev.duoguard.trainer.hf.DType;
import dev.duoguard.trainer.hf.TransformerConfig;
import java.io.IOException;
import java.nio.file.Path;

/**
 * A tiny decoder bundle: a random Qwen2 classifier (hidden 32, 2 layers, 4 heads, 2 key/value heads) with the
 * lexicon baseline's tokenizer, exported by {@link BundleExporter} (so with its incremental graph).
 *
 * <p>{@link #main} writes one to a directory: streams-app's reply cache tests use such a copy
 * ({@code streams-app/src/test/resources/tiny-decoder-bundle}), as streams-app cannot depend on the trainer.
 * Regenerate it with {@code java -cp <trainer test classpath> dev.duoguard.trainer.export.TinyDecoderBundle DIR}.
 */
public final class TinyDecoderBundle {

    private TinyDecoderBundle() {}

    /** Exports the bundle into {@code out} (its Hugging Face checkpoint goes to {@code out}'s sibling). */
    public static Path export(Path out, long seed) throws IOException {
        ObjectNode json = TinyCheckpoint.configJson(32, 2, 4, 2, 64, 512, true, false);
        TransformerConfig config = TransformerConfig.parse(json);
        Path hf = out.resolveSibling(out.getFileName() + "-hf");
        TinyCheckpoint.write(hf, json, TinyCheckpoint.randomWeights(config, seed), DType.F32, false);
        BundleExporter.export(hf, out, "tiny-decoder", "1", false, 512, null);
        return out;
    }

    public static void main(String[] args) throws IOException {
        export(Path.of(args[0]).toAbsolutePath(), 17);
    }
}
