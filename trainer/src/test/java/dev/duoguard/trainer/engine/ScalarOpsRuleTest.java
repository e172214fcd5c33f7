package dev.duoguard.trainer.engine;

import static org.assertj.core.api.Assertions.assertThat;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.domain.JavaMethodCall;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.core.importer.Location;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * Keeps DJL's constant-operand ops ({@code x.mul(Number)}, {@code div}, {@code pow}) out of differentiable code:
 * DJL frees the constant before the backward pass reads it (see {@link Scalars}), so a new {@code x.mul(0.5f)} on
 * a path a loss is computed from would bring back sporadic wrong gradients silently, and {@code ScalarsTest} only
 * covers the paths it runs. The methods below use them on arrays no gradient flows through; each says why. A new
 * use goes through {@link Scalars}, or onto this list with its reason.
 */
class ScalarOpsRuleTest {

    private static final Map<String, String> SAFE = Map.of(
            "DjlEncoder.hidden", "the attention bias from the padding mask (no gradient: the mask is input)",
            "DjlTransformer.inputs", "the causal/padding attention bias (no gradient: built from the mask)",
            "DjlTransformer.toTensors", "merging LoRA into the weights for export (no autograd)",
            "TrainingStep.sgd", "the update itself (runs with autograd off)",
            "AdamW.step", "the update itself (runs with autograd off)",
            "ClassifierTrainer.itemLogits", "integer index arithmetic for the window-to-item max (no gradient)",
            "MultiLabelLoss.logOnePlusSumExp", "masking with the label mask (no gradient: labels are input)");

    @Test
    void constantsEnterDifferentiableMathOnlyThroughScalars() {
        JavaClasses trainer = new ClassFileImporter()
                .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importLocations(Set.of(Location.of(
                        Scalars.class.getProtectionDomain().getCodeSource().getLocation())));
        Set<String> callers = new TreeSet<>();
        trainer.forEach(c -> c.getMethodCallsFromSelf().stream()
                .filter(ScalarOpsRuleTest::isConstantOperandOp)
                .map(call -> call.getOriginOwner().getSimpleName() + "."
                        + call.getOrigin().getName())
                .filter(caller -> !caller.startsWith(Scalars.class.getSimpleName() + "."))
                .forEach(callers::add));
        assertThat(callers)
                .as("NDArray.mul/div/pow(Number) outside Scalars: use Scalars, or list the method with "
                        + "the reason no gradient flows through it")
                .isSubsetOf(SAFE.keySet());
        assertThat(SAFE.keySet())
                .as("listed methods that no longer use them (drop them from the list)")
                .isSubsetOf(callers);
    }

    private static boolean isConstantOperandOp(JavaMethodCall call) {
        return call.getTargetOwner().getFullName().equals("ai.djl.ndarray.NDArray")
                && Set.of("mul", "div", "pow").contains(call.getName())
                && call.getTarget().getRawParameterTypes().size() == 1
                && call.getTarget().getRawParameterTypes().get(0).getFullName().equals(Number.class.getName());
    }
}
