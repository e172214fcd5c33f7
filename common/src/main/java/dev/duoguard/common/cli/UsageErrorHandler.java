package dev.duoguard.common.cli;

import picocli.CommandLine;
import picocli.CommandLine.IParameterExceptionHandler;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.UnmatchedArgumentException;

/**
 * A bad command line prints one line on stderr: {@code duoguard score: Unknown option: '--bogus'; see 'duoguard
 * score --help'}, with picocli's "did you mean" in the same line, and exits {@value Cli#USAGE}. picocli's own
 * handler prints the whole usage message, which hides the line that matters.
 */
final class UsageErrorHandler implements IParameterExceptionHandler {

    @Override
    public int handleParseException(ParameterException ex, String[] args) {
        CommandLine command = ex.getCommandLine();
        // picocli checks required options and parameters before it reports unknown ones, so `export --form DIR` would
        // say that --from is missing; the unknown option is the cause, and picocli knows a suggestion for it
        if (!(ex instanceof UnmatchedArgumentException)
                && !command.getUnmatchedArguments().isEmpty()) {
            ex = new UnmatchedArgumentException(command, command.getUnmatchedArguments());
        }
        String problem = OneLineErrorHandler.oneLine(ex.getMessage());
        if (ex instanceof UnmatchedArgumentException unmatched
                && !unmatched.getSuggestions().isEmpty()) {
            problem += "; did you mean " + String.join(" or ", unmatched.getSuggestions()) + "?";
        }
        command.getErr()
                .println(command.getCommandSpec().qualifiedName() + ": " + problem + "; see '"
                        + command.getCommandSpec().qualifiedName() + " --help'");
        command.getErr().flush();
        return Cli.USAGE;
    }
}
