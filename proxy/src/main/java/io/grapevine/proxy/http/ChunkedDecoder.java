package io.grapevine.proxy.http;

import static io.grapevine.proxy.http.HttpChars.CR;
import static io.grapevine.proxy.http.HttpChars.LF;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.nio.charset.StandardCharsets;

/**
 * Incremental, strict decoder of the chunked transfer coding (RFC 9112 section 7.1).
 *
 * <p>chunk-size is 1 to 15 hex digits (no sign, no {@code 0x}, no whitespace before it); chunk extensions
 * are validated and dropped; every chunk's data must be followed by exactly CRLF; every line must end in
 * CRLF. The trailer section is validated like a header section; its fields are passed on minus those a
 * trailer must not carry (framing, routing, connection management). Whatever violates this is an error
 * and decoding stops: the caller answers 400/502 and closes, so a byte after a framing error is never
 * forwarded.
 *
 * <p>Data is passed on as retained slices of the input (zero copy). One instance per message body; used
 * on one event loop.
 */
public final class ChunkedDecoder {

    /** Receives the decoded body; ownership of every buffer passes to the sink. */
    public interface Sink {
        void onChunkData(ByteBuf data);

        /** The last chunk: {@code trailerFields} holds canonical field lines, or is {@code null} if none. */
        void onLastChunk(ByteBuf trailerFields);
    }

    public static final int OK = 0;
    public static final int ERROR = -1;

    private static final int MAX_SIZE_LINE = 4096;
    private static final int MAX_HEX_DIGITS = 15;
    /** Fields a trailer section must not carry (framing, routing, connection management); dropped. */
    static final byte[][] FORBIDDEN_TRAILERS = names("content-length", "transfer-encoding", "host",
            "connection", "keep-alive", "proxy-connection", "te", "upgrade", "trailer");

    private enum State { SIZE, DATA, DATA_END, TRAILER, DONE, FAILED }

    private final int maxTrailerBytes;
    private final int maxTrailerCount;
    private State state = State.SIZE;
    private long remaining;
    /**
     * Bytes after the reader index already searched for LF (and, in a size line, checked): a peer that
     * sends a line byte by byte costs linear work. Offsets are relative to the reader index, which does not
     * move while a line or the trailer section is incomplete.
     */
    private int scanned;
    /** Start of the trailer line being received, relative to the reader index. */
    private int trailerLineStart;
    private FieldLines trailerFields;

    public ChunkedDecoder(int maxTrailerBytes, int maxTrailerCount) {
        this.maxTrailerBytes = maxTrailerBytes;
        this.maxTrailerCount = maxTrailerCount;
    }

    public boolean isDone() {
        return state == State.DONE;
    }

    /**
     * Consumes as much of {@code in} as forms complete framing elements, passing data to the sink.
     *
     * @return {@link #OK}, or {@link #ERROR} on a framing violation (the decoder is then unusable)
     */
    public int decode(ByteBuf in, Sink sink, ByteBufAllocator alloc) {
        for (;;) {
            switch (state) {
                case SIZE: {
                    int r = readSizeLine(in);
                    if (r <= 0) {
                        return r == 0 ? OK : fail();
                    }
                    break;
                }
                case DATA: {
                    int n = (int) Math.min(remaining, in.readableBytes());
                    if (n == 0) {
                        return OK;
                    }
                    remaining -= n;
                    sink.onChunkData(in.readRetainedSlice(n));
                    if (remaining == 0) {
                        state = State.DATA_END;
                    }
                    break;
                }
                case DATA_END:
                    if (in.readableBytes() < 2) {
                        if (in.isReadable() && in.getByte(in.readerIndex()) != CR) {
                            return fail();
                        }
                        return OK;
                    }
                    if (in.readByte() != CR || in.readByte() != LF) {
                        return fail();
                    }
                    state = State.SIZE;
                    break;
                case TRAILER: {
                    int r = readTrailer(in, sink, alloc);
                    if (r <= 0) {
                        return r == 0 ? OK : fail();
                    }
                    return OK;
                }
                case DONE:
                    return OK;
                default:
                    return ERROR;
            }
        }
    }

    private int fail() {
        state = State.FAILED;
        return ERROR;
    }

    /** @return 1 when a size line was consumed, 0 when more input is needed, -1 on error */
    private int readSizeLine(ByteBuf in) {
        int start = in.readerIndex();
        int avail = in.readableBytes();
        int lf = in.indexOf(start + scanned, start + Math.min(avail, MAX_SIZE_LINE), LF);
        if (lf < 0) {
            if (avail >= MAX_SIZE_LINE) {
                return -1;
            }
            // Reject early what can never become valid, so garbage is not waited on.
            for (int i = start + scanned; i < start + avail; i++) {
                byte c = in.getByte(i);
                if (c != CR && !HttpChars.isFieldValueChar(c)) {
                    return -1;
                }
            }
            scanned = avail;
            return 0;
        }
        scanned = 0;
        int cr = lf - 1;
        if (cr < start || in.getByte(cr) != CR) {
            return -1;
        }
        long size = 0;
        int i = start;
        while (i < cr) {
            int digit = HttpChars.hexValue(in.getByte(i));
            if (digit < 0) {
                break;
            }
            if (i - start == MAX_HEX_DIGITS) {
                return -1;
            }
            size = (size << 4) | digit;
            i++;
        }
        if (i == start) {
            return -1;
        }
        if (i < cr && !validExtensions(in, i, cr)) {
            return -1;
        }
        in.readerIndex(lf + 1);
        if (size == 0) {
            state = State.TRAILER;
            trailerLineStart = 0;
        } else {
            remaining = size;
            state = State.DATA;
        }
        return 1;
    }

    /** chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ), checked loosely but safely. */
    private static boolean validExtensions(ByteBuf in, int from, int to) {
        int i = from;
        while (i < to && HttpChars.isOws(in.getByte(i))) {
            i++;
        }
        if (i == to || in.getByte(i) != ';') {
            return false;
        }
        for (; i < to; i++) {
            byte c = in.getByte(i);
            if (!HttpChars.isFieldValueChar(c)) {
                return false;
            }
        }
        return true;
    }

    /** @return 1 when the trailer section was consumed, 0 when more input is needed, -1 on error */
    private int readTrailer(ByteBuf in, ChunkedDecoder.Sink sink, ByteBufAllocator alloc) {
        int start = in.readerIndex();
        int avail = in.readableBytes();
        int lineStart = trailerLineStart;
        for (;;) {
            int lf = in.indexOf(start + Math.max(lineStart, scanned), start + avail, LF);
            if (lf < 0) {
                trailerLineStart = lineStart;
                scanned = avail;
                return avail > maxTrailerBytes ? -1 : 0;
            }
            int p = lf - start;
            if (p > maxTrailerBytes) {
                return -1;
            }
            if (p == lineStart + 1 && in.getByte(lf - 1) == CR) {
                int length = p + 1;
                ByteBuf trailers = null;
                if (length > 2) {
                    trailers = canonicalTrailers(in, start, length, alloc);
                    if (trailers == null) {
                        return -1;
                    }
                }
                in.skipBytes(length);
                state = State.DONE;
                sink.onLastChunk(trailers != null && trailers.isReadable() ? trailers : release(trailers));
                return 1;
            }
            if (p == lineStart) {
                return -1; // bare LF
            }
            lineStart = p + 1;
        }
    }

    private ByteBuf canonicalTrailers(ByteBuf in, int start, int length, ByteBufAllocator alloc) {
        byte[] b = new byte[length];
        in.getBytes(start, b);
        if (trailerFields == null) {
            trailerFields = new FieldLines();
        }
        FieldLines fl = trailerFields;
        int count = fl.index(b, 0, length, maxTrailerCount);
        if (count < 0) {
            return null;
        }
        ByteBuf out = alloc.buffer(length);
        for (int fi = 0; fi < count; fi++) {
            if (forbidden(b, fl, fi)) {
                continue;
            }
            out.writeBytes(b, fl.nameStart(fi), fl.nameLength(fi)).writeByte(':').writeByte(' ');
            out.writeBytes(b, fl.valueStart(fi), fl.valueLength(fi)).writeByte(CR).writeByte(LF);
        }
        return out;
    }

    private static boolean forbidden(byte[] b, FieldLines fl, int field) {
        for (byte[] name : FORBIDDEN_TRAILERS) {
            if (fl.nameIs(b, field, name)) {
                return true;
            }
        }
        return false;
    }

    private static ByteBuf release(ByteBuf buf) {
        if (buf != null) {
            buf.release();
        }
        return null;
    }

    private static byte[][] names(String... names) {
        byte[][] out = new byte[names.length][];
        for (int i = 0; i < names.length; i++) {
            out[i] = names[i].getBytes(StandardCharsets.US_ASCII);
        }
        return out;
    }
}
