package dev.duoguard.trainer.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * Entry point of the trainer jar; {@code ./duoguard} dispatches the trainer's commands here (train, eval, calibrate,
 * loop, study, trainer, export, bench-train). The closed-loop demo is the dev jar's ({@code dev.duoguard.dev.cli}).
 */
@Command(name = "duoguard", mixinStandardHelpOptions = true, version = "duoguard trainer 0.1.0",
        description = "Makes models: trains and evaluates the guardrail classifier, exports Hugging Face checkpoints to ONNX bundles.",
        subcommands = {TrainCommand.class, EvalCommand.class, CalibrateCommand.class, LoopCommand.class, StudyCommand.class, TrainerServiceCommand.class, ExportCommand.class, BenchTrainCommand.class})
public final class TrainerCli implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(new CommandLine(new TrainerCli()).execute(args));
    }
}
