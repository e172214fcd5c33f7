package dev.duoguard.trainer.cli;

import dev.duoguard.common.cli.Cli;
import dev.duoguard.runtime.bundle.InvalidBundleException;
import dev.duoguard.trainer.data.DataException;
import dev.duoguard.trainer.train.MemoryPlan;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * Entry point of the trainer jar; {@code ./duoguard} dispatches the trainer's commands here (train, eval, calibrate,
 * loop, study, trainer, export, bench-train). The closed-loop demo is the dev jar's ({@code dev.duoguard.dev.cli}).
 */
@Command(
        name = "duoguard",
        description =
                "Makes models: trains and evaluates the guardrail classifier, exports Hugging Face checkpoints to ONNX bundles.",
        subcommands = {
            TrainCommand.class,
            EvalCommand.class,
            CalibrateCommand.class,
            LoopCommand.class,
            StudyCommand.class,
            TrainerServiceCommand.class,
            ExportCommand.class,
            BenchTrainCommand.class
        })
public final class TrainerCli {

    /** The command line {@link #main} runs, with the shared help, version and error handling. */
    public static CommandLine commandLine() {
        return Cli.commandLine(
                new TrainerCli(),
                "trainer",
                Map.of(
                        DataException.class, "check the files given with --data, --input or --mapping (see --help)",
                        InvalidBundleException.class, "use a bundle directory that train or export wrote, unchanged",
                        MemoryPlan.DoesNotFit.class,
                                "a smaller --batch or --max-tokens, LoRA instead of full fine-tuning, a smaller model, "
                                        + "or --no-memory-check to start anyway"));
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }
}
