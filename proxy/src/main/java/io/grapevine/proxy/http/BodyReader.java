package io.grapevine.proxy.http;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;

/**
 * Reads one message body off a connection's input, whatever delimits it (RFC 9112 section 6): a
 * Content-Length, the chunked coding, or the end of the connection. The client side reads request bodies
 * with it and the backend side response bodies, so the framing rules are written once.
 *
 * <p>Data passes to the {@link Sink} as retained slices of the input (zero copy); the chunk framing is
 * removed, so the sink sees the content only and frames it again for wherever it goes. One instance per
 * connection, {@link #start started} again for each message; confined to the connection's event loop.
 */
public final class BodyReader implements ChunkedDecoder.Sink {

    /** Receives a body; ownership of every buffer passes to it. */
    public interface Sink {
        /** A piece of content (never empty). */
        void onBodyData(ByteBuf data);

        /**
         * The body is complete.
         *
         * @param trailerFields canonical trailer field lines of a chunked body, or {@code null}
         */
        void onBodyEnd(ByteBuf trailerFields);
    }

    /** {@link #read} and {@link #endOfInput} results. */
    public enum Result {
        /** The body goes on: more input is needed. */
        MORE,
        /** The body ended; {@link Sink#onBodyEnd} was called. Input after it belongs to what follows. */
        DONE,
        /** The framing is broken (or the body was cut short): nothing after it may be trusted. */
        ERROR
    }

    private final int maxTrailerBytes;
    private final int maxTrailerCount;
    private BodyKind kind = BodyKind.NONE;
    private long remaining;
    private ChunkedDecoder chunked;
    private Sink sink;

    /** @param maxTrailerBytes limit of a chunked body's trailer section; {@code maxTrailerCount} of its fields */
    public BodyReader(int maxTrailerBytes, int maxTrailerCount) {
        this.maxTrailerBytes = maxTrailerBytes;
        this.maxTrailerCount = maxTrailerCount;
    }

    /**
     * Begins a body of {@code kind}; {@code length} is its Content-Length for {@link BodyKind#LENGTH}.
     * A body of kind NONE or of length 0 is complete at once: call {@link #read} anyway, it reports
     * {@link Result#DONE} without consuming input.
     */
    public void start(BodyKind kind, long length) {
        this.kind = kind;
        this.remaining = kind == BodyKind.LENGTH ? length : 0;
        this.chunked = kind == BodyKind.CHUNKED ? new ChunkedDecoder(maxTrailerBytes, maxTrailerCount) : null;
    }

    public BodyKind kind() {
        return kind;
    }

    /** Consumes what {@code in} holds of the body, passing content to {@code sink}. */
    public Result read(ByteBuf in, Sink sink, ByteBufAllocator alloc) {
        switch (kind) {
            case LENGTH: {
                int n = (int) Math.min(remaining, in.readableBytes());
                if (n > 0) {
                    remaining -= n;
                    sink.onBodyData(in.readRetainedSlice(n));
                }
                if (remaining > 0) {
                    return Result.MORE;
                }
                return end(sink);
            }
            case CHUNKED: {
                this.sink = sink;
                try {
                    if (chunked.decode(in, this, alloc) == ChunkedDecoder.ERROR) {
                        kind = BodyKind.NONE;
                        return Result.ERROR;
                    }
                } finally {
                    this.sink = null;
                }
                if (chunked.isDone()) {
                    chunked = null;
                    kind = BodyKind.NONE;
                    return Result.DONE;
                }
                return Result.MORE;
            }
            case UNTIL_CLOSE:
                if (in.isReadable()) {
                    sink.onBodyData(in.readRetainedSlice(in.readableBytes()));
                }
                return Result.MORE;
            default:
                return end(sink);
        }
    }

    /**
     * The connection's input ended. A body delimited by the close is complete; any other body was cut
     * short ({@link Result#ERROR}); between bodies there is nothing to say ({@link Result#DONE}).
     */
    public Result endOfInput(Sink sink) {
        switch (kind) {
            case UNTIL_CLOSE:
                return end(sink);
            case LENGTH:
            case CHUNKED:
                kind = BodyKind.NONE;
                chunked = null;
                return Result.ERROR;
            default:
                return Result.DONE;
        }
    }

    private Result end(Sink sink) {
        kind = BodyKind.NONE;
        sink.onBodyEnd(null);
        return Result.DONE;
    }

    @Override
    public void onChunkData(ByteBuf data) {
        sink.onBodyData(data);
    }

    @Override
    public void onLastChunk(ByteBuf trailerFields) {
        sink.onBodyEnd(trailerFields);
    }
}
