package dev.duoguard.trainer.export;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.duoguard.runtime.bundle.BundleManifest;
import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.runtime.onnx.IncrementalDecoder;
import dev.duoguard.runtime.scoring.Windows;
import dev.duoguard.runtime.taxonomy.SafetyCategory;
import dev.duoguard.trainer.hf.EncoderConfig;
import dev.duoguard.trainer.hf.Qwen2Weights;
import dev.duoguard.trainer.hf.Safetensors;
import dev.duoguard.trainer.hf.Tensor;
import dev.duoguard.trainer.hf.TransformerConfig;
import dev.duoguard.trainer.tokenizer.TokenizerJson;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.Locale;
import java.util.Map;

/**
 * Turns a Hugging Face sequence-classification checkpoint directory ({@code config.json}, safetensors, single or
 * sharded, and {@code tokenizer.json}) into a model bundle the streams app serves. {@code config.json}'s
 * {@code model_type} picks the graph: Qwen2/Llama decoders ({@link OnnxClassifierExporter}) or BERT/RoBERTa/XLM-R
 * encoders ({@link OnnxEncoderExporter}): {@code model.onnx} (+ external
 * data), {@code tokenizer.json}, {@code manifest.json} with provenance and the sha256 of every file. A decoder
 * bundle also carries {@value IncrementalDecoder#MODEL_FILE} (+ its external data), the same weights as a graph with
 * a key/value cache for streamed replies ({@link OnnxClassifierExporter#exportIncremental}); the manifest lists it
 * like every other file, so its hash and the bundle's signature cover it.
 */
public final class BundleExporter {

    private static final ObjectMapper JSON = new ObjectMapper();

    private BundleExporter() {}

    public static ModelBundle export(Path hfDir, Path out, String name, String version) throws IOException {
        return export(hfDir, out, name, version, false);
    }

    /** @param fp16Weights store weight matrices in fp16 (see {@link OnnxClassifierExporter}) */
    public static ModelBundle export(Path hfDir, Path out, String name, String version, boolean fp16Weights)
            throws IOException {
        return export(hfDir, out, name, version, fp16Weights, 512, null);
    }

    /**
     * @param maxTokens  the scorer's window (a model trained on truncated items is best served with windows of the
     *                   length it was trained on); capped by the model's positions
     * @param provenance how the model was made, merged into the manifest's provenance (may be null)
     */
    public static ModelBundle export(
            Path hfDir,
            Path out,
            String name,
            String version,
            boolean fp16Weights,
            int maxTokens,
            ObjectNode provenance)
            throws IOException {
        Path configFile = hfDir.resolve("config.json");
        if (!Files.isRegularFile(configFile)) {
            throw new IllegalArgumentException(hfDir + " has no config.json: not a Hugging Face checkpoint directory");
        }
        if (EncoderConfig.isEncoder(JSON.readTree(configFile.toFile()))) {
            return exportEncoder(hfDir, out, name, version, fp16Weights, maxTokens, provenance);
        }
        TransformerConfig config = TransformerConfig.read(configFile);
        if (config.numLabels() != SafetyCategory.COUNT) {
            throw new IllegalArgumentException(hfDir + " has a head with " + config.numLabels()
                    + " labels but a bundle needs DuoGuard's " + SafetyCategory.COUNT);
        }
        Path tokenizer = hfDir.resolve(BundleManifest.TOKENIZER_FILE);
        if (!Files.isRegularFile(tokenizer)) {
            throw new IllegalArgumentException(hfDir + " has no " + BundleManifest.TOKENIZER_FILE);
        }
        Map<String, Tensor> tensors = Safetensors.readCheckpoint(hfDir);
        Qwen2Weights weights = new Qwen2Weights(config, tensors);
        Files.createDirectories(out);
        Map<String, String> metadata =
                Map.of("source", hfDir.toAbsolutePath().toString(), "model_type", config.modelType());
        OnnxClassifierExporter.export(weights, out.resolve(BundleManifest.MODEL_FILE), metadata, fp16Weights);
        OnnxClassifierExporter.exportIncremental(
                weights, out.resolve(IncrementalDecoder.MODEL_FILE), metadata, fp16Weights);
        Files.copy(tokenizer, out.resolve(BundleManifest.TOKENIZER_FILE), StandardCopyOption.REPLACE_EXISTING);

        ObjectNode shape = JsonNodeFactory.instance
                .objectNode()
                .put("model_type", config.modelType())
                .put("layers", config.layers())
                .put("hidden_size", config.hiddenSize())
                .put("heads", config.heads() + " (kv " + config.kvHeads() + ")");
        ObjectNode made = provenance(hfDir, shape, fp16Weights, provenance);
        long pad = config.padTokenId() >= 0 ? config.padTokenId() : 0;
        int window = Math.min(maxTokens, config.maxPositions());
        ModelBundle.writeManifest(
                out,
                new BundleManifest(
                        BundleManifest.FORMAT,
                        name,
                        version,
                        SafetyCategory.displayNames(),
                        0.5,
                        null,
                        window,
                        Windows.defaultOverlap(window, 0),
                        pad,
                        " ",
                        null,
                        made,
                        null));
        return ModelBundle.open(out);
    }

    /**
     * A BERT-family checkpoint ({@code BertForSequenceClassification}, {@code XLMRobertaForSequenceClassification},
     * or the project's MEAN-pooled fine-tunes): the graph from {@link OnnxEncoderExporter}, and a manifest whose
     * {@code prefix_token_ids}/{@code suffix_token_ids} come from the tokenizer's post-processor, so the scorer puts
     * {@code [CLS] ... [SEP]} around every window as the model saw in training.
     */
    private static ModelBundle exportEncoder(
            Path hfDir,
            Path out,
            String name,
            String version,
            boolean fp16Weights,
            int maxTokens,
            ObjectNode provenance)
            throws IOException {
        EncoderConfig config = EncoderConfig.read(hfDir.resolve("config.json"));
        if (config.numLabels() != SafetyCategory.COUNT) {
            throw new IllegalArgumentException(hfDir + " has a head with " + config.numLabels()
                    + " labels but a bundle needs DuoGuard's " + SafetyCategory.COUNT);
        }
        Path tokenizer = hfDir.resolve(BundleManifest.TOKENIZER_FILE);
        if (!Files.isRegularFile(tokenizer)) {
            throw new IllegalArgumentException(hfDir + " has no " + BundleManifest.TOKENIZER_FILE);
        }
        TokenizerJson.SpecialTokens special = TokenizerJson.specialTokens(tokenizer);
        int specials = special.prefix().size() + special.suffix().size();
        int window = Math.min(maxTokens, config.maxUsableTokens());
        if (window <= specials) {
            throw new IllegalArgumentException("a window of " + window + " tokens leaves no room for text next to the "
                    + specials + " special tokens of " + tokenizer + "; ask for a larger max_tokens");
        }
        Map<String, Tensor> tensors = Safetensors.readCheckpoint(hfDir);
        Files.createDirectories(out);
        OnnxEncoderExporter.export(
                config,
                tensors,
                out.resolve(BundleManifest.MODEL_FILE),
                Map.of("source", hfDir.toAbsolutePath().toString(), "model_type", config.modelType()),
                fp16Weights);
        Files.copy(tokenizer, out.resolve(BundleManifest.TOKENIZER_FILE), StandardCopyOption.REPLACE_EXISTING);

        ObjectNode shape = JsonNodeFactory.instance
                .objectNode()
                .put("model_type", config.modelType())
                .put("layers", config.layers())
                .put("hidden_size", config.hiddenSize())
                .put("heads", config.heads())
                .put("pooling", config.pooling().name().toLowerCase(Locale.ROOT));
        ObjectNode made = provenance(hfDir, shape, fp16Weights, provenance);
        // the overlap is counted in text tokens: a quarter of what a window holds besides the special tokens
        int overlap = Windows.defaultOverlap(window, specials);
        BundleManifest manifest = new BundleManifest(
                        BundleManifest.FORMAT,
                        name,
                        version,
                        SafetyCategory.displayNames(),
                        0.5,
                        null,
                        window,
                        overlap,
                        config.padTokenId(),
                        " ",
                        null,
                        made,
                        null)
                .withSpecialTokens(special.prefix(), special.suffix());
        ModelBundle.writeManifest(out, manifest);
        return ModelBundle.open(out);
    }

    /** How an exported bundle was made: the checkpoint, its shape, the weights' storage, then the caller's fields. */
    private static ObjectNode provenance(Path hfDir, ObjectNode shape, boolean fp16Weights, ObjectNode extra) {
        ObjectNode made = JsonNodeFactory.instance.objectNode();
        made.put("kind", "Hugging Face sequence-classification checkpoint exported to ONNX by project code");
        made.put("source", hfDir.toAbsolutePath().toString());
        made.setAll(shape);
        made.put("weights", fp16Weights ? "fp16 (widened to fp32 at load)" : "fp32");
        made.put("exported_at", Instant.now().toString());
        if (extra != null) {
            made.setAll(extra);
        }
        return made;
    }

    /** Rewrites the bundle's manifest with {@code metrics} (evaluation results) and returns the reopened bundle. */
    public static ModelBundle withMetrics(ModelBundle bundle, JsonNode metrics) throws IOException {
        BundleManifest m = bundle.manifest();
        ModelBundle.writeManifest(bundle.directory(), m.withFiles(null).withMetrics(metrics));
        return ModelBundle.open(bundle.directory());
    }

    /** Rewrites the bundle's manifest with another name and version and returns the reopened bundle. */
    public static ModelBundle withIdentity(ModelBundle bundle, String name, String version) throws IOException {
        BundleManifest m = bundle.manifest();
        ModelBundle.writeManifest(bundle.directory(), m.withFiles(null).withIdentity(name, version));
        return ModelBundle.open(bundle.directory());
    }
}
