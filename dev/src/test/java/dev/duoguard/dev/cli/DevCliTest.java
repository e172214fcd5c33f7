package dev.duoguard.dev.cli;

import dev.duoguard.common.cli.EntryPointChecks;
import org.junit.jupiter.api.Test;

class DevCliTest {

    @Test
    void everyCommandHasHelp() {
        EntryPointChecks.everyCommandHasHelp(DevCli::commandLine);
    }

    @Test
    void aBadOptionIsOneLineAndExitCodeTwo() {
        EntryPointChecks.aBadOptionIsOneLineAndExitCodeTwo(DevCli::commandLine);
    }
}
