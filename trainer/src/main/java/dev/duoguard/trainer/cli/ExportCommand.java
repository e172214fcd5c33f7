package dev.duoguard.trainer.cli;

import dev.duoguard.runtime.bundle.ModelBundle;
import dev.duoguard.trainer.export.BundleExporter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
        name = "export",
        mixinStandardHelpOptions = true,
        description = {
            "Turns a Hugging Face sequence-classification checkpoint directory (config.json, safetensors",
            "single or sharded in fp32/fp16/bf16, tokenizer.json; e.g. DuoGuard-0.5B as downloaded) into a",
            "model bundle the streams app serves. Decoders: Qwen2/Llama families. Encoders: BERT/MiniLM,",
            "RoBERTa, XLM-R (BertForSequenceClassification, XLMRobertaForSequenceClassification); their",
            "[CLS]/[SEP] come from tokenizer.json's post_processor. The head must have DuoGuard's 12 labels."
        })
final class ExportCommand implements Callable<Integer> {

    @Option(names = "--from", required = true, description = "Hugging Face checkpoint directory")
    Path from;

    @Option(names = "--out", required = true, description = "bundle directory to write")
    Path out;

    @Option(names = "--name", description = "model name in the manifest (default: the checkpoint directory's name)")
    String name;

    @Option(
            names = "--model-version",
            defaultValue = "1",
            description = "model version in the manifest (default: ${DEFAULT-VALUE})")
    String version;

    @Option(names = "--fp16", description = "store weight matrices in fp16: half the size, compute stays fp32")
    boolean fp16;

    @Option(
            names = "--max-tokens",
            defaultValue = "512",
            description =
                    "scoring window in tokens, special tokens included; capped by the model's positions (default: ${DEFAULT-VALUE})")
    int maxTokens;

    @Override
    public Integer call() throws Exception {
        String modelName = name != null
                ? name
                : from.toAbsolutePath().normalize().getFileName().toString();
        ModelBundle bundle = BundleExporter.export(from, out, modelName, version, fp16, maxTokens, null);
        System.out.println("wrote " + bundle + " (manifest sha256 " + bundle.manifestSha256() + ")");
        return 0;
    }
}
