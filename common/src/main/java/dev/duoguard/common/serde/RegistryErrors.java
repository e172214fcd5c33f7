package dev.duoguard.common.serde;

import com.microsoft.kiota.ApiException;
import io.apicurio.registry.rest.client.models.ProblemDetails;

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
