package dev.duoguard.lifecycle;

import dev.duoguard.schemas.ModelVersion;
import java.util.Objects;

/**
 * A model version's identity, {@code name@version}: the key of the version's own records on
 * {@code guardrail.models} (CANDIDATE, FAILED), the name of its attempt markers, and how logs, verdicts and the
 * CLIs name it. The ACTIVE pointer is keyed by the model name alone (see {@link ModelsTopic#isActivePointer}).
 */
public record ModelKey(String name, String version) {

    public ModelKey {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(version, "version");
    }

    public static ModelKey of(ModelVersion mv) {
        return new ModelKey(mv.getModelName(), mv.getVersion());
    }

    /**
     * The key written by {@link #toString}. Split at the last {@code @}: a version never contains one, and this
     * keeps a model name that does whole.
     */
    public static ModelKey parse(String key) {
        int at = key.lastIndexOf('@');
        if (at <= 0 || at == key.length() - 1) {
            throw new IllegalArgumentException("not a model key (name@version): '" + key + "'");
        }
        return new ModelKey(key.substring(0, at), key.substring(at + 1));
    }

    /** {@code name@version}, the record key on the models topic. */
    @Override
    public String toString() {
        return name + "@" + version;
    }
}
