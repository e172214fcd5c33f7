package dev.duoguard.trainer.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Trains a byte-level BPE tokenizer (the GPT-2 / Qwen2 scheme) on a corpus and writes it as a standard Hugging Face
 * {@code tokenizer.json}, so the same loader (DJL's binding of the Rust tokenizers library) serves it. Byte-level
 * means every string round-trips losslessly, whatever the script, emoji or whitespace.
 *
 * <p>Written here because the Hugging Face trainer is Rust/Python only and DJL exposes no training API. Steps:
 * split text with the GPT-2 pre-tokenizer pattern, map each UTF-8 byte to a printable character (GPT-2's
 * bytes_to_unicode), count words, then repeatedly merge the most frequent adjacent pair (ties broken by the pair's
 * text, so training is deterministic), updating pair counts only for the words a merge touches.
 */
public final class ByteLevelBpeTrainer {

    /** GPT-2's pre-tokenizer pattern, as Hugging Face's ByteLevel pre-tokenizer applies it. */
    static final Pattern PRETOKENIZE =
            Pattern.compile("'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+");

    static final String[] BYTE_TO_CHAR = bytesToUnicode();

    private final int vocabSize;
    private final int minFrequency;
    private final List<String> specialTokens;

    /** @param vocabSize total, including the 256 byte symbols and the special tokens */
    public ByteLevelBpeTrainer(int vocabSize, int minFrequency, List<String> specialTokens) {
        if (vocabSize < 256 + specialTokens.size()) {
            throw new IllegalArgumentException("vocab size " + vocabSize + " is below the 256 byte symbols plus "
                    + specialTokens.size() + " special tokens");
        }
        this.vocabSize = vocabSize;
        this.minFrequency = Math.max(1, minFrequency);
        this.specialTokens = List.copyOf(specialTokens);
    }

    /** The trained tokenizer: ids 0..k-1 are the special tokens, then the 256 bytes, then one token per merge. */
    public record Trained(List<String> vocab, List<String[]> merges, List<String> specialTokens) {}

    public Trained train(Iterable<String> corpus) {
        Map<String, Integer> wordCounts = new HashMap<>();
        for (String text : corpus) {
            Matcher m = PRETOKENIZE.matcher(text);
            while (m.find()) {
                wordCounts.merge(toByteChars(m.group()), 1, Integer::sum);
            }
        }
        // words as symbol lists, in a fixed order so that training is reproducible
        List<String> keys = new ArrayList<>(new TreeMap<>(wordCounts).keySet());
        List<List<String>> words = new ArrayList<>(keys.size());
        int[] counts = new int[keys.size()];
        for (int i = 0; i < keys.size(); i++) {
            String w = keys.get(i);
            List<String> symbols = new ArrayList<>(w.length());
            w.codePoints().forEach(cp -> symbols.add(new String(Character.toChars(cp))));
            words.add(symbols);
            counts[i] = wordCounts.get(w);
        }
        Map<String, Long> pairCounts = new HashMap<>();
        Map<String, Set<Integer>> pairWords = new HashMap<>();
        for (int i = 0; i < words.size(); i++) {
            addPairs(words.get(i), i, counts[i], pairCounts, pairWords, 1);
        }

        List<String> vocab = new ArrayList<>(specialTokens);
        for (String c : BYTE_TO_CHAR) {
            vocab.add(c);
        }
        Set<String> known = new HashSet<>(vocab);
        List<String[]> merges = new ArrayList<>();
        while (vocab.size() < vocabSize) {
            String best = null;
            long bestCount = 0;
            for (Map.Entry<String, Long> e : pairCounts.entrySet()) {
                long c = e.getValue();
                if (c > bestCount || (c == bestCount && c > 0 && e.getKey().compareTo(best) < 0)) {
                    best = e.getKey();
                    bestCount = c;
                }
            }
            if (best == null || bestCount < minFrequency) {
                break; // nothing frequent enough left to merge
            }
            String[] pair = best.split("\u0000", 2);
            String merged = pair[0] + pair[1];
            merges.add(pair);
            if (known.add(merged)) {
                vocab.add(merged);
            }
            for (int w : new ArrayList<>(pairWords.getOrDefault(best, Set.of()))) {
                List<String> symbols = words.get(w);
                addPairs(symbols, w, counts[w], pairCounts, pairWords, -1);
                List<String> out = new ArrayList<>(symbols.size());
                for (int i = 0; i < symbols.size(); i++) {
                    if (i + 1 < symbols.size()
                            && symbols.get(i).equals(pair[0])
                            && symbols.get(i + 1).equals(pair[1])) {
                        out.add(merged);
                        i++;
                    } else {
                        out.add(symbols.get(i));
                    }
                }
                words.set(w, out);
                addPairs(out, w, counts[w], pairCounts, pairWords, 1);
            }
        }
        return new Trained(vocab, merges, specialTokens);
    }

    private static void addPairs(
            List<String> symbols,
            int word,
            int count,
            Map<String, Long> pairCounts,
            Map<String, Set<Integer>> pairWords,
            int sign) {
        for (int i = 0; i + 1 < symbols.size(); i++) {
            String key = symbols.get(i) + "\u0000" + symbols.get(i + 1);
            long c = pairCounts.getOrDefault(key, 0L) + (long) sign * count;
            if (c <= 0) {
                pairCounts.remove(key);
                pairWords.remove(key);
            } else {
                pairCounts.put(key, c);
                if (sign > 0) {
                    pairWords.computeIfAbsent(key, k -> new HashSet<>()).add(word);
                }
            }
        }
    }

    /** Writes {@code t} as a Hugging Face tokenizer.json (BPE model, ByteLevel pre-tokenizer and decoder). */
    public static void write(Trained t, Path file) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode root = json.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        for (int i = 0; i < t.specialTokens().size(); i++) {
            ObjectNode a = added.addObject();
            a.put("id", i);
            a.put("content", t.specialTokens().get(i));
            a.put("single_word", false);
            a.put("lstrip", false);
            a.put("rstrip", false);
            a.put("normalized", false);
            a.put("special", true);
        }
        root.putNull("normalizer");
        ObjectNode pre = root.putObject("pre_tokenizer");
        pre.put("type", "ByteLevel");
        pre.put("add_prefix_space", false);
        pre.put("trim_offsets", true);
        pre.put("use_regex", true);
        root.putNull("post_processor");
        ObjectNode dec = root.putObject("decoder");
        dec.put("type", "ByteLevel");
        dec.put("add_prefix_space", false);
        dec.put("trim_offsets", true);
        dec.put("use_regex", true);
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        model.putNull("unk_token");
        model.putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        ObjectNode vocab = model.putObject("vocab");
        Map<String, Integer> ids = new LinkedHashMap<>();
        for (int i = 0; i < t.vocab().size(); i++) {
            ids.putIfAbsent(t.vocab().get(i), i);
        }
        ids.forEach(vocab::put);
        ArrayNode merges = model.putArray("merges");
        for (String[] m : t.merges()) {
            merges.add(m[0] + " " + m[1]);
        }
        json.writerWithDefaultPrettyPrinter().writeValue(file.toFile(), root);
    }

    static String toByteChars(String s) {
        StringBuilder sb = new StringBuilder();
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
            sb.append(BYTE_TO_CHAR[b & 0xFF]);
        }
        return sb.toString();
    }

    /** GPT-2's reversible map from the 256 byte values to printable characters (no spaces or control codes). */
    static String[] bytesToUnicode() {
        String[] out = new String[256];
        boolean[] printable = new boolean[256];
        for (int b = '!'; b <= '~'; b++) {
            printable[b] = true;
        }
        for (int b = 0xA1; b <= 0xAC; b++) {
            printable[b] = true;
        }
        for (int b = 0xAE; b <= 0xFF; b++) {
            printable[b] = true;
        }
        int n = 0;
        for (int b = 0; b < 256; b++) {
            out[b] = printable[b] ? String.valueOf((char) b) : String.valueOf((char) (256 + n++));
        }
        return out;
    }
}
