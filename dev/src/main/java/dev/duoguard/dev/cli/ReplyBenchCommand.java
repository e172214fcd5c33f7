package dev.duoguard.dev.cli;

import dev.duoguard.dev.bench.DecoderReplyBench;
import dev.duoguard.dev.bench.ReplyBench;
import dev.duoguard.runtime.baseline.LexiconBaseline;
import dev.duoguard.streams.app.ModelLocator;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
        name = "reply-bench",
        mixinStandardHelpOptions = true,
        description = {
            "Streaming replies: model cost per chunk vs reply length when the growing reply is rescored, and the",
            "latency from a harmful chunk to its STOP verdict (p50/p99) through the embedded broker, registry and",
            "streams app. Prints a table and writes JSON.",
            "--decoder: instead, the decoder alternatives on a random in-process decoder classifier: rescoring,",
            "one pass with every prefix's score, and a key/value cache per open reply (cost per chunk vs length)."
        })
final class ReplyBenchCommand implements Callable<Integer> {

    @Option(names = "--model", description = "bundle directory (default: the project's default model)")
    Path model;

    @Option(names = "--lexicon", description = "score with the lexicon baseline (the pipeline's own latency)")
    boolean lexicon;

    @Option(
            names = "--lengths",
            split = ",",
            defaultValue = "250,500,1000,2000,4000",
            description = "reply lengths in characters (default: ${DEFAULT-VALUE})")
    List<Integer> lengths;

    @Option(
            names = "--chunk-chars",
            defaultValue = "20",
            description = "characters per chunk, about 5 tokens (default: ${DEFAULT-VALUE})")
    int chunkChars;

    @Option(
            names = "--score-every",
            defaultValue = "200",
            description = "replies.score-every-chars (default: ${DEFAULT-VALUE})")
    int scoreEvery;

    @Option(
            names = "--replies",
            defaultValue = "30",
            description = "replies streamed for the STOP latency; 0: model cost only (default: ${DEFAULT-VALUE})")
    int replies;

    @Option(
            names = "--chunk-gap-ms",
            defaultValue = "50",
            description = "time between two chunks of a reply (default: ${DEFAULT-VALUE})")
    int chunkGapMs;

    @Option(
            names = "--decoder",
            description = "measure the decoder alternatives instead (writes <out>-decoder.json and .png)")
    boolean decoder;

    @Option(
            names = "--decoder-lengths",
            split = ",",
            defaultValue = "64,128,256,512,1024",
            description = "with --decoder: reply lengths in tokens, at most 1024 (default: ${DEFAULT-VALUE})")
    List<Integer> decoderLengths;

    @Option(
            names = "--chunk-tokens",
            defaultValue = "5",
            description = "with --decoder: tokens per chunk (default: ${DEFAULT-VALUE})")
    int chunkTokens;

    @Option(
            names = "--score-every-tokens",
            defaultValue = "50",
            description = "with --decoder: how often the one-pass variant runs over a whole reply, about 200"
                    + " characters (default: ${DEFAULT-VALUE})")
    int scoreEveryTokens;

    @Option(
            names = "--out",
            defaultValue = "bench-results/reply-bench.json",
            description = "JSON output (default: ${DEFAULT-VALUE})")
    Path out;

    @Override
    public Integer call() throws Exception {
        if (lengths.stream().anyMatch(l -> l < 1)
                || chunkChars < 1
                || scoreEvery < 1
                || replies < 0
                || chunkGapMs < 1) {
            throw new IllegalArgumentException(
                    "--lengths, --chunk-chars, --score-every and --chunk-gap-ms must be positive, --replies not negative");
        }
        if (decoder) {
            if (chunkTokens < 1 || scoreEveryTokens < 1) {
                throw new IllegalArgumentException("--chunk-tokens and --score-every-tokens must be positive");
            }
            Path json = out.resolveSibling(out.getFileName().toString().replaceFirst("\\.json$", "") + "-decoder.json");
            return new DecoderReplyBench(System.out, decoderLengths, chunkTokens, scoreEveryTokens, json).run();
        }
        Path bundle;
        if (lexicon) {
            bundle = Files.createTempDirectory("duoguard-reply-bench-").resolve("lexicon");
            LexiconBaseline.build(bundle);
        } else {
            bundle = ModelLocator.resolve(model);
        }
        return new ReplyBench(System.out, bundle, lengths, chunkChars, scoreEvery, replies, chunkGapMs, out).run();
    }
}
