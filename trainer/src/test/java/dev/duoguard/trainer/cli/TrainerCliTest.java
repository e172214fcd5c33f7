package dev.duoguard.trainer.cli;

import dev.duoguard.common.cli.EntryPointChecks;
import org.junit.jupiter.api.Test;

class TrainerCliTest {

    @Test
    void everyCommandHasHelp() {
        EntryPointChecks.everyCommandHasHelp(TrainerCli::commandLine);
    }

    @Test
    void aBadOptionIsOneLineAndExitCodeTwo() {
        EntryPointChecks.aBadOptionIsOneLineAndExitCodeTwo(TrainerCli::commandLine);
    }
}
