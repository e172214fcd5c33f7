package dev.duoguard.runtime.tokenizer;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.huggingface.tokenizers.jni.CharSpan;
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

    /**
     * Token ids of {@code text} and where each token ends in it ({@code ends[i]}: a UTF-16 index, as
     * {@link String#length}; the tokenizer's own spans count code points). A token with no span (one the tokenizer
     * added) ends where the previous one did.
     */
    public Spans encodeWithEnds(String text) {
        Encoding e = tokenizer.encode(text, false, false);
        CharSpan[] spans = e.getCharTokenSpans();
        int[] ends = new int[spans.length];
        int codePoint = 0; // walks forward with utf16: spans come in text order
        int utf16 = 0;
        for (int i = 0; i < spans.length; i++) {
            if (spans[i] != null) {
                int target = spans[i].getEnd();
                if (target < codePoint) {
                    codePoint = 0;
                    utf16 = 0;
                }
                while (codePoint < target && utf16 < text.length()) {
                    utf16 += Character.charCount(text.codePointAt(utf16));
                    codePoint++;
                }
            }
            ends[i] = utf16;
        }
        return new Spans(e.getIds(), ends);
    }

    /** Token ids and the UTF-16 index where each ends in the encoded text. */
    public record Spans(long[] ids, int[] ends) {}

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
