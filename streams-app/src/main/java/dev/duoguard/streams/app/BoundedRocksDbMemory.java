package dev.duoguard.streams.app;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.kafka.streams.state.RocksDBConfigSetter;
import org.rocksdb.BlockBasedTableConfig;
import org.rocksdb.Cache;
import org.rocksdb.LRUCache;
import org.rocksdb.Options;
import org.rocksdb.RocksDB;
import org.rocksdb.WriteBufferManager;

/**
 * Bounds RocksDB's off-heap memory for every state store of the process. Kafka Streams gives each RocksDB instance
 * (each store, and each segment of a window store) its own 50 MB block cache and three 16 MB memtables, with
 * index and filter blocks outside any cache, so memory grows with partitions and segments. Here all of them share
 * one LRU block cache of {@link #TOTAL_BYTES_CONFIG} bytes that also holds their index and filter blocks, and one
 * write buffer manager whose memtables ({@link #WRITE_BUFFER_BYTES_CONFIG} bytes at most) are charged to that
 * cache: the total is the cache's capacity. The bound is soft: blocks pinned by a read in progress may exceed it
 * briefly (a strict limit would fail those reads instead).
 * <p>
 * Kafka Streams creates a setter per store from its class name, so the shared objects are static, one pair per
 * distinct size (the app runs one Kafka Streams instance per process), and never closed: they live as long as the
 * process, and a store closing must not free what the others use.
 */
public final class BoundedRocksDbMemory implements RocksDBConfigSetter {

    /** Streams config key: the shared cache's capacity in bytes, memtables included. */
    public static final String TOTAL_BYTES_CONFIG = "duoguard.rocksdb.memory.bytes";
    /** Streams config key: how much of it memtables may take, in bytes. */
    public static final String WRITE_BUFFER_BYTES_CONFIG = "duoguard.rocksdb.write-buffer.bytes";

    /**
     * Share of the cache reserved for index and filter blocks (inserted with high priority), so a scan of data
     * blocks does not evict the blocks every lookup needs first.
     */
    static final double INDEX_AND_FILTER_SHARE = 0.1;

    /** The objects every store of the process shares, for one pair of sizes. */
    record Shared(long totalBytes, long writeBufferBytes, Cache cache, WriteBufferManager writeBuffers) {}

    private static final Map<List<Long>, Shared> SHARED = new ConcurrentHashMap<>();

    static Shared shared(long totalBytes, long writeBufferBytes) {
        if (writeBufferBytes <= 0 || writeBufferBytes >= totalBytes) {
            throw new IllegalArgumentException("memtables (" + writeBufferBytes + " bytes) must take part of the "
                    + "RocksDB memory (" + totalBytes + " bytes), not none or all of it");
        }
        return SHARED.computeIfAbsent(List.of(totalBytes, writeBufferBytes), k -> {
            RocksDB.loadLibrary(); // once per process; a cache can be made before any store has loaded it
            Cache cache = new LRUCache(totalBytes, -1, false, INDEX_AND_FILTER_SHARE);
            return new Shared(totalBytes, writeBufferBytes, cache, new WriteBufferManager(writeBufferBytes, cache));
        });
    }

    @Override
    public void setConfig(String storeName, Options options, Map<String, Object> configs) {
        Shared shared = shared(bytes(configs, TOTAL_BYTES_CONFIG), bytes(configs, WRITE_BUFFER_BYTES_CONFIG));
        // Kafka Streams' own table config, modified in place: a new one would drop its other settings
        BlockBasedTableConfig table = (BlockBasedTableConfig) options.tableFormatConfig();
        table.setBlockCache(shared.cache());
        table.setCacheIndexAndFilterBlocks(true);
        table.setCacheIndexAndFilterBlocksWithHighPriority(true);
        options.setWriteBufferManager(shared.writeBuffers());
        options.setTableFormatConfig(table);
    }

    @Override
    public void close(String storeName, Options options) {
        // nothing of this store's own: the cache and the write buffer manager are the process's (see above)
    }

    private static long bytes(Map<String, Object> configs, String key) {
        Object v = configs.get(key);
        if (v == null) {
            throw new IllegalStateException(BoundedRocksDbMemory.class.getSimpleName() + " needs '" + key
                    + "' in the streams config (StreamsApp sets it from state.rocksdb.*)");
        }
        return Long.parseLong(v.toString().trim());
    }
}
