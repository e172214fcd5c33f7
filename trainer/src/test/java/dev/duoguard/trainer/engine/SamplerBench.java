package dev.duoguard.trainer.engine;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Measurement, not a check (no timed assertion): one generation step's token choice at Qwen's vocabulary (151,936)
 * for the loop's 64 rows and for one row, on the host (logits copied out, drawn in Java) and on the device
 * ({@code Sampler.onDevice}: only the ids come back, what a GPU runs). Run with
 * {@code ./mvnw -o -B -pl trainer -am test -Dtest=SamplerBench -Dsurefire.failIfNoSpecifiedTests=false -Dduoguard.bench=true}.
 */
@EnabledIfSystemProperty(named = "duoguard.bench", matches = "true")
class SamplerBench {

    static final int VOCAB = 151_936;

    @Test
    @SuppressWarnings("try") // NDScope: arrays made inside are registered with it implicitly
    void hostVersusDevice() {
        System.out.printf("device: %s%n", Engine.getInstance().defaultDevice());
        for (int rows : new int[] {64, 1}) {
            Random r = new Random(1);
            float[] values = new float[rows * VOCAB];
            for (int i = 0; i < values.length; i++) {
                values[i] = (float) (r.nextGaussian() * 3);
            }
            try (NDManager m = NDManager.newBaseManager()) {
                NDArray logits = m.create(values, new Shape(rows, VOCAB));
                for (float topP : new float[] {1f, 0.95f}) {
                    Sampler device = new Sampler(0.9f, topP, 1, 1, Set.of(), 0);
                    double hostMs = time(() -> device.pick(logits, new Random(2))); // the CPU's path: copy + Java
                    double deviceMs = time(() -> {
                        try (NDScope step = new NDScope()) { // frees the temporaries, as Generator does
                            device.onDevice(logits, new Random(2));
                        }
                    });
                    System.out.printf(
                            "%d rows x %,d, t 0.9, top-p %.2f: host %.2f ms, device %.2f ms per step%n",
                            rows, VOCAB, topP, hostMs, deviceMs);
                    assertThat(hostMs).isPositive();
                }
            }
        }
    }

    /** Median of 9 timed runs after 3 warm-ups, in milliseconds. */
    static double time(Runnable step) {
        for (int i = 0; i < 3; i++) {
            step.run();
        }
        double[] ms = new double[9];
        for (int i = 0; i < ms.length; i++) {
            long t0 = System.nanoTime();
            step.run();
            ms[i] = (System.nanoTime() - t0) / 1e6;
        }
        Arrays.sort(ms);
        return ms[ms.length / 2];
    }
}
