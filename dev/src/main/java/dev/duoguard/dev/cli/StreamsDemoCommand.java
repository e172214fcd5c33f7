package dev.duoguard.dev.cli;

import dev.duoguard.dev.demo.StreamsDemo;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
        name = "streams-demo",
        mixinStandardHelpOptions = true,
        description = {
            "The streaming half alone, on this machine: a real single-node Kafka (KRaft) in-process, a",
            "real schema registry (child process), the streams app, and a multilingual chat sample",
            "(en/fr/es/de) with reviewer feedback; prints verdicts as they arrive and a summary, then shuts",
            "everything down.",
            "The model is $DUOGUARD_MODEL if set, else the project's default bundle."
        })
final class StreamsDemoCommand implements Callable<Integer> {

    @Option(
            names = "--rate",
            defaultValue = "40",
            description = "messages per second to replay (default: ${DEFAULT-VALUE})")
    int rate;

    @Override
    public Integer call() throws Exception {
        return new StreamsDemo(System.out, rate).run();
    }
}
