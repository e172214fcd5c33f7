package dev.duoguard.runtime.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import dev.duoguard.runtime.bundle.InvalidBundleException;
import java.io.IOException;
import java.nio.file.Path;

/**
 * A Hugging Face {@code tokenizer.json} loaded through DJL's binding of the Rust tokenizers library.
 *
 * <p>Encodes raw text with no special tokens, no truncation and no padding: DuoGuard classifies raw text (no chat
 * template, no BOS), windowing of long inputs is done by the scorer, and batches are padded by the scorer to
 * their own longest row. Thread-safe (the native tokenizer is immutable).
 */
public final class GuardrailTokenizer implements AutoCloseable {

    private final HuggingFaceTokenizer tokenizer;

    private GuardrailTokenizer(HuggingFaceTokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    public static GuardrailTokenizer load(Path tokenizerJson) {
        try {
            HuggingFaceTokenizer t = HuggingFaceTokenizer.builder()
                    .optTokenizerPath(tokenizerJson)
                    .optAddSpecialTokens(false)
                    .optTruncation(false)
                    .optPadding(false)
                    .build();
            return new GuardrailTokenizer(t);
        } catch (IOException | RuntimeException e) {
            throw new InvalidBundleException("cannot load tokenizer " + tokenizerJson + ": " + e.getMessage(), e);
        }
    }

    /** Token ids of {@code text}; may be empty for text that holds no token (e.g. only whitespace). */
    public long[] encode(String text) {
        return tokenizer.encode(text, false, false).getIds();
    }

    /** Text of {@code ids}, special tokens included (the inverse of {@link #encode} for lossless tokenizers). */
    public String decode(long[] ids) {
        return tokenizer.decode(ids, false);
    }

    public String[] tokens(String text) {
        return tokenizer.encode(text, false, false).getTokens();
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
