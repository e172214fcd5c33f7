package dev.duoguard.trainer.engine;

import ai.djl.ndarray.NDArray;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.duoguard.trainer.hf.DType;
import dev.duoguard.trainer.hf.Safetensors;
import dev.duoguard.trainer.hf.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A model's LoRA adapters as a PEFT adapter directory: {@code adapter_config.json} and
 * {@code adapter_model.safetensors} with PEFT's tensor names ({@code base_model.model.<projection>.lora_A.weight}),
 * so {@code PeftModel.from_pretrained(base, dir)} reads what this writes, and this reads plain PEFT LoRA adapters
 * (no DoRA, rsLoRA, per-layer patterns or bias training: those are refused, not half-applied).
 */
public final class LoraAdapters {

    public static final String CONFIG = "adapter_config.json";
    public static final String WEIGHTS = "adapter_model.safetensors";

    /** What PEFT's {@code get_peft_model_state_dict} puts in front of the base model's parameter names. */
    static final String PREFIX = "base_model.model.";

    private static final ObjectMapper JSON = new ObjectMapper();

    private LoraAdapters() {}

    /**
     * Writes {@code model}'s adapters (F32) and their config to {@code dir}.
     *
     * @param baseModel the base checkpoint the adapters belong to, recorded as {@code base_model_name_or_path}
     * @throws IllegalArgumentException when the model has no adapters
     */
    public static void save(DjlTransformer model, Path dir, String baseModel) throws IOException {
        LoraConfig c = model.loraConfig();
        if (c == null) {
            throw new IllegalArgumentException("the model has no LoRA adapters to save");
        }
        Files.createDirectories(dir);
        ObjectNode config = JSON.createObjectNode()
                .put("peft_type", "LORA")
                .put("task_type", "CAUSAL_LM")
                .put("base_model_name_or_path", baseModel)
                .put("r", c.rank())
                .put("lora_alpha", c.alpha())
                .put("lora_dropout", c.dropout())
                .put("bias", "none")
                .put("fan_in_fan_out", false)
                .put("use_rslora", false)
                .put("use_dora", false)
                .put("init_lora_weights", "gaussian")
                .put("inference_mode", true);
        c.targets().forEach(config.putArray("target_modules")::add);
        JSON.writerWithDefaultPrettyPrinter().writeValue(dir.resolve(CONFIG).toFile(), config);
        List<Tensor> tensors = new ArrayList<>();
        model.loraTensors().forEach((name, t) -> tensors.add(new Tensor(PREFIX + name, t.shape(), t.data())));
        Safetensors.write(dir.resolve(WEIGHTS), tensors, DType.F32, Map.of("format", "pt"));
    }

    /**
     * Reads the adapters in {@code dir} onto {@code model} (which must have none yet), freezing its base weights.
     *
     * @return the adapters' arrays, the model's only trainable ones
     * @throws IllegalArgumentException when the directory is not a plain PEFT LoRA adapter for this model
     */
    public static List<NDArray> load(Path dir, DjlTransformer model) {
        LoraConfig config = readConfig(dir);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        Safetensors.read(dir.resolve(WEIGHTS)).forEach((name, t) -> {
            if (!name.startsWith(PREFIX)) {
                throw new IllegalArgumentException(
                        dir.resolve(WEIGHTS) + " has tensor " + name + ", not a PEFT name (" + PREFIX + "...)");
            }
            String own = name.substring(PREFIX.length());
            tensors.put(own, new Tensor(own, t.shape(), t.data()));
        });
        return model.loadLora(config, tensors);
    }

    /** The {@link LoraConfig} of the adapter directory {@code dir}. */
    public static LoraConfig readConfig(Path dir) {
        Path file = dir.resolve(CONFIG);
        JsonNode n;
        try {
            n = JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + file + ": " + e.getMessage(), e);
        }
        List<String> problems = new ArrayList<>();
        if (!"LORA".equals(n.path("peft_type").asText())) {
            problems.add("peft_type is " + n.path("peft_type") + ", not \"LORA\"");
        }
        for (String flag : List.of("use_rslora", "use_dora", "fan_in_fan_out")) {
            if (n.path(flag).asBoolean(false)) {
                problems.add(flag + " is not supported");
            }
        }
        if (!n.path("bias").asText("none").equals("none")) {
            problems.add("bias " + n.path("bias") + " is not supported (only \"none\")");
        }
        for (String pattern : List.of("layers_to_transform", "rank_pattern", "alpha_pattern", "modules_to_save")) {
            JsonNode p = n.path(pattern);
            if (!p.isMissingNode() && !p.isNull() && !p.isEmpty()) {
                problems.add(pattern + " is not supported");
            }
        }
        JsonNode targets = n.path("target_modules");
        List<String> names = new ArrayList<>();
        if (targets.isArray()) {
            targets.forEach(t -> names.add(t.asText()));
        } else {
            problems.add("target_modules must be a list of projection names (got " + targets + ")");
        }
        if (!n.path("r").isInt() || !n.path("lora_alpha").isNumber()) {
            problems.add("r (an integer) and lora_alpha (a number) are required");
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(file + ": " + String.join("; ", problems));
        }
        try {
            return new LoraConfig(
                    n.get("r").asInt(),
                    (float) n.get("lora_alpha").asDouble(),
                    (float) n.path("lora_dropout").asDouble(0),
                    names);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }
}
