package dev.duoguard.trainer.engine;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import java.util.function.Supplier;

/** DJL scopes for arrays made on the way to one result: a layer's temporaries, a head chunk's logits. */
public final class Scopes {

    private Scopes() {}

    /**
     * Runs {@code work} in an {@link NDScope} of its own: every array it makes is closed when it returns, except its
     * result, which is handed to the caller's scope (if any). A null result is allowed (nothing is kept).
     */
    @SuppressWarnings("try") // NDScope: arrays made inside are registered with it implicitly, never named
    public static NDArray keepOnly(Supplier<NDArray> work) {
        NDArray result;
        try (NDScope scope = new NDScope()) {
            result = work.get();
            if (result != null) {
                NDScope.unregister(result);
            }
        }
        if (result != null) {
            NDScope.register(result);
        }
        return result;
    }
}
