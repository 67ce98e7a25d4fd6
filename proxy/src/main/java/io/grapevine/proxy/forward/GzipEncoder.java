package io.grapevine.proxy.forward;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.nio.ByteBuffer;
import java.util.function.Consumer;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

/**
 * The gzip encoding of one response body (RFC 1952: a 10-byte header, raw deflate, then the CRC-32 and length of the
 * input), streamed: each part of the body goes into zlib as it comes and leaves compressed in buffers of up to
 * {@link #OUT_BYTES}; nothing of the body is gathered. {@link #flush} makes zlib give up what it holds (a sync flush),
 * so that a response that streams (events, a long poll) reaches the client as the backend sends it.
 *
 * <p>Thread: the exchange's event loop. Ownership: {@link #write} takes its buffer; the buffers passed to the sink
 * are the sink's. The zlib stream is the loop's {@link Compressors}', given back by {@link #finish} or
 * {@link #release}, exactly once.
 */
final class GzipEncoder {

    /** The size of the buffers the compressed bytes leave in. */
    static final int OUT_BYTES = 8192;

    /** ID1 ID2, CM = deflate, no flags, no modification time, XFL 0, OS unknown (RFC 1952 section 2.3). */
    private static final byte[] HEADER = {0x1f, (byte) 0x8b, 8, 0, 0, 0, 0, 0, 0, (byte) 0xff};

    private final Compressors owner;
    private final ByteBufAllocator alloc;
    private final CRC32 crc = new CRC32();
    private Deflater deflater;
    /** Compressed bytes not passed on yet (the header first); {@code null} when none. */
    private ByteBuf out;
    private long inputBytes;
    private long outputBytes;
    /** Input went into zlib since the last flush. */
    private boolean unflushed;

    /** No input: what zlib is left with once a part was taken or given up, so that it never points at a freed buffer. */
    private static final ByteBuffer NO_INPUT = ByteBuffer.allocate(0);

    /** A flush's bytes below this leave in a buffer of their own size, the current one being kept for what follows. */
    static final int COPY_BELOW = OUT_BYTES / 2;

    GzipEncoder(Compressors owner, int level, ByteBufAllocator alloc) {
        this.owner = owner;
        this.alloc = alloc;
        this.out = alloc.directBuffer(OUT_BYTES); // first: a failed allocation must not hold a zlib stream
        out.writeBytes(HEADER);
        this.deflater = owner.take(level);
    }

    /** Body bytes in so far. */
    long inputBytes() {
        return inputBytes;
    }

    /** Compressed bytes out so far, header and trailer included. */
    long outputBytes() {
        return outputBytes;
    }

    /** Compresses {@code data} (released here); full buffers go to {@code sink}. */
    void write(ByteBuf data, Consumer<ByteBuf> sink) {
        try {
            int n = data.readableBytes();
            if (n == 0 || deflater == null) {
                return;
            }
            inputBytes += n;
            unflushed = true;
            if (data.nioBufferCount() == 1) {
                deflate(data.nioBuffer(), sink);
            } else {
                for (ByteBuffer part : data.nioBuffers()) {
                    deflate(part, sink);
                }
            }
        } finally {
            if (deflater != null) {
                deflater.setInput(NO_INPUT); // what is left of data (after a failure) must not be read once freed
            }
            data.release();
        }
    }

    private void deflate(ByteBuffer input, Consumer<ByteBuf> sink) {
        int at = input.position();
        crc.update(input);
        input.position(at);
        deflater.setInput(input);
        while (!deflater.needsInput()) {
            drain(Deflater.NO_FLUSH, sink);
        }
    }

    /**
     * Passes on what was compressed so far: with input since the last flush, zlib's pending bytes too (a sync flush,
     * which ends on a byte boundary; 5 bytes at most when nothing was pending). A few bytes leave in a buffer of
     * their size, not in an {@link #OUT_BYTES} one: a backend that sends an event at a time would otherwise have the
     * client's queue hold a mostly empty buffer per event, which its byte count (the socket's marks, the pipeline's
     * bound) does not see.
     */
    void flush(Consumer<ByteBuf> sink) {
        if (deflater == null) {
            return;
        }
        if (unflushed) {
            unflushed = false;
            do {
                drain(Deflater.SYNC_FLUSH, sink);
            } while (out != null && !out.isWritable());
        }
        ByteBuf b = out;
        if (b == null || !b.isReadable()) {
            return;
        }
        if (b.readableBytes() >= COPY_BELOW) {
            pass(sink);
            return;
        }
        ByteBuf small = alloc.directBuffer(b.readableBytes());
        small.writeBytes(b); // b is left empty, for the next compressed bytes
        b.clear();
        outputBytes += small.readableBytes();
        sink.accept(small);
    }

    /** The end of the body: zlib's last bytes and the trailer go to {@code sink}, and the zlib stream is given back. */
    void finish(Consumer<ByteBuf> sink) {
        if (deflater == null) {
            return;
        }
        deflater.finish();
        while (!deflater.finished()) {
            drain(Deflater.NO_FLUSH, sink);
        }
        if (out == null || out.writableBytes() < 8) {
            pass(sink);
            out = alloc.directBuffer(8);
        }
        out.writeIntLE((int) crc.getValue());
        out.writeIntLE((int) inputBytes); // ISIZE: the input's length modulo 2^32
        pass(sink);
        release();
    }

    /** Lets go of the zlib stream and of what was not passed on; idempotent. */
    void release() {
        if (deflater != null) {
            owner.give(deflater);
            deflater = null;
        }
        if (out != null) {
            out.release();
            out = null;
        }
    }

    /** One deflate call into the current buffer (a new one when it is full). */
    private void drain(int flushMode, Consumer<ByteBuf> sink) {
        if (out == null || !out.isWritable()) {
            pass(sink);
            out = alloc.directBuffer(OUT_BYTES);
        }
        ByteBuf b = out;
        int index = b.writerIndex();
        int n = deflater.deflate(b.internalNioBuffer(index, b.writableBytes()), flushMode);
        b.writerIndex(index + n);
    }

    private void pass(Consumer<ByteBuf> sink) {
        ByteBuf b = out;
        out = null;
        if (b == null) {
            return;
        }
        if (b.isReadable()) {
            outputBytes += b.readableBytes();
            sink.accept(b);
        } else {
            b.release();
        }
    }
}
