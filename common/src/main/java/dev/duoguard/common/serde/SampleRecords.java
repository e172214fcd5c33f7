package dev.duoguard.common.serde;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import org.apache.avro.Conversion;
import org.apache.avro.Conversions;
import org.apache.avro.LogicalType;
import org.apache.avro.Schema;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificRecord;

/**
 * A valid instance of any generated Avro record class, every field at the simplest value its schema allows (the
 * first branch of a union, the first enum symbol, empty strings and collections, zero): what {@link
 * RegistryAvroSerdes#resolve} serializes so that the serde resolves the class's schema as it does for real records.
 */
final class SampleRecords {

    private SampleRecords() {}

    static <T extends SpecificRecord> T of(Class<T> type) {
        SpecificData model = SpecificData.getForClass(type);
        return type.cast(sample(model, model.getSchema(type)));
    }

    private static Object sample(SpecificData model, Schema s) {
        Object raw = switch (s.getType()) {
            case RECORD -> {
                SpecificRecord r = (SpecificRecord) model.newRecord(null, s);
                for (Schema.Field f : s.getFields()) {
                    r.put(f.pos(), sample(model, f.schema()));
                }
                yield r;
            }
            case ENUM -> model.createEnum(s.getEnumSymbols().get(0), s);
            case UNION -> sample(model, s.getTypes().get(0));
            case ARRAY -> List.of();
            case MAP -> Map.of();
            case FIXED -> model.createFixed(null, new byte[s.getFixedSize()], s);
            case STRING -> "";
            case BYTES -> ByteBuffer.allocate(0);
            case INT -> 0;
            case LONG -> 0L;
            case FLOAT -> 0f;
            case DOUBLE -> 0d;
            case BOOLEAN -> false;
            case NULL -> null;
        };
        // a logical type (timestamp-millis): the generated class holds the converted value (an Instant)
        LogicalType logical = s.getLogicalType();
        Conversion<?> conversion = logical == null ? null : model.getConversionFor(logical);
        return conversion == null || raw == null ? raw : Conversions.convertToLogicalType(raw, s, logical, conversion);
    }
}
