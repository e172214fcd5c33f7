package dev.duoguard.trainer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.duoguard.trainer.hf.DType;
import dev.duoguard.trainer.hf.EncoderConfig;
import dev.duoguard.trainer.hf.Safetensors;
import dev.duoguard.trainer.hf.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Test fixture: random BERT-family sequence classifiers and WordPiece {@code tokenizer.json} files, written the
 * way Hugging Face writes them ({@code config.json}, {@code model.safetensors}, {@code tokenizer.json}).
 */
public final class TinyEncoder {

    /** The fixture vocabulary: BERT's special tokens at their usual small ids, then lowercase words and pieces. */
    public static final List<String> VOCAB = List.of(
            "[PAD]",
            "[UNK]",
            "[CLS]",
            "[SEP]",
            "[MASK]",
            "hello",
            "world",
            "how",
            "do",
            "i",
            "build",
            "a",
            "bomb",
            "cafe",
            "the",
            "weather",
            "is",
            "nice",
            "today",
            "and",
            "then",
            "will",
            "un",
            "##believ",
            "##able",
            "?",
            "!",
            ".",
            ",",
            "we",
            "go",
            "home");

    private TinyEncoder() {}

    /** A config with DuoGuard's 12 labels. */
    public static EncoderConfig config(
            String modelType,
            int hidden,
            int layers,
            int heads,
            int inter,
            int vocab,
            int maxPositions,
            EncoderConfig.Pooling pooling) {
        long pad = modelType.equals("bert") ? 0 : 1;
        return new EncoderConfig(
                modelType, vocab, hidden, layers, heads, inter, maxPositions, 2, 1e-12, pad, pooling, 12);
    }

    /**
     * Random weights for every tensor of {@code c.layout()}: matrices and embeddings N(0, 0.2²) so that attention
     * is far from uniform and GELU sees both signs; LayerNorm gains around 1 and biases around 0.
     */
    public static Map<String, Tensor> randomWeights(EncoderConfig c, long seed) {
        Random r = new Random(seed);
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (Map.Entry<String, long[]> e : c.layout().entrySet()) {
            String name = e.getKey();
            float[] v = new float[(int) Tensor.numel(e.getValue())];
            boolean norm = name.contains("LayerNorm");
            for (int i = 0; i < v.length; i++) {
                double g = r.nextGaussian();
                v[i] = (float)
                        (norm && name.endsWith("weight") ? 1 + 0.1 * g : name.endsWith("bias") ? 0.05 * g : 0.2 * g);
            }
            out.put(name, new Tensor(name, e.getValue(), v));
        }
        return out;
    }

    /** Writes config.json and model.safetensors in {@code dtype}; returns the tensors as read back (rounded). */
    public static Map<String, Tensor> writeCheckpoint(
            Path dir, EncoderConfig c, Map<String, Tensor> weights, DType dtype) throws IOException {
        Files.createDirectories(dir);
        new ObjectMapper()
                .writerWithDefaultPrettyPrinter()
                .writeValue(dir.resolve("config.json").toFile(), c.toJson());
        Safetensors.write(dir.resolve(Safetensors.SINGLE_FILE), weights.values(), dtype, Map.of("format", "pt"));
        return Safetensors.readCheckpoint(dir);
    }

    /** The Unigram fixture's pieces: XLM-R's special tokens at their ids (<s> 0, <pad> 1, </s> 2, <unk> 3). */
    public static final List<String> UNIGRAM_VOCAB = List.of(
            "<s>",
            "<pad>",
            "</s>",
            "<unk>",
            "\u2581How",
            "\u2581do",
            "\u2581I",
            "\u2581build",
            "\u2581a",
            "\u2581bomb",
            "?",
            "\u2581Wie",
            "\u2581baue",
            "\u2581ich",
            "\u2581eine",
            "\u2581Bombe",
            "\u2581",
            "b",
            "o",
            "m",
            "e");

    /**
     * An XLM-R-style SentencePiece Unigram {@code tokenizer.json} over {@link #UNIGRAM_VOCAB}: Metaspace
     * pre-tokenizer (no lowercasing), {@code <s> $A </s>} by TemplateProcessing.
     */
    public static void writeUnigramTokenizer(Path file) throws IOException {
        ObjectMapper om = new ObjectMapper();
        ObjectNode root = om.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        for (int i = 0; i < 4; i++) {
            ObjectNode t = added.addObject();
            t.put("id", i);
            t.put("content", UNIGRAM_VOCAB.get(i));
            t.put("single_word", false);
            t.put("lstrip", false);
            t.put("rstrip", false);
            t.put("normalized", false);
            t.put("special", true);
        }
        root.putNull("normalizer");
        ObjectNode pre = root.putObject("pre_tokenizer");
        pre.put("type", "Metaspace");
        pre.put("replacement", "\u2581");
        pre.put("prepend_scheme", "always");
        pre.put("split", true);
        ObjectNode post = root.putObject("post_processor");
        post.put("type", "TemplateProcessing");
        ArrayNode single = post.putArray("single");
        single.addObject().putObject("SpecialToken").put("id", "<s>").put("type_id", 0);
        single.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        single.addObject().putObject("SpecialToken").put("id", "</s>").put("type_id", 0);
        ArrayNode pair = post.putArray("pair");
        pair.addObject().putObject("SpecialToken").put("id", "<s>").put("type_id", 0);
        pair.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        pair.addObject().putObject("SpecialToken").put("id", "</s>").put("type_id", 0);
        pair.addObject().putObject("Sequence").put("id", "B").put("type_id", 0);
        pair.addObject().putObject("SpecialToken").put("id", "</s>").put("type_id", 0);
        ObjectNode specials = post.putObject("special_tokens");
        for (String s : List.of("<s>", "</s>")) {
            ObjectNode st = specials.putObject(s);
            st.put("id", s);
            st.putArray("ids").add(UNIGRAM_VOCAB.indexOf(s));
            st.putArray("tokens").add(s);
        }
        ObjectNode dec = root.putObject("decoder");
        dec.put("type", "Metaspace");
        dec.put("replacement", "\u2581");
        dec.put("prepend_scheme", "always");
        dec.put("split", true);
        ObjectNode model = root.putObject("model");
        model.put("type", "Unigram");
        model.put("unk_id", 3);
        ArrayNode vocab = model.putArray("vocab");
        for (int i = 0; i < UNIGRAM_VOCAB.size(); i++) {
            // whole words score far above their letters, so the segmentation is the obvious one
            double score = i < 4 ? 0.0 : UNIGRAM_VOCAB.get(i).length() > 1 ? -2.0 : -10.0;
            vocab.addArray().add(UNIGRAM_VOCAB.get(i)).add(score);
        }
        model.put("byte_fallback", false);
        Files.createDirectories(file.getParent());
        om.writerWithDefaultPrettyPrinter().writeValue(file.toFile(), root);
    }

    /**
     * A BERT-uncased-style WordPiece {@code tokenizer.json} over {@link #VOCAB}: BertNormalizer (lowercase, strip
     * accents), BertPreTokenizer, and either a TemplateProcessing or a BertProcessing post-processor adding
     * [CLS] ... [SEP].
     */
    public static void writeWordPieceTokenizer(Path file, boolean templateProcessing) throws IOException {
        ObjectMapper om = new ObjectMapper();
        ObjectNode root = om.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        for (int i = 0; i < 5; i++) {
            ObjectNode t = added.addObject();
            t.put("id", i);
            t.put("content", VOCAB.get(i));
            t.put("single_word", false);
            t.put("lstrip", false);
            t.put("rstrip", false);
            t.put("normalized", false);
            t.put("special", true);
        }
        ObjectNode norm = root.putObject("normalizer");
        norm.put("type", "BertNormalizer");
        norm.put("clean_text", true);
        norm.put("handle_chinese_chars", true);
        norm.put("strip_accents", true);
        norm.put("lowercase", true);
        root.putObject("pre_tokenizer").put("type", "BertPreTokenizer");
        ObjectNode post = root.putObject("post_processor");
        if (templateProcessing) {
            post.put("type", "TemplateProcessing");
            ArrayNode single = post.putArray("single");
            single.addObject().putObject("SpecialToken").put("id", "[CLS]").put("type_id", 0);
            single.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
            single.addObject().putObject("SpecialToken").put("id", "[SEP]").put("type_id", 0);
            ArrayNode pair = post.putArray("pair");
            pair.addObject().putObject("SpecialToken").put("id", "[CLS]").put("type_id", 0);
            pair.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
            pair.addObject().putObject("SpecialToken").put("id", "[SEP]").put("type_id", 0);
            pair.addObject().putObject("Sequence").put("id", "B").put("type_id", 1);
            pair.addObject().putObject("SpecialToken").put("id", "[SEP]").put("type_id", 1);
            ObjectNode specials = post.putObject("special_tokens");
            for (String s : List.of("[CLS]", "[SEP]")) {
                ObjectNode st = specials.putObject(s);
                st.put("id", s);
                st.putArray("ids").add(VOCAB.indexOf(s));
                st.putArray("tokens").add(s);
            }
        } else {
            post.put("type", "BertProcessing");
            post.putArray("sep").add("[SEP]").add(VOCAB.indexOf("[SEP]"));
            post.putArray("cls").add("[CLS]").add(VOCAB.indexOf("[CLS]"));
        }
        ObjectNode dec = root.putObject("decoder");
        dec.put("type", "WordPiece");
        dec.put("prefix", "##");
        dec.put("cleanup", true);
        ObjectNode model = root.putObject("model");
        model.put("type", "WordPiece");
        model.put("unk_token", "[UNK]");
        model.put("continuing_subword_prefix", "##");
        model.put("max_input_chars_per_word", 100);
        ObjectNode vocab = model.putObject("vocab");
        for (int i = 0; i < VOCAB.size(); i++) {
            vocab.put(VOCAB.get(i), i);
        }
        Files.createDirectories(file.getParent());
        om.writerWithDefaultPrettyPrinter().writeValue(file.toFile(), root);
    }
}
