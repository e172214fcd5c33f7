package dev.duoguard.common.serde;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.schemas.Verdict;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import org.apache.avro.Schema;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DatumReader;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificRecord;
import org.junit.jupiter.api.Test;

class SchemaInstanceDatumProviderTest {

    private final SchemaInstanceDatumProvider<SpecificRecord> provider = provider();

    private static SchemaInstanceDatumProvider<SpecificRecord> provider() {
        SchemaInstanceDatumProvider<SpecificRecord> p = new SchemaInstanceDatumProvider<>();
        p.setUseSpecificAvroReader(true);
        return p;
    }

    @Test
    void oneReaderAndOneWriterPerSchemaInstance() {
        Schema schema = ChatMessage.getClassSchema();
        DatumReader<SpecificRecord> reader = provider.createDatumReader(schema);
        assertThat(provider.createDatumReader(schema)).isSameAs(reader);
        ChatMessage sample = SampleRecords.of(ChatMessage.class);
        assertThat(provider.createDatumWriter(sample, schema)).isSameAs(provider.createDatumWriter(sample, schema));
        assertThat(provider.cachedInstances()).isEqualTo(2);
    }

    /** An equal schema parsed again is another instance: it gets its own entry, and a reader that reads the same. */
    @Test
    void anEqualSchemaInstanceReadsTheSame() throws IOException {
        Schema parsedAgain =
                new Schema.Parser().parse(ChatMessage.getClassSchema().toString());
        ChatMessage sample = SampleRecords.of(ChatMessage.class);
        byte[] bytes = write(sample);
        assertThat(read(ChatMessage.getClassSchema(), bytes)).isEqualTo(sample);
        assertThat(read(parsedAgain, bytes)).isEqualTo(sample);
        assertThat(provider.cachedInstances()).isEqualTo(3);
    }

    /**
     * Apicurio parses a schema again each time its cache entry expires: a long-running reader meets ever new
     * instances of the same schema. The cache stays bounded and keeps finding the newest one.
     */
    @Test
    void theCacheIsBoundedAndKeepsServingTheNewestInstances() throws IOException {
        Verdict sample = SampleRecords.of(Verdict.class);
        byte[] bytes = write(sample);
        String text = Verdict.getClassSchema().toString();
        Schema latest = null;
        for (int i = 0; i < 3 * SchemaInstanceDatumProvider.MAX_INSTANCES + 7; i++) {
            latest = new Schema.Parser().parse(text);
            assertThat(read(latest, bytes)).isEqualTo(sample);
            assertThat(provider.cachedInstances()).isLessThanOrEqualTo(SchemaInstanceDatumProvider.MAX_INSTANCES + 1);
        }
        DatumReader<SpecificRecord> reader = provider.createDatumReader(latest);
        assertThat(provider.createDatumReader(latest))
                .as("the newest instance is cached")
                .isSameAs(reader);
    }

    private byte[] write(SpecificRecord record) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        BinaryEncoder encoder = EncoderFactory.get().binaryEncoder(out, null);
        provider.createDatumWriter(record, record.getSchema()).write(record, encoder);
        encoder.flush();
        return out.toByteArray();
    }

    private Object read(Schema writer, byte[] bytes) throws IOException {
        return provider.createDatumReader(writer)
                .read(null, DecoderFactory.get().binaryDecoder(bytes, null));
    }
}
