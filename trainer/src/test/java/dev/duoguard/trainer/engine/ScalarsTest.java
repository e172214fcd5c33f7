package dev.duoguard.trainer.engine;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import dev.duoguard.trainer.hf.EncoderConfig;
import dev.duoguard.trainer.hf.TransformerConfig;
import dev.duoguard.trainer.loop.DpoLoss;
import dev.duoguard.trainer.train.MultiLabelLoss;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The cause of the sporadic non-finite gradients, pinned down: DJL's {@code x.mul(number)} leaves autograd holding
 * a tensor over a Java buffer it has already let go of (see {@link Scalars}). The model tests compare gradients
 * computed plainly with gradients computed after a garbage collection between the forward and the backward pass,
 * with the freed memory handed out again and filled with NaN. Before the fix every such comparison differed (some
 * gradients NaN, some silently wrong, all of them zero when the loss's own {@code pow(2)} exponent was hit).
 * One intra-op thread, so the two computations are bit for bit comparable.
 */
class ScalarsTest {

    static NDManager manager;
    static int threads;

    @BeforeAll
    static void engine() {
        Engine.getEngine("PyTorch");
        manager = NDManager.newBaseManager();
        threads = JniUtils.getNumThreads();
        JniUtils.setNumThreads(1);
    }

    @AfterAll
    static void close() {
        JniUtils.setNumThreads(threads);
        manager.close();
    }

    /**
     * The library behaviour itself, without the garbage collector: a number's 0-d tensor wraps a Java direct buffer
     * (no copy), and the backward pass of a product reads that buffer after the tensor was closed. DJL's
     * {@code mul(Number)} does exactly this with a buffer of its own that nothing keeps alive. Should this test
     * fail after a DJL upgrade, DJL copies now and {@link Scalars} may go.
     */
    @Test
    void djlsBackwardPassReadsTheBufferOfAClosedScalarOperand() {
        try (NDManager m = manager.newSubManager()) {
            NDArray w = m.create(new float[] {1f, 2f});
            w.setRequiresGradient(true);
            ByteBuffer three =
                    ByteBuffer.allocateDirect(4).order(ByteOrder.nativeOrder()).putFloat(0, 3f);
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray product;
                try (NDArray s = m.create(three, new Shape(), DataType.FLOAT32)) {
                    product = w.mul(s).sum();
                }
                three.putFloat(0, 5f); // what a reuse of the freed memory would do
                gc.backward(product);
            }
            assertThat(w.getGradient().toFloatArray()).as("d(3w)/dw read as 5").containsExactly(5f, 5f);
        }
    }

    @Test
    void scalarsComputeWhatDjlsNumberOperationsCompute() {
        try (NDManager m = manager.newSubManager()) {
            NDArray x = m.create(new float[] {-2.5f, -0.3f, 0.7f, 1.9f, 3.1e-3f, 12345.678f});
            double scale = 1 / Math.sqrt(48);
            assertThat(Scalars.mul(x, scale).toFloatArray())
                    .containsExactly(x.mul(scale).toFloatArray());
            assertThat(Scalars.mul(x, 0.4f).toFloatArray())
                    .containsExactly(x.mul(0.4f).toFloatArray());
            assertThat(Scalars.div(x, 3).toFloatArray())
                    .containsExactly(x.div(3f).toFloatArray());
            assertThat(Scalars.pow(x, 2).toFloatArray())
                    .containsExactly(x.pow(2).toFloatArray());
            NDArray positive = x.abs();
            assertThat(Scalars.pow(positive, -1).toFloatArray())
                    .containsExactly(positive.pow(-1).toFloatArray());
        }
    }

    @Test
    void decoderGradientsDoNotDependOnTheGarbageCollector() {
        TransformerConfig tiny = TransformerConfig.preset("tiny", 300, 12, 0);
        try (DjlTransformer model = DjlTransformer.random(tiny, manager, true, false, 1);
                NDManager m = manager.newSubManager()) {
            List<NDArray> params = new ArrayList<>(model.addLora(LoraConfig.of(4, 8f), 3)); // scale
            params.addAll(model.trainable(name -> !name.equals("model.embed_tokens.weight")));
            NDArray ids = m.create(new long[][] {{5, 9, 200, 7, 0}, {11, 3, 250, 0, 0}, {42, 43, 44, 45, 46}});
            NDArray mask = m.create(new long[][] {{1, 1, 1, 1, 0}, {1, 1, 1, 0, 0}, {1, 1, 1, 1, 1}});
            NDArray target = m.full(new Shape(3, 12), 0.1f);
            assertGarbageCollectionChangesNoGradient(
                    params,
                    () -> Scalars.pow(
                                    Activation.sigmoid(model.classify(ids, mask))
                                            .sub(target),
                                    2)
                            .mean());
        }
    }

    @Test
    void encoderGradientsDoNotDependOnTheGarbageCollector() {
        EncoderConfig c = EncoderConfig.parse(DjlEncoderTest.configJson("bert", 2, 3));
        long[][][] batch = DjlEncoderTest.batch(c, 7);
        try (DjlEncoder model = DjlEncoder.random(c, manager, 3);
                NDManager m = manager.newSubManager()) {
            List<NDArray> params = model.trainable(name -> true);
            NDArray ids = m.create(batch[0]);
            NDArray mask = m.create(batch[1]);
            NDArray positive = m.create(new float[][] {{1, 0, 0}, {0, 0, 0}, {0, 1, 1}});
            NDArray unknown = m.create(new float[] {0, 0, 1});
            assertGarbageCollectionChangesNoGradient(
                    params, () -> MultiLabelLoss.loss(model.classify(ids, mask), positive, unknown));
        }
    }

    @Test
    void dpoLossGradientsDoNotDependOnTheGarbageCollector() {
        try (NDManager m = manager.newSubManager()) {
            NDArray chosen = m.create(new float[] {-12.5f, -30.25f});
            NDArray rejected = m.create(new float[] {-11f, -28f});
            List<NDArray> params = List.of(chosen, rejected);
            params.forEach(p -> p.setRequiresGradient(true));
            NDArray refChosen = m.create(new float[] {-13f, -29f});
            NDArray refRejected = m.create(new float[] {-10.5f, -28.5f});
            NDArray tokens = m.create(new float[] {5f, 9f});
            assertGarbageCollectionChangesNoGradient(
                    params, () -> DpoLoss.loss(chosen, rejected, refChosen, refRejected, tokens, 0.1f, 0.4f));
        }
    }

    /** Gradients of {@code loss} computed plainly, then three times with freed memory reused in between: all equal. */
    private static void assertGarbageCollectionChangesNoGradient(List<NDArray> params, Supplier<NDArray> loss) {
        List<float[]> plain = gradients(params, loss, false);
        for (int trial = 0; trial < 3; trial++) {
            List<float[]> churned = gradients(params, loss, true);
            for (int i = 0; i < plain.size(); i++) {
                assertThat(churned.get(i))
                        .as("trial %d, gradient of parameter %d", trial, i)
                        .containsExactly(plain.get(i));
            }
        }
    }

    private static List<float[]> gradients(List<NDArray> params, Supplier<NDArray> loss, boolean reuseFreedMemory) {
        long liveBuffers = directBuffers().getCount();
        List<ByteBuffer> nan = List.of();
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            NDArray l = loss.get();
            if (reuseFreedMemory) {
                nan = reuseFreedMemory(liveBuffers);
            }
            gc.backward(l);
        }
        Reference.reachabilityFence(nan);
        List<float[]> out = new ArrayList<>();
        params.forEach(p -> out.add(p.getGradient().toFloatArray()));
        Gradients.zero(params);
        return out;
    }

    /**
     * Collects garbage until the direct buffers the forward pass dropped are freed (the pool is back to
     * {@code liveBuffers}, or 10 s passed), then takes small buffers from malloc, which hands out the freed memory
     * first, and fills them with NaN. Returns them: they must stay alive until the backward pass has run.
     */
    private static List<ByteBuffer> reuseFreedMemory(long liveBuffers) {
        BufferPoolMXBean pool = directBuffers();
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (pool.getCount() > liveBuffers && System.nanoTime() < deadline) {
            System.gc();
        }
        List<ByteBuffer> out = new ArrayList<>();
        for (int i = 0; i < 1000; i++) {
            out.add(ByteBuffer.allocateDirect(4).order(ByteOrder.nativeOrder()).putFloat(0, Float.NaN));
        }
        return out;
    }

    private static BufferPoolMXBean directBuffers() {
        return ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class).stream()
                .filter(p -> p.getName().equals("direct"))
                .findFirst()
                .orElseThrow();
    }
}
