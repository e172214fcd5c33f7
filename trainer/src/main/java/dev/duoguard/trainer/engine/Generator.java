package dev.duoguard.trainer.engine;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Batched sampling from a causal LM with a KV cache. All samples of all prompts run as one batch: prompts are
 * left-padded so every row's next token lands in the same column; the prompt is run once (prefill) and each step
 * then feeds one token per row, attending over the cache, so a step's cost does not grow with a new full pass.
 */
public final class Generator {

    private final DjlTransformer model;

    public Generator(DjlTransformer model) {
        if (!model.parameters().containsKey("lm_head.weight") && !model.config().tieWordEmbeddings()) {
            throw new IllegalArgumentException("the model has no LM head (load it with lmHead=true)");
        }
        this.model = model;
    }

    /** For each prompt, {@code samplesPerPrompt} continuations (token ids after the prompt, stop token excluded). */
    public List<List<long[]>> generate(List<long[]> prompts, Sampler s) {
        return generate(prompts, s, null);
    }

    /** As {@link #generate(List, Sampler)}; {@code stepLogits}, when given, receives each step's logits (tests). */
    @SuppressWarnings("try") // NDScope: arrays made inside are registered with it implicitly, never named
    List<List<long[]>> generate(List<long[]> prompts, Sampler s, List<float[][]> stepLogits) {
        int n = s.samplesPerPrompt();
        int rows = prompts.size() * n;
        int width = prompts.stream().mapToInt(p -> p.length).max().orElseThrow();
        long[][] ids = new long[rows][width];
        long[][] mask = new long[rows][width];
        for (int r = 0; r < rows; r++) {
            long[] prompt = prompts.get(r / n);
            if (prompt.length == 0) {
                throw new IllegalArgumentException("prompt " + r / n + " is empty");
            }
            System.arraycopy(prompt, 0, ids[r], width - prompt.length, prompt.length); // left padding
            for (int t = width - prompt.length; t < width; t++) {
                mask[r][t] = 1;
            }
        }
        Random random = new Random(s.seed());
        List<List<Long>> out = new ArrayList<>(rows);
        boolean[] done = new boolean[rows];
        for (int r = 0; r < rows; r++) {
            out.add(new ArrayList<>());
        }
        NDManager root = model.parameterArrays().iterator().next().getManager();
        // the cache's keys and values are made on the model's manager (an operation's result lands on its first
        // operand's): closed here, or the last step's cache would stay there until the model closes
        DjlTransformer.KvCache cache = model.newCache();
        try (NDManager m = root.newSubManager()) {
            NDArray next = m.create(ids);
            NDArray nextMask = m.create(mask);
            int finished = 0;
            for (int step = 0; step < s.maxNewTokens() && finished < rows; step++) {
                List<NDArray> previous = cache.arrays();
                long[] picked;
                // every temporary of the step is freed when the scope closes; only the new cache survives
                try (NDScope scope = new NDScope()) {
                    NDArray h = model.forward(next, nextMask, cache); // (R, Tnew, D)
                    long tNew = h.getShape().get(1);
                    NDArray logits = model.lmHead(h.get(":, " + (tNew - 1) + ", :")); // (R, V)
                    picked = s.pick(logits, random); // on the device: only the R ids come back
                    if (stepLogits != null) {
                        stepLogits.add(rowsOf(logits.toFloatArray(), rows));
                    }
                    cache.arrays().forEach(NDScope::unregister);
                }
                previous.forEach(NDArray::close); // superseded by the concat
                long[][] chosen = new long[rows][1];
                long[][] ones = new long[rows][1];
                for (int r = 0; r < rows; r++) {
                    long token = done[r] ? 0 : picked[r];
                    chosen[r][0] = token;
                    ones[r][0] = 1;
                    if (!done[r]) {
                        if (s.stopTokens().contains(token)) {
                            done[r] = true;
                            finished++;
                        } else {
                            out.get(r).add(token);
                        }
                    }
                }
                next = m.create(chosen);
                nextMask = m.create(ones);
            }
        } finally {
            cache.arrays().forEach(NDArray::close);
        }
        List<List<long[]>> result = new ArrayList<>();
        for (int p = 0; p < prompts.size(); p++) {
            List<long[]> samples = new ArrayList<>(n);
            for (int k = 0; k < n; k++) {
                samples.add(
                        out.get(p * n + k).stream().mapToLong(Long::longValue).toArray());
            }
            result.add(samples);
        }
        return result;
    }

    private static float[][] rowsOf(float[] flat, int rows) {
        int vocab = flat.length / rows;
        float[][] out = new float[rows][vocab];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(flat, r * vocab, out[r], 0, vocab);
        }
        return out;
    }
}
