package dev.duoguard.streams.cli;

import dev.duoguard.common.cli.EntryPointChecks;
import org.junit.jupiter.api.Test;

class DuoGuardCliTest {

    @Test
    void everyCommandHasHelp() {
        EntryPointChecks.everyCommandHasHelp(DuoGuardCli::commandLine);
    }

    @Test
    void aBadOptionIsOneLineAndExitCodeTwo() {
        EntryPointChecks.aBadOptionIsOneLineAndExitCodeTwo(DuoGuardCli::commandLine);
    }
}
