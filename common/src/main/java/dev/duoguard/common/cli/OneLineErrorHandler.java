package dev.duoguard.common.cli;

import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.util.Map;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.IExecutionExceptionHandler;
import picocli.CommandLine.ParseResult;

/**
 * A command that fails prints one line on stderr: {@code duoguard train: <problem>; fix: <fix>}, and exits
 * {@value Cli#ERROR}. For a user-facing exception (a registered type, or an {@link IllegalArgumentException} from
 * validation) the stack trace goes to the log at DEBUG only: the log is stderr too (slf4j-simple), and the trace of
 * a wrong path or config key would bury the line. Any other exception is a bug: its trace is logged at ERROR.
 * {@code -Dorg.slf4j.simpleLogger.log.dev.duoguard.common.cli=debug} shows every trace.
 */
final class OneLineErrorHandler implements IExecutionExceptionHandler {

    private static final Logger log = LoggerFactory.getLogger(OneLineErrorHandler.class);

    private final Map<Class<? extends Throwable>, String> fixes;

    OneLineErrorHandler(Map<Class<? extends Throwable>, String> fixes) {
        this.fixes = Map.copyOf(fixes);
    }

    @Override
    public int handleExecutionException(Exception ex, CommandLine command, ParseResult parsed) {
        String name = command.getCommandSpec().qualifiedName();
        Throwable problem = unwrap(ex);
        String fix = fixFor(problem);
        if (fix == null && problem instanceof IllegalArgumentException) {
            fix = "see '" + name + " --help'";
        }
        if (fix != null) {
            log.debug("{} failed", name, ex);
            command.getErr().println(name + ": " + oneLine(describe(problem)) + "; fix: " + fix);
        } else {
            log.error("{} failed", name, ex);
            command.getErr()
                    .println(name + ": unexpected " + oneLine(problem.toString())
                            + "; this is a bug: the stack trace is in the log above");
        }
        command.getErr().flush();
        return Cli.ERROR;
    }

    /** Wrappers from threads and futures carry the problem as their cause. */
    private static Throwable unwrap(Throwable t) {
        while ((t instanceof ExecutionException
                        || t instanceof CompletionException
                        || t instanceof UncheckedIOException)
                && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    /** The fix registered for the type or its nearest supertype; null when none is. */
    private String fixFor(Throwable t) {
        for (Class<?> type = t.getClass(); type != null; type = type.getSuperclass()) {
            String fix = fixes.get(type);
            if (fix != null) {
                return fix;
            }
        }
        return null;
    }

    /** The message, except where the JDK's is only a path. */
    private static String describe(Throwable t) {
        if (t instanceof NoSuchFileException) {
            return "no such file or directory: " + t.getMessage();
        }
        if (t instanceof AccessDeniedException) {
            return "permission denied: " + t.getMessage();
        }
        return t.getMessage() != null ? t.getMessage() : t.getClass().getSimpleName();
    }

    static String oneLine(String text) {
        return text.strip().replaceAll("\\s*\\R\\s*", " ");
    }
}
