package io.grapevine.cluster;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.Optional;

/**
 * The JSON form of {@link MemberMetadata}, bound to that one record type: no polymorphic typing,
 * no Java serialization. Decoding is strict about types and required fields (all but
 * {@code down_servers}), ignores fields it does not know (a newer agent may add some) and validates the
 * result.
 */
public final class MetadataJson {

    /** Larger metadata is refused without being parsed. */
    public static final int MAX_BYTES = 16 * 1024;

    private static final ObjectMapper MAPPER = JsonMapper.builder()
            .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_MISSING_CREATOR_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();
    private static final ObjectReader READER = MAPPER.readerFor(MemberMetadata.class);
    private static final String DOWN_SERVERS = "down_servers";
    private static final ObjectWriter WRITER = MAPPER.writerFor(MemberMetadata.class);

    private MetadataJson() {
    }

    public static byte[] encode(MemberMetadata metadata) {
        try {
            return WRITER.writeValueAsBytes(metadata);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Parses and validates; throws {@link IllegalArgumentException} whose message says what is wrong.
     */
    public static MemberMetadata parse(byte[] json) {
        if (json.length > MAX_BYTES) {
            throw new IllegalArgumentException("metadata is " + json.length + " bytes, more than " + MAX_BYTES);
        }
        try {
            JsonNode tree = MAPPER.readTree(json);
            if (tree == null || tree.isNull() || tree.isMissingNode()) {
                throw new IllegalArgumentException("metadata is JSON null");
            }
            if (tree instanceof ObjectNode object && !object.has(DOWN_SERVERS)) {
                object.putArray(DOWN_SERVERS); // the one optional field: absent when empty, and from older members
            }
            return READER.readValue(tree);
        } catch (IOException e) {
            Throwable cause = e.getCause() instanceof IllegalArgumentException ? e.getCause() : e;
            throw new IllegalArgumentException(firstLine(cause.getMessage()), e);
        }
    }

    /**
     * Decodes the readable bytes of {@code buffer} without moving its position. Empty or null
     * means no metadata; invalid metadata is also reported as empty.
     */
    public static Optional<MemberMetadata> decode(ByteBuffer buffer) {
        if (buffer == null || !buffer.hasRemaining()) {
            return Optional.empty();
        }
        try {
            return Optional.of(parse(toBytes(buffer)));
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }

    static byte[] toBytes(ByteBuffer buffer) {
        ByteBuffer view = buffer.duplicate();
        byte[] bytes = new byte[view.remaining()];
        view.get(bytes);
        return bytes;
    }

    private static String firstLine(String message) {
        if (message == null) {
            return "invalid metadata";
        }
        int newline = message.indexOf('\n');
        return newline < 0 ? message : message.substring(0, newline);
    }
}
