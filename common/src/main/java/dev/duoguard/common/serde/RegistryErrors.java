package dev.duoguard.common.serde;

import com.microsoft.kiota.ApiException;
import io.apicurio.registry.rest.client.models.ProblemDetails;
import java.io.IOException;
import java.util.concurrent.TimeoutException;

/** Reads the registry client's errors: Apicurio's v3 client throws Kiota ApiExceptions carrying the HTTP status. */
public final class RegistryErrors {

    private RegistryErrors() {}

    /** True when the registry answered 404 somewhere in the cause chain (e.g. an unknown schema id). */
    public static boolean isNotFound(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof ApiException a
                    && (a.getResponseStatusCode() == 404
                            || (c instanceof ProblemDetails p
                                    && Integer.valueOf(404).equals(p.getStatus())))) {
                return true;
            }
        }
        return false;
    }

    /** The HTTP status the registry answered somewhere in the cause chain; 0 when none (no answer, or no HTTP). */
    public static int status(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof ProblemDetails p && p.getStatus() != null) {
                return p.getStatus();
            }
            if (c instanceof ApiException a && a.getResponseStatusCode() > 0) {
                return a.getResponseStatusCode();
            }
        }
        return 0;
    }

    /** True when the registry did not answer at all (refused connection, timeout, TLS handshake, I/O). */
    public static boolean isUnreachable(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof IOException || c instanceof TimeoutException) {
                return true;
            }
        }
        return false;
    }

    /** A one-line description of a failure, with the registry's status and detail when there is one. */
    public static String describe(Throwable t) {
        StringBuilder sb = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (sb.length() > 0) {
                sb.append(" <- ");
            }
            if (c instanceof ProblemDetails p) {
                sb.append("registry answered ")
                        .append(p.getStatus())
                        .append(' ')
                        .append(p.getTitle())
                        .append(p.getDetail() == null ? "" : ": " + p.getDetail());
            } else {
                sb.append(c.getClass().getSimpleName()).append(": ").append(c.getMessage());
            }
        }
        return sb.toString();
    }
}
