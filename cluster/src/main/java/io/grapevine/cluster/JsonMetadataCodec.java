package io.grapevine.cluster;

import io.scalecube.cluster.metadata.MetadataCodec;
import java.nio.ByteBuffer;

/**
 * Scalecube's metadata codec for Grapevine: {@link MetadataJson} instead of Java serialization.
 *
 * <p>Registered in {@code META-INF/services} so that scalecube neither falls back to its JDK codec
 * nor insists that metadata be {@code Serializable}; {@link GossipNode} also sets it explicitly.
 * Only {@link MemberMetadata} is accepted. Not part of the API other modules use.
 */
public final class JsonMetadataCodec implements MetadataCodec {

    @Override
    public Object deserialize(ByteBuffer buffer) {
        return MetadataJson.decode(buffer).orElse(null);
    }

    @Override
    public ByteBuffer serialize(Object metadata) {
        if (metadata == null) {
            return ByteBuffer.allocate(0);
        }
        if (!(metadata instanceof MemberMetadata member)) {
            throw new IllegalArgumentException("metadata must be MemberMetadata, not " + metadata.getClass().getName());
        }
        // Wrapped, not sliced or direct: scalecube writes the whole backing array() on the wire.
        return ByteBuffer.wrap(MetadataJson.encode(member));
    }
}
