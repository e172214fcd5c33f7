package dev.duoguard.trainer.loop;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import dev.duoguard.runtime.tokenizer.GuardrailTokenizer;
import dev.duoguard.trainer.data.Example;
import dev.duoguard.trainer.engine.DjlTransformer;
import dev.duoguard.trainer.hf.CausalLmCheckpoint;
import dev.duoguard.trainer.hf.ChatTemplate;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * The paper's LLM-as-judge step: an instruction-tuned checkpoint rates each generated sample 1–5 for how well it is
 * what the generator was asked for (the requested label, categories and language), with the judge prompt of
 * {@value GeneratorPrompts#PROMPTS_RESOURCE} ("judge") rendered by the judge's own chat template.
 *
 * <p>The rating is read by constrained scoring, not by generation: one forward pass over the prompt, the next-token
 * logits of the digit tokens "1".."5" only, softmax over those five, and the <b>expected rating</b> Σ p(k)·k. That
 * is deterministic, cannot answer anything but a rating, and keeps the judge's uncertainty: a judge torn between 2
 * and 5 gives 3.5, which argmax would round to whichever side won by a hair.
 *
 * <p>A sample rated below {@code minRating} is dropped. For an unsafe request the reason is {@code refusal}: the
 * judge says the text is not unsafe, which is what an aligned generator's refusal (or its harmless rewrite of the
 * request) is, and exactly the sample the classifier "misses" and DPO would then prefer. A second signal, for unsafe
 * requests only: a sample that opens with a stock refusal ({@link #opensWithRefusal}) is dropped as {@code refusal}
 * whatever its rating (a judge that is the aligned generator itself may rate its own refusals well). For a safe
 * request a low rating is {@code off_label}.
 *
 * <p>The judge is a frozen copy of the checkpoint, also when it is the generator's: the generator changes with every
 * DPO update, and a judge that learns what the generator learns stops judging. When the generator trains LoRA
 * adapters on that same checkpoint, its base with the adapters switched off <i>is</i> that frozen copy, so the
 * judge shares the generator's weights ({@link #onBase}) instead of holding a second copy in memory.
 */
public final class LlmRater implements AutoCloseable {

    /** The paper gives no threshold; 4 keeps what the judge calls mostly or clearly on label. */
    public static final double DEFAULT_MIN_RATING = 4.0;

    public static final String REFUSAL = "refusal";
    public static final String OFF_LABEL = "off_label";

    /** Rows per forward pass. */
    static final int BATCH = 8;

    /**
     * Stock openings of a refusal in the loop's default languages (en, fr, es, de): an apology or "I cannot help /
     * write ...". Only the start of a sample is checked, and only for unsafe requests: a safe prompt may well begin
     * with "I'm sorry".
     */
    private static final Pattern REFUSAL_OPENING = Pattern.compile(
            "^[\\s\"'«“]*(?:"
                    + "(?:i'm|i am) sorry|sorry, (?:but )?i|as an ai\\b"
                    + "|i (?:can't|cannot|can not|won't|will not|am unable to|'m unable to|am not able to) "
                    + "(?:help|assist|provide|create|write|generate|comply|fulfil)"
                    + "|(?:je suis )?désolée?\\b|je ne peux pas (?:vous |t')?(?:aider|fournir|créer|écrire|générer)"
                    + "|lo siento|no puedo (?:ayudar|proporcionar|crear|escribir|generar)"
                    + "|es tut mir leid|ich kann (?:ihnen |dir )?(?:dabei |hierbei )?nicht (?:helfen|behilflich)"
                    + ")",
            Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE);

    /** A sample's rating and why it is dropped (null: kept). */
    public record Verdict(double rating, String dropReason) {}

    private final ChatGenerator judge;
    private final boolean owned;
    private final ChatTemplate template;
    private final long[] digitIds;
    private final double minRating;

    private LlmRater(ChatGenerator judge, boolean owned, ChatTemplate template, long[] digitIds, double minRating) {
        this.judge = judge;
        this.owned = owned;
        this.template = template;
        this.digitIds = digitIds;
        this.minRating = minRating;
    }

    /** The judge checkpoint in {@code dir} in fp32: see {@link #load(Path, DataType, NDManager, double, Clock)}. */
    public static LlmRater load(Path dir, NDManager manager, double minRating, Clock clock) {
        return load(dir, DataType.FLOAT32, manager, minRating, clock);
    }

    /**
     * Loads the judge checkpoint in {@code dir} (a Qwen2 or Llama chat checkpoint, as for the generator), its weights
     * held and computed in {@code type} (FLOAT32 or FLOAT16: the judge never trains).
     *
     * @throws IllegalArgumentException when the checkpoint is unusable or its tokenizer does not write each of the
     *     digits 1..5 as one token
     */
    public static LlmRater load(Path dir, DataType type, NDManager manager, double minRating, Clock clock) {
        ChatGenerator judge = ChatGenerator.load(dir, dir, type, manager, Integer.MAX_VALUE, clock);
        try {
            var c = judge.checkpoint();
            return new LlmRater(
                    judge,
                    true,
                    new ChatTemplate(c.chatTemplate(), c.bosToken(), c.eosToken(), clock),
                    digitIds(dir, judge.tokenizer()),
                    minRating);
        } catch (RuntimeException e) {
            judge.close();
            throw e;
        }
    }

    /**
     * The judge as {@code generator}'s base: the generator's own weights, forwarded with its LoRA adapters switched
     * off while it rates, so no second copy is loaded. LoRA DPO never changes the base, so this judges as a copy of
     * the checkpoint would. Closing the judge leaves the generator open.
     *
     * @throws IllegalArgumentException when the generator has no adapters (its weights move with DPO) or its
     *     tokenizer does not write each digit 1..5 as one token
     */
    public static LlmRater onBase(ChatGenerator generator, double minRating, Clock clock) {
        if (generator.model().loraConfig() == null) {
            throw new IllegalArgumentException("the generator has no LoRA adapters: its weights change with every DPO "
                    + "update, so the judge must be a copy of its own");
        }
        var c = generator.checkpoint();
        return new LlmRater(
                generator,
                false,
                new ChatTemplate(c.chatTemplate(), c.bosToken(), c.eosToken(), clock),
                digitIds(c.dir(), generator.tokenizer()),
                minRating);
    }

    /**
     * Checks, without loading weights, that {@code dir} can judge: a chat checkpoint whose tokenizer writes each
     * digit 1..5 as one token.
     *
     * @throws IllegalArgumentException naming the file and what is wrong
     */
    public static void check(Path dir) {
        CausalLmCheckpoint.read(dir);
        try (GuardrailTokenizer tokenizer = GuardrailTokenizer.load(dir.resolve(CausalLmCheckpoint.TOKENIZER))) {
            digitIds(dir, tokenizer);
        }
    }

    private static long[] digitIds(Path dir, GuardrailTokenizer tokenizer) {
        long[] digits = new long[5];
        for (int k = 1; k <= 5; k++) {
            long[] ids = tokenizer.encode(Integer.toString(k));
            if (ids.length != 1) {
                throw new IllegalArgumentException(dir.resolve(CausalLmCheckpoint.TOKENIZER) + " writes the digit " + k
                        + " as " + ids.length + " tokens; the judge's rating is read from one digit token each");
            }
            digits[k - 1] = ids[0];
        }
        return digits;
    }

    /** The judge's messages for {@code sample}, generated for {@code seed} in {@code targetLang}. */
    public static List<ChatTemplate.Message> messages(Example seed, String targetLang, String sample) {
        JsonNode judge = GeneratorPrompts.PROMPTS.path("judge");
        Map<String, String> values = Map.of(
                "{label}",
                seed.unsafe() ? "unsafe" : "safe",
                "{kind}",
                seed.unsafe() ? "a toxic prompt" : "a safe prompt",
                "{language}",
                GeneratorPrompts.name(targetLang),
                "{categories}",
                seed.categories().isEmpty()
                        ? "none"
                        : seed.categories().stream()
                                .map(SafetyCategory::displayName)
                                .sorted()
                                .collect(Collectors.joining(", ")));
        return List.of(
                new ChatTemplate.Message("system", fill(judge.path("system").asText(), values, sample)),
                new ChatTemplate.Message("user", fill(judge.path("user").asText(), values, sample)));
    }

    /** The sample goes in last, so that a sample which happens to contain "{label}" stays as it is. */
    private static String fill(String template, Map<String, String> values, String sample) {
        String out = template;
        for (Map.Entry<String, String> v : values.entrySet()) {
            out = out.replace(v.getKey(), v.getValue());
        }
        return out.replace("{sample}", sample);
    }

    /** The judge prompt as the model sees it: the chat template's rendering, ending where the reply begins. */
    public String prompt(Example seed, String targetLang, String sample) {
        return template.render(messages(seed, targetLang, sample), true);
    }

    /** One verdict per sample, in order. */
    public List<Verdict> rate(Example seed, String targetLang, List<String> samples) {
        List<String> prompts = new ArrayList<>(samples.size());
        samples.forEach(s -> prompts.add(prompt(seed, targetLang, s)));
        double[] ratings = ratings(prompts);
        List<Verdict> out = new ArrayList<>(samples.size());
        for (int i = 0; i < samples.size(); i++) {
            out.add(new Verdict(ratings[i], dropReason(seed.unsafe(), samples.get(i), ratings[i])));
        }
        return out;
    }

    String dropReason(boolean unsafeRequest, String sample, double rating) {
        if (unsafeRequest && (rating < minRating || opensWithRefusal(sample))) {
            return REFUSAL;
        }
        return rating < minRating ? OFF_LABEL : null;
    }

    static boolean opensWithRefusal(String sample) {
        return REFUSAL_OPENING
                .matcher(sample.replace('’', '\'').toLowerCase(Locale.ROOT))
                .find();
    }

    /** The expected rating after each prompt; prompts run {@value #BATCH} at a time, right-padded. */
    @SuppressWarnings("try") // NDScope: arrays made inside are registered with it implicitly, never named
    double[] ratings(List<String> prompts) {
        DjlTransformer model = judge.model();
        NDManager root = model.parameterArrays().iterator().next().getManager();
        double[] out = new double[prompts.size()];
        for (int start = 0; start < prompts.size(); start += BATCH) {
            List<long[]> rows = new ArrayList<>();
            prompts.subList(start, Math.min(prompts.size(), start + BATCH))
                    .forEach(p -> rows.add(judge.tokenizer().encode(p)));
            int width = rows.stream().mapToInt(r -> r.length).max().orElseThrow();
            long[] ids = new long[rows.size() * width];
            long[] mask = new long[rows.size() * width];
            Arrays.fill(ids, model.padTokenId());
            for (int r = 0; r < rows.size(); r++) {
                System.arraycopy(rows.get(r), 0, ids, r * width, rows.get(r).length);
                Arrays.fill(mask, r * width, r * width + rows.get(r).length, 1L);
            }
            float[] logits;
            int vocab;
            try (NDManager m = root.newSubManager();
                    NDScope scope = new NDScope()) {
                Shape shape = new Shape(rows.size(), width);
                // the base alone when the judge shares a LoRA-adapted generator (a judge of its own has no adapters)
                NDArray next = model.withAdaptersOff(() -> {
                    NDArray h = model.hidden(m.create(ids, shape), m.create(mask, shape)); // (B, T, D)
                    NDList last = new NDList();
                    for (int r = 0; r < rows.size(); r++) {
                        last.add(h.get(r).get(rows.get(r).length - 1)); // right padding: the prompt's last token
                    }
                    return model.lmHead(NDArrays.stack(last)); // (B, V): the first token of the reply
                });
                vocab = (int) next.getShape().get(1);
                logits = next.toFloatArray();
            }
            for (int r = 0; r < rows.size(); r++) {
                float[] digits = new float[5];
                for (int k = 0; k < 5; k++) {
                    digits[k] = logits[r * vocab + (int) digitIds[k]];
                }
                out[start + r] = expectedRating(digits);
            }
        }
        return out;
    }

    /** Σ p(k)·k for k = 1..5, p the softmax of the five digits' logits (the rest of the vocabulary left out). */
    static double expectedRating(float[] digitLogits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float l : digitLogits) {
            max = Math.max(max, l);
        }
        double sum = 0;
        double weighted = 0;
        for (int k = 0; k < digitLogits.length; k++) {
            double e = Math.exp(digitLogits[k] - max);
            sum += e;
            weighted += e * (k + 1);
        }
        return weighted / sum;
    }

    public double minRating() {
        return minRating;
    }

    /** The type the judge's weights are held and computed in (the generator's when it judges on its base). */
    public DataType dataType() {
        return judge.model().dataType();
    }

    @Override
    public void close() {
        if (owned) {
            judge.close();
        }
    }
}
