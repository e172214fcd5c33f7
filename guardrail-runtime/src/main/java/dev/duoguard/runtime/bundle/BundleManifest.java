package dev.duoguard.runtime.bundle;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import java.util.Map;

/**
 * {@code manifest.json} of a model bundle: the contract between the trainer and the streams app.
 *
 * <p>Only {@code name}, {@code version}, {@code categories} and {@code files} are required, so a hand-written
 * manifest next to a DuoGuard-0.5B exported with the standard ONNX exporter is enough. Defaults follow
 * DuoGuard (Qwen2 tokenizer, pad = eos, right padding, 512-token window, threshold 0.5).
 *
 * @param format          bundle format tag, {@value #FORMAT}
 * @param categories      output names in logit order; must equal DuoGuard's 12
 * @param thresholds      per-category decision threshold by category key or name; missing ones use {@code defaultThreshold}
 * @param maxTokens       model window in tokens; longer texts are scored in overlapping windows
 * @param windowOverlap   tokens shared by consecutive windows
 * @param padTokenId      id used to right-pad a batch (HF's sequence-classification head looks for it)
 * @param pairSeparator   how a (prompt, reply) pair is joined into one text
 * @param files           sha256 (hex) of every file in the bundle, by relative path
 * @param provenance      free-form: how the model was made
 * @param metrics         free-form: evaluation results, per language
 * @param languageThresholds per detected language (ISO 639-1): thresholds by category key or name, or {@code "*"}
 *                        for every category of that language; fitted on dev data (see the trainer's calibration),
 *                        they take precedence over {@code thresholds} for texts in that language
 * @param prefixTokenIds  token ids put before every window (BERT's {@code [CLS]}, XLM-R's {@code <s>}); none for
 *                        decoders, which classify raw text
 * @param suffixTokenIds  token ids put after every window ({@code [SEP]}, {@code </s>})
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.NON_NULL)
public record BundleManifest(
        @JsonProperty("format") String format,
        @JsonProperty("name") String name,
        @JsonProperty("version") String version,
        @JsonProperty("categories") List<String> categories,
        @JsonProperty("default_threshold") Double defaultThreshold,
        @JsonProperty("thresholds") Map<String, Double> thresholds,
        @JsonProperty("max_tokens") Integer maxTokens,
        @JsonProperty("window_overlap") Integer windowOverlap,
        @JsonProperty("pad_token_id") Long padTokenId,
        @JsonProperty("pair_separator") String pairSeparator,
        @JsonProperty("files") Map<String, String> files,
        @JsonProperty("provenance") JsonNode provenance,
        @JsonProperty("metrics") JsonNode metrics,
        @JsonProperty("language_thresholds") Map<String, Map<String, Double>> languageThresholds,
        @JsonProperty("prefix_token_ids") List<Long> prefixTokenIds,
        @JsonProperty("suffix_token_ids") List<Long> suffixTokenIds) {

    /** A manifest without language thresholds or special tokens (decoder bundles, hand-written manifests). */
    public BundleManifest(
            String format,
            String name,
            String version,
            List<String> categories,
            Double defaultThreshold,
            Map<String, Double> thresholds,
            Integer maxTokens,
            Integer windowOverlap,
            Long padTokenId,
            String pairSeparator,
            Map<String, String> files,
            JsonNode provenance,
            JsonNode metrics) {
        this(
                format,
                name,
                version,
                categories,
                defaultThreshold,
                thresholds,
                maxTokens,
                windowOverlap,
                padTokenId,
                pairSeparator,
                files,
                provenance,
                metrics,
                null,
                null,
                null);
    }

    public static final String FORMAT = "duoguard-bundle/1";
    public static final String FILE_NAME = "manifest.json";
    public static final String MODEL_FILE = "model.onnx";
    public static final String TOKENIZER_FILE = "tokenizer.json";

    public double defaultThresholdOrDefault() {
        return defaultThreshold == null ? 0.5 : defaultThreshold;
    }

    public int maxTokensOrDefault() {
        return maxTokens == null ? 512 : maxTokens;
    }

    public int windowOverlapOrDefault() {
        return windowOverlap == null ? maxTokensOrDefault() / 4 : windowOverlap;
    }

    /** Qwen2.5's {@code <|endoftext|>}, DuoGuard's pad token, when the manifest does not say. */
    public long padTokenIdOrDefault() {
        return padTokenId == null ? 151643L : padTokenId;
    }

    public String pairSeparatorOrDefault() {
        return pairSeparator == null ? " " : pairSeparator;
    }

    public Map<String, Double> thresholdsOrEmpty() {
        return thresholds == null ? Map.of() : thresholds;
    }

    public Map<String, Map<String, Double>> languageThresholdsOrEmpty() {
        return languageThresholds == null ? Map.of() : languageThresholds;
    }

    public List<Long> prefixTokenIdsOrEmpty() {
        return prefixTokenIds == null ? List.of() : prefixTokenIds;
    }

    public List<Long> suffixTokenIdsOrEmpty() {
        return suffixTokenIds == null ? List.of() : suffixTokenIds;
    }

    public BundleManifest withFiles(Map<String, String> newFiles) {
        return new BundleManifest(
                format,
                name,
                version,
                categories,
                defaultThreshold,
                thresholds,
                maxTokens,
                windowOverlap,
                padTokenId,
                pairSeparator,
                newFiles,
                provenance,
                metrics,
                languageThresholds,
                prefixTokenIds,
                suffixTokenIds);
    }

    public BundleManifest withIdentity(String newName, String newVersion) {
        return new BundleManifest(
                format,
                newName,
                newVersion,
                categories,
                defaultThreshold,
                thresholds,
                maxTokens,
                windowOverlap,
                padTokenId,
                pairSeparator,
                files,
                provenance,
                metrics,
                languageThresholds,
                prefixTokenIds,
                suffixTokenIds);
    }

    public BundleManifest withMetrics(JsonNode newMetrics) {
        return new BundleManifest(
                format,
                name,
                version,
                categories,
                defaultThreshold,
                thresholds,
                maxTokens,
                windowOverlap,
                padTokenId,
                pairSeparator,
                files,
                provenance,
                newMetrics,
                languageThresholds,
                prefixTokenIds,
                suffixTokenIds);
    }

    public BundleManifest withProvenance(JsonNode newProvenance) {
        return new BundleManifest(
                format,
                name,
                version,
                categories,
                defaultThreshold,
                thresholds,
                maxTokens,
                windowOverlap,
                padTokenId,
                pairSeparator,
                files,
                newProvenance,
                metrics,
                languageThresholds,
                prefixTokenIds,
                suffixTokenIds);
    }

    /** This manifest with other decision thresholds: global per category and per language (null: none). */
    public BundleManifest withThresholds(
            Double newDefault, Map<String, Double> perCategory, Map<String, Map<String, Double>> perLanguage) {
        return new BundleManifest(
                format,
                name,
                version,
                categories,
                newDefault,
                perCategory,
                maxTokens,
                windowOverlap,
                padTokenId,
                pairSeparator,
                files,
                provenance,
                metrics,
                perLanguage,
                prefixTokenIds,
                suffixTokenIds);
    }

    /** This manifest with special tokens around every window (encoders). */
    public BundleManifest withSpecialTokens(List<Long> prefix, List<Long> suffix) {
        return new BundleManifest(
                format,
                name,
                version,
                categories,
                defaultThreshold,
                thresholds,
                maxTokens,
                windowOverlap,
                padTokenId,
                pairSeparator,
                files,
                provenance,
                metrics,
                languageThresholds,
                prefix,
                suffix);
    }
}
