package io.grapevine.proxy.http;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;

/** Writes the canonical chunked framing (RFC 9112 section 7.1): {@code HEX CRLF data CRLF ... 0 CRLF trailers CRLF}. */
public final class ChunkedEncoding {

    private static final byte[] HEX = "0123456789abcdef".getBytes(StandardCharsets.US_ASCII);
    private static final ByteBuf CRLF = Unpooled.unreleasableBuffer(
            Unpooled.directBuffer(2).writeByte('\r').writeByte('\n')).asReadOnly();
    private static final ByteBuf LAST_CHUNK_NO_TRAILERS = Unpooled.unreleasableBuffer(
            Unpooled.directBuffer(5).writeBytes("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII))).asReadOnly();

    private ChunkedEncoding() {
    }

    /** The line that opens a chunk of {@code size} bytes (size > 0). */
    public static ByteBuf chunkHeader(ByteBufAllocator alloc, long size) {
        ByteBuf out = alloc.directBuffer(18);
        int digits = (64 - Long.numberOfLeadingZeros(size) + 3) / 4;
        for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) {
            out.writeByte(HEX[(int) (size >>> shift) & 0xF]);
        }
        return out.writeByte('\r').writeByte('\n');
    }

    /** The CRLF that closes a chunk's data; a shared, unreleasable buffer. */
    public static ByteBuf chunkEnd() {
        return CRLF.duplicate();
    }

    /** The last chunk and trailer section; takes ownership of {@code trailerFields} (may be null). */
    public static ByteBuf lastChunk(ByteBufAllocator alloc, ByteBuf trailerFields) {
        if (trailerFields == null) {
            return LAST_CHUNK_NO_TRAILERS.duplicate();
        }
        ByteBuf out = alloc.directBuffer(5 + trailerFields.readableBytes());
        out.writeByte('0').writeByte('\r').writeByte('\n').writeBytes(trailerFields).writeByte('\r').writeByte('\n');
        trailerFields.release();
        return out;
    }
}
