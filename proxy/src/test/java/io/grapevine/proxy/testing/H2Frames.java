package io.grapevine.proxy.testing;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersDecoder;
import io.netty.handler.codec.http2.DefaultHttp2HeadersEncoder;
import io.netty.handler.codec.http2.Http2Exception;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersEncoder;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Arrays;

/**
 * The client end of an HTTP/2 connection as bytes, written by hand (RFC 9113 section 4): every frame a
 * test needs, well-formed or not, and a reader that turns the server's bytes back into frames. HPACK is
 * Netty's, without validation, so a test can send upper-case names or forbidden fields on purpose.
 *
 * <p>One instance per connection (HPACK keeps state both ways); not thread-safe.
 */
public final class H2Frames {

    public static final byte[] PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII);

    public static final int DATA = 0x0;
    public static final int HEADERS = 0x1;
    public static final int RST_STREAM = 0x3;
    public static final int SETTINGS = 0x4;
    public static final int PING = 0x6;
    public static final int GOAWAY = 0x7;
    public static final int WINDOW_UPDATE = 0x8;
    public static final int CONTINUATION = 0x9;

    public static final int END_STREAM = 0x1;
    public static final int ACK = 0x1;
    public static final int END_HEADERS = 0x4;
    public static final int PADDED = 0x8;
    public static final int PRIORITY = 0x20;

    public static final int NO_ERROR = 0x0;
    public static final int PROTOCOL_ERROR = 0x1;
    public static final int INTERNAL_ERROR = 0x2;
    public static final int REFUSED_STREAM = 0x7;
    public static final int CANCEL = 0x8;
    public static final int ENHANCE_YOUR_CALM = 0xb;

    /** A frame read from the server; {@code headers} is the decoded block of HEADERS (with its CONTINUATIONs). */
    public record Frame(int type, int flags, int streamId, byte[] payload, Http2Headers headers) {

        public boolean endStream() {
            return (type == DATA || type == HEADERS) && (flags & END_STREAM) != 0;
        }

        /** RST_STREAM's or GOAWAY's error code. */
        public long errorCode() {
            ByteBuffer b = ByteBuffer.wrap(payload);
            return Integer.toUnsignedLong(type == GOAWAY ? b.getInt(4) : b.getInt(0));
        }

        /** GOAWAY's last stream id. */
        public int lastStreamId() {
            return ByteBuffer.wrap(payload).getInt(0) & 0x7fffffff;
        }

        @Override
        public String toString() {
            String name = switch (type) {
                case DATA -> "DATA";
                case HEADERS -> "HEADERS";
                case RST_STREAM -> "RST_STREAM";
                case SETTINGS -> "SETTINGS";
                case PING -> "PING";
                case GOAWAY -> "GOAWAY";
                case WINDOW_UPDATE -> "WINDOW_UPDATE";
                default -> "type " + type;
            };
            String detail = type == HEADERS ? " " + headers
                    : type == RST_STREAM || type == GOAWAY ? " error " + errorCode()
                    : type == DATA ? " " + payload.length + " bytes" : "";
            return name + "(stream " + streamId + ", flags " + flags + ")" + detail;
        }
    }

    private final Http2HeadersEncoder encoder =
            new DefaultHttp2HeadersEncoder(Http2HeadersEncoder.NEVER_SENSITIVE, true);
    private final DefaultHttp2HeadersDecoder decoder = new DefaultHttp2HeadersDecoder(false, 1 << 20);
    private byte[] pending = new byte[0];
    private ByteArrayOutputStream headerBlock;
    private int blockStream;
    private int blockFlags;
    private final ArrayDeque<Frame> frames = new ArrayDeque<>();

    // ---------------------------------------------------------------- writing

    /** The connection preface and an empty SETTINGS frame. */
    public byte[] preface() {
        return concat(PREFACE, settings());
    }

    public static byte[] frame(int type, int flags, int streamId, byte[] payload) {
        ByteBuffer b = ByteBuffer.allocate(9 + payload.length);
        b.put((byte) (payload.length >>> 16)).put((byte) (payload.length >>> 8)).put((byte) payload.length);
        b.put((byte) type).put((byte) flags).putInt(streamId).put(payload);
        return b.array();
    }

    /** SETTINGS with the given (identifier, value) pairs. */
    public static byte[] settings(int... pairs) {
        ByteBuffer b = ByteBuffer.allocate(pairs.length / 2 * 6);
        for (int i = 0; i < pairs.length; i += 2) {
            b.putShort((short) pairs[i]).putInt(pairs[i + 1]);
        }
        return frame(SETTINGS, 0, 0, b.array());
    }

    public static byte[] settingsAck() {
        return frame(SETTINGS, ACK, 0, new byte[0]);
    }

    public static byte[] ping(long data) {
        return frame(PING, 0, 0, ByteBuffer.allocate(8).putLong(data).array());
    }

    public static byte[] rst(int streamId, int errorCode) {
        return frame(RST_STREAM, 0, streamId, ByteBuffer.allocate(4).putInt(errorCode).array());
    }

    /**
     * PRIORITY (type 0x2, RFC 9113 section 6.3, deprecated but still read): {@code streamId} depends on
     * {@code dependency} with {@code weight} (1 to 256).
     */
    public static byte[] priority(int streamId, int dependency, int weight, boolean exclusive) {
        ByteBuffer b = ByteBuffer.allocate(5).putInt(exclusive ? dependency | 0x8000_0000 : dependency)
                .put((byte) (weight - 1));
        return frame(0x2, 0, streamId, b.array());
    }

    public static byte[] windowUpdate(int streamId, int increment) {
        return frame(WINDOW_UPDATE, 0, streamId, ByteBuffer.allocate(4).putInt(increment).array());
    }

    public static byte[] data(int streamId, byte[] content, boolean endStream) {
        return frame(DATA, endStream ? END_STREAM : 0, streamId, content);
    }

    public static byte[] continuation(int streamId, byte[] fragment, boolean endHeaders) {
        return frame(CONTINUATION, endHeaders ? END_HEADERS : 0, streamId, fragment);
    }

    /** The largest frame payload a peer accepts without asking for more (SETTINGS_MAX_FRAME_SIZE's default). */
    public static final int MAX_FRAME_SIZE = 16_384;

    /** HEADERS carrying {@code headers}, split into CONTINUATION frames beyond {@link #MAX_FRAME_SIZE}. */
    public byte[] headers(int streamId, Http2Headers headers, boolean endStream) {
        return headerBlock(streamId, block(headers), endStream);
    }

    /** HEADERS carrying the encoded {@code block}, split into CONTINUATION frames beyond {@link #MAX_FRAME_SIZE}. */
    public static byte[] headerBlock(int streamId, byte[] block, boolean endStream) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int at = 0;
        do {
            int n = Math.min(MAX_FRAME_SIZE, block.length - at);
            boolean last = at + n == block.length;
            byte[] part = Arrays.copyOfRange(block, at, at + n);
            out.writeBytes(at == 0
                    ? frame(HEADERS, (last ? END_HEADERS : 0) | (endStream ? END_STREAM : 0), streamId, part)
                    : frame(CONTINUATION, last ? END_HEADERS : 0, streamId, part));
            at += n;
        } while (at < block.length);
        return out.toByteArray();
    }

    /**
     * A header block of literal fields without indexing (RFC 7541 section 6.2.2), exactly in the order
     * given: what a {@link Http2Headers} cannot express (it moves pseudo-header fields first).
     */
    public static byte[] literalBlock(String... pairs) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0; i < pairs.length; i += 2) {
            out.write(0x00);
            hpackString(out, pairs[i]);
            hpackString(out, pairs[i + 1]);
        }
        return out.toByteArray();
    }

    private static void hpackString(ByteArrayOutputStream out, String s) {
        byte[] bytes = s.getBytes(StandardCharsets.ISO_8859_1);
        // Length as a 7-bit prefix integer (RFC 7541 section 5.1), no Huffman coding.
        int length = bytes.length;
        if (length < 127) {
            out.write(length);
        } else {
            out.write(127);
            length -= 127;
            while (length >= 128) {
                out.write((length & 0x7f) | 0x80);
                length >>>= 7;
            }
            out.write(length);
        }
        out.writeBytes(bytes);
    }

    /** A HEADERS frame carrying {@code fragment} without END_HEADERS: CONTINUATION frames must follow. */
    public static byte[] headersFragment(int streamId, byte[] fragment, boolean endStream) {
        return frame(HEADERS, endStream ? END_STREAM : 0, streamId, fragment);
    }

    /** The HPACK block of {@code headers} (this connection's encoder state). */
    public byte[] block(Http2Headers headers) {
        ByteBuf out = Unpooled.buffer();
        try {
            encoder.encodeHeaders(3, headers, out);
            byte[] bytes = new byte[out.readableBytes()];
            out.readBytes(bytes);
            return bytes;
        } catch (Http2Exception e) {
            throw new IllegalStateException(e);
        } finally {
            out.release();
        }
    }

    /** A GET request's header block: :method, :scheme http, :authority, :path, then {@code more} name/value pairs. */
    public static Http2Headers request(String method, String path, String... more) {
        Http2Headers h = new DefaultHttp2Headers(false);
        h.method(method).scheme("http").authority("test").path(path);
        for (int i = 0; i < more.length; i += 2) {
            h.add(more[i], more[i + 1]);
        }
        return h;
    }

    public static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    // ---------------------------------------------------------------- reading

    /** Takes bytes the server sent; complete frames become available to {@link #poll()}. */
    public void feed(byte[] bytes, int offset, int length) {
        byte[] all = Arrays.copyOf(pending, pending.length + length);
        System.arraycopy(bytes, offset, all, pending.length, length);
        int at = 0;
        while (all.length - at >= 9) {
            int len = ((all[at] & 0xff) << 16) | ((all[at + 1] & 0xff) << 8) | (all[at + 2] & 0xff);
            if (all.length - at < 9 + len) {
                break;
            }
            int type = all[at + 3] & 0xff;
            int flags = all[at + 4] & 0xff;
            int stream = ByteBuffer.wrap(all, at + 5, 4).getInt() & 0x7fffffff;
            byte[] payload = Arrays.copyOfRange(all, at + 9, at + 9 + len);
            at += 9 + len;
            accept(type, flags, stream, payload);
        }
        pending = Arrays.copyOfRange(all, at, all.length);
    }

    public void feed(ByteBuf in) {
        byte[] bytes = new byte[in.readableBytes()];
        in.readBytes(bytes);
        feed(bytes, 0, bytes.length);
    }

    private void accept(int type, int flags, int stream, byte[] payload) {
        if (type == HEADERS) {
            int from = 0;
            int to = payload.length;
            if ((flags & PADDED) != 0) {
                to -= payload[0] & 0xff;
                from = 1;
            }
            if ((flags & PRIORITY) != 0) {
                from += 5;
            }
            headerBlock = new ByteArrayOutputStream();
            headerBlock.write(payload, from, to - from);
            blockStream = stream;
            blockFlags = flags;
            if ((flags & END_HEADERS) != 0) {
                finishBlock();
            }
        } else if (type == CONTINUATION && headerBlock != null) {
            headerBlock.writeBytes(payload);
            if ((flags & END_HEADERS) != 0) {
                finishBlock();
            }
        } else {
            frames.add(new Frame(type, flags, stream, payload, null));
        }
    }

    private void finishBlock() {
        ByteBuf block = Unpooled.wrappedBuffer(headerBlock.toByteArray());
        try {
            frames.add(new Frame(HEADERS, blockFlags, blockStream, new byte[0], decoder.decodeHeaders(blockStream, block)));
        } catch (Http2Exception e) {
            throw new IllegalStateException("undecodable header block from the server", e);
        } finally {
            block.release();
            headerBlock = null;
        }
    }

    /** The next complete frame, or {@code null}. */
    public Frame poll() {
        return frames.poll();
    }
}
