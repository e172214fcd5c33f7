package dev.duoguard.streams.cli;

import dev.duoguard.common.config.LayeredConfig;
import dev.duoguard.streams.app.StreamsApp;
import dev.duoguard.streams.config.AppConfig;
import dev.duoguard.streams.topology.ModerationListener;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
        name = "serve",
        mixinStandardHelpOptions = true,
        description = {
            "Runs the streams app against the Kafka cluster and schema registry given by configuration:",
            "defaults, then --config FILE (or $DUOGUARD_CONFIG_FILE), then DUOGUARD_* environment variables.",
            "See the README's configuration reference."
        })
final class ServeCommand implements Callable<Integer> {

    private static final Logger log = LoggerFactory.getLogger(ServeCommand.class);

    @Option(names = "--config", description = "properties file")
    Path configFile;

    @Override
    public Integer call() throws Exception {
        Path file = configFile;
        if (file == null && System.getenv("DUOGUARD_CONFIG_FILE") != null) {
            file = Path.of(System.getenv("DUOGUARD_CONFIG_FILE"));
        }
        LayeredConfig config = AppConfig.layered(file, System.getenv());
        log.info("configuration:\n{}", config.describe());
        StreamsApp app = StreamsApp.start(config, ModerationListener.NONE);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime()
                .addShutdownHook(new Thread(
                        () -> {
                            log.info("shutting down");
                            app.close();
                            stopped.countDown();
                        },
                        "shutdown"));
        app.managementPort().ifPresent(p -> log.info("management port {}: /health/live /health/ready /metrics", p));
        stopped.await();
        return 0;
    }
}
