package dev.duoguard.common.serde;

import static org.assertj.core.api.Assertions.assertThat;

import dev.duoguard.schemas.ChatMessage;
import dev.duoguard.schemas.Feedback;
import dev.duoguard.schemas.ModelVersion;
import dev.duoguard.schemas.ReplyChunk;
import dev.duoguard.schemas.Seed;
import dev.duoguard.schemas.Verdict;
import dev.duoguard.schemas.internal.JoinableVerdict;
import dev.duoguard.schemas.internal.OpenReply;
import dev.duoguard.schemas.internal.PendingMessage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificDatumReader;
import org.apache.avro.specific.SpecificDatumWriter;
import org.apache.avro.specific.SpecificRecord;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class SampleRecordsTest {

    /** Every record the product writes has a sample that Avro writes and reads back equal: what resolve() sends. */
    @ParameterizedTest
    @ValueSource(
            classes = {
                ChatMessage.class,
                Verdict.class,
                Feedback.class,
                Seed.class,
                ModelVersion.class,
                PendingMessage.class,
                JoinableVerdict.class,
                ReplyChunk.class,
                OpenReply.class
            })
    void aSampleOfEachRecordRoundTrips(Class<? extends SpecificRecord> type) throws IOException {
        roundTrip(type);
    }

    private static <T extends SpecificRecord> void roundTrip(Class<T> type) throws IOException {
        T sample = SampleRecords.of(type);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        BinaryEncoder encoder = EncoderFactory.get().binaryEncoder(bytes, null);
        new SpecificDatumWriter<>(type).write(sample, encoder);
        encoder.flush();
        BinaryDecoder decoder = DecoderFactory.get().binaryDecoder(bytes.toByteArray(), null);
        assertThat(new SpecificDatumReader<>(type).read(null, decoder)).isEqualTo(sample);
    }
}
