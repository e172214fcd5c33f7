package dev.duoguard.schemas;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificDatumReader;
import org.apache.avro.specific.SpecificRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Schema evolution rules for every topic's record type:
 * <ul>
 *   <li>the current schema reads records written with each released schema ({@code released/v1}, snapshots of what
 *       producers may still write), checked by Avro's compatibility rules and by decoding real bytes;</li>
 *   <li>every field that is not in a released schema has a default;</li>
 *   <li>records written by a producer that predates every optional field (the current schema minus all fields with
 *       defaults) decode, with the defaults filled in.</li>
 * </ul>
 * When a schema changes, add the new released snapshot next to the old ones; never edit a released file.
 */
class SchemaEvolutionTest {

    static final List<Class<? extends SpecificRecord>> TYPES =
            List.of(ChatMessage.class, Verdict.class, Feedback.class, Seed.class, ModelVersion.class);

    static Stream<Class<? extends SpecificRecord>> types() {
        return TYPES.stream();
    }

    static Schema current(Class<? extends SpecificRecord> type) {
        return SpecificData.get().getSchema(type);
    }

    static Schema released(String version, Class<?> type) throws IOException {
        try (InputStream in = SchemaEvolutionTest.class.getResourceAsStream(
                "/released/" + version + "/" + type.getSimpleName() + ".avsc")) {
            assertThat(in).as("released snapshot of %s", type.getSimpleName()).isNotNull();
            return new Schema.Parser().parse(in);
        }
    }

    @ParameterizedTest
    @MethodSource("types")
    void currentSchemaReadsEveryReleasedVersion(Class<? extends SpecificRecord> type) throws IOException {
        Schema writer = released("v1", type);
        Schema reader = current(type);
        assertThat(SchemaCompatibility.checkReaderWriterCompatibility(reader, writer)
                        .getType())
                .isEqualTo(SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE);
        for (Schema.Field f : reader.getFields()) {
            if (writer.getField(f.name()) == null) {
                assertThat(f.hasDefaultValue())
                        .as("field %s.%s was added after v1 and needs a default", type.getSimpleName(), f.name())
                        .isTrue();
            }
        }
        SpecificRecord decoded = roundTrip(sample(writer), writer, type);
        assertThat(decoded.getSchema().getFullName()).isEqualTo(reader.getFullName());
    }

    @ParameterizedTest
    @MethodSource("types")
    void recordsFromAProducerThatPredatesEveryOptionalFieldStillDecode(Class<? extends SpecificRecord> type)
            throws IOException {
        Schema reader = current(type);
        Schema oldest = withoutDefaultedFields(reader);
        SpecificRecord decoded = roundTrip(sample(oldest), oldest, type);
        for (Schema.Field f : reader.getFields()) {
            if (oldest.getField(f.name()) == null) {
                Object expected = SpecificData.get().getDefaultValue(f);
                assertThat(decoded.get(f.pos()))
                        .as("%s.%s takes its default", type.getSimpleName(), f.name())
                        .isEqualTo(expected);
            }
        }
    }

    @Test
    void aFieldAddedWithoutADefaultIsCaught() {
        Schema reader = current(ChatMessage.class);
        List<Schema.Field> fields = new ArrayList<>();
        reader.getFields().forEach(f -> fields.add(new Schema.Field(f, f.schema())));
        fields.add(new Schema.Field("priority", Schema.create(Schema.Type.INT), "no default", (Object) null));
        Schema broken = Schema.createRecord(reader.getName(), null, reader.getNamespace(), false, fields);
        assertThat(SchemaCompatibility.checkReaderWriterCompatibility(broken, reader)
                        .getType())
                .isEqualTo(SchemaCompatibility.SchemaCompatibilityType.INCOMPATIBLE);
    }

    static Schema withoutDefaultedFields(Schema s) {
        List<Schema.Field> kept = new ArrayList<>();
        for (Schema.Field f : s.getFields()) {
            if (!f.hasDefaultValue()) {
                kept.add(new Schema.Field(f, f.schema()));
            }
        }
        return Schema.createRecord(s.getName(), s.getDoc(), s.getNamespace(), false, kept);
    }

    static SpecificRecord roundTrip(GenericRecord record, Schema writer, Class<? extends SpecificRecord> type)
            throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        BinaryEncoder enc = EncoderFactory.get().binaryEncoder(out, null);
        new GenericDatumWriter<GenericRecord>(writer).write(record, enc);
        enc.flush();
        SpecificDatumReader<SpecificRecord> reader = new SpecificDatumReader<>(writer, current(type));
        return reader.read(null, DecoderFactory.get().binaryDecoder(out.toByteArray(), null));
    }

    /** A record with a plausible value in every field of {@code schema}. */
    static GenericRecord sample(Schema schema) {
        GenericData.Record r = new GenericData.Record(schema);
        for (Schema.Field f : schema.getFields()) {
            r.put(f.pos(), value(f.schema(), f.name()));
        }
        return r;
    }

    static Object value(Schema s, String name) {
        return switch (s.getType()) {
            case STRING -> name + "-é✓";
            case INT -> 3;
            case LONG -> Instant.parse("2026-11-28T10:00:00Z").toEpochMilli();
            case FLOAT -> 0.25f;
            case DOUBLE -> 0.5;
            case BOOLEAN -> true;
            case ENUM -> new GenericData.EnumSymbol(s, s.getEnumSymbols().get(0));
            case ARRAY -> List.of(value(s.getElementType(), name));
            case MAP -> Map.of("en", value(s.getValueType(), name));
            case RECORD -> sample(s);
            case UNION -> value(s.getTypes().get(s.getTypes().size() - 1), name);
            case NULL -> null;
            default -> throw new IllegalArgumentException("no sample for " + s);
        };
    }
}
