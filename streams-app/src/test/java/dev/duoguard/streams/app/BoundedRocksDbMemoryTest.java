package dev.duoguard.streams.app;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.duoguard.streams.config.AppConfig;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Materialized;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.BlockBasedTableConfig;
import org.rocksdb.FlushOptions;
import org.rocksdb.Options;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksDBException;

class BoundedRocksDbMemoryTest {

    static final long MB = 1024 * 1024;

    @TempDir
    Path dir;

    /** Each test its own sizes, so that it alone uses the shared cache it inspects. */
    static Map<String, Object> sizes(long totalMb, long writeBufferMb) {
        return Map.of(
                BoundedRocksDbMemory.TOTAL_BYTES_CONFIG,
                totalMb * MB,
                BoundedRocksDbMemory.WRITE_BUFFER_BYTES_CONFIG,
                String.valueOf(writeBufferMb * MB));
    }

    static Options configured(Map<String, Object> configs) {
        Options options = new Options().setCreateIfMissing(true).setTableFormatConfig(new BlockBasedTableConfig());
        new BoundedRocksDbMemory().setConfig("store", options, configs);
        return options;
    }

    static byte[] value(int i, int size) {
        byte[] v = new byte[size];
        Arrays.fill(v, (byte) i);
        return v;
    }

    @Test
    void storesShareOneCacheThatHoldsTheirMemtablesIndexAndFilterBlocksAndDataWithinTheConfiguredBytes()
            throws RocksDBException {
        Map<String, Object> configs = sizes(16, 6);
        BoundedRocksDbMemory.Shared shared = BoundedRocksDbMemory.shared(16 * MB, 6 * MB);
        assertThat(shared.totalBytes()).isEqualTo(16 * MB);
        assertThat(shared.writeBufferBytes()).isEqualTo(6 * MB);
        try (Options a = configured(configs);
                Options b = configured(configs);
                RocksDB dbA = RocksDB.open(a, dir.resolve("a").toString());
                RocksDB dbB = RocksDB.open(b, dir.resolve("b").toString());
                FlushOptions flush = new FlushOptions().setWaitForFlush(true)) {
            assertThat(a.writeBufferManager()).isSameAs(b.writeBufferManager()).isSameAs(shared.writeBuffers());
            BlockBasedTableConfig table = (BlockBasedTableConfig) a.tableFormatConfig();
            assertThat(table.cacheIndexAndFilterBlocks()).isTrue();
            assertThat(table.cacheIndexAndFilterBlocksWithHighPriority()).isTrue();

            long empty = shared.cache().getUsage();
            for (int i = 0; i < 1000; i++) { // 2 MB into each store's memtable, below the flush trigger
                dbA.put(("a" + i).getBytes(), value(i, 2048));
            }
            long afterA = shared.cache().getUsage();
            for (int i = 0; i < 1000; i++) {
                dbB.put(("b" + i).getBytes(), value(i, 2048));
            }
            long afterB = shared.cache().getUsage();
            assertThat(afterA - empty)
                    .as("store a's memtable is charged to the cache")
                    .isGreaterThanOrEqualTo(2 * MB);
            assertThat(afterB - afterA).as("and store b's to the same cache").isGreaterThanOrEqualTo(2 * MB);

            // 40 MB of data blocks read back through a 16 MB cache
            for (int i = 0; i < 20_000; i++) {
                dbA.put(("k" + i).getBytes(), value(i, 2048));
            }
            dbA.flush(flush);
            dbB.flush(flush);
            for (int i = 0; i < 20_000; i++) {
                assertThat(dbA.get(("k" + i).getBytes())).hasSize(2048);
            }
            assertThat(shared.cache().getUsage())
                    .as("data blocks are cached in it, and no more than it holds")
                    .isBetween(8 * MB, 16 * MB);
        }
    }

    @Test
    void kafkaStreamsStoresOpenWithTheSetterFromTheStreamsConfig() {
        BoundedRocksDbMemory.Shared shared = BoundedRocksDbMemory.shared(24 * MB, 8 * MB);
        StreamsBuilder builder = new StreamsBuilder();
        builder.stream("in", Consumed.with(Serdes.String(), Serdes.String()))
                .groupByKey()
                .count(Materialized.as("counts")); // a persistent (RocksDB) key-value store
        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, "bounded-rocksdb-test");
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
        props.put(StreamsConfig.STATE_DIR_CONFIG, dir.toString());
        props.put(StreamsConfig.ROCKSDB_CONFIG_SETTER_CLASS_CONFIG, BoundedRocksDbMemory.class);
        props.putAll(sizes(24, 8));
        long before = shared.cache().getUsage();
        try (TopologyTestDriver driver = new TopologyTestDriver(builder.build(), props)) {
            TestInputTopic<String, String> in =
                    driver.createInputTopic("in", new StringSerializer(), new StringSerializer());
            for (int i = 0; i < 5_000; i++) {
                in.pipeInput("key-" + i + "-" + "x".repeat(200), "v");
            }
            assertThat(driver.getKeyValueStore("counts").get("key-1-" + "x".repeat(200)))
                    .isEqualTo(1L);
            assertThat(shared.cache().getUsage())
                    .as("the store's memtable or blocks are in the shared cache")
                    .isGreaterThan(before);
        }
    }

    @Test
    void sizesComeFromTheConfigAndStreamsAppPassesThem() {
        AppConfig c = AppConfig.from(AppConfig.layered(
                null,
                Map.of(
                        "DUOGUARD_STATE_ROCKSDB_MEMORY_MB",
                        "256",
                        "DUOGUARD_STATE_ROCKSDB_WRITE_BUFFER_SHARE",
                        "0.25")));
        Properties p = StreamsApp.streamsProperties(c);
        assertThat(p.get(StreamsConfig.ROCKSDB_CONFIG_SETTER_CLASS_CONFIG)).isEqualTo(BoundedRocksDbMemory.class);
        assertThat(p.get(BoundedRocksDbMemory.TOTAL_BYTES_CONFIG)).isEqualTo(256 * MB);
        assertThat(p.get(BoundedRocksDbMemory.WRITE_BUFFER_BYTES_CONFIG)).isEqualTo(64 * MB);
    }

    @Test
    void aStreamsConfigWithoutTheSizesIsRefusedByName() {
        try (Options options = new Options().setTableFormatConfig(new BlockBasedTableConfig())) {
            assertThatThrownBy(() -> new BoundedRocksDbMemory().setConfig("store", options, Map.of()))
                    .hasMessageContaining(BoundedRocksDbMemory.TOTAL_BYTES_CONFIG);
            assertThatThrownBy(() -> BoundedRocksDbMemory.shared(8 * MB, 8 * MB))
                    .isInstanceOf(IllegalArgumentException.class);
        }
    }
}
