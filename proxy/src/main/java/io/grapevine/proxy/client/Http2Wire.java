package io.grapevine.proxy.client;

import io.grapevine.proxy.stats.ProxyStats;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import java.util.function.IntConsumer;

/**
 * Sits just before the HTTP/2 codec, where the bytes are those of the wire (after TLS): counts them both ways, as the
 * HTTP/1 codec counts its own, and follows the client's frame boundaries far enough to know whether a header block
 * is open. The codec says nothing of a block until it has all of it (a HEADERS frame and its CONTINUATIONs up to
 * END_HEADERS, RFC 9113 section 4.3), and while one is open no other frame may come (section 6.10): a block left
 * open holds the whole connection, which {@link Http2Connection#checkDeadlines} gives client_header_ms.
 *
 * <p>It also refuses a SETTINGS frame of more than {@link Http2Connection#MAX_SETTINGS_PER_FRAME} parameters, as
 * nghttp2 does, from its header alone: the codec would decode and apply every one (a frame of the largest size holds
 * 2,730), a cost per frame that no budget of frames sees. The bytes before that frame go on to the codec; the frame
 * and all that follows are dropped, and the connection is told ({@link #onSettingsFlood}), which ends it.
 *
 * <p>Per read, this looks at the 9-byte header of each frame and skips its payload: no copy and no allocation.
 * Thread: the connection's event loop.
 */
final class Http2Wire extends ChannelDuplexHandler {

    private static final int FRAME_HEADER_BYTES = 9;
    private static final int CLIENT_MAGIC_BYTES = 24; // "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", RFC 9113 section 3.4
    private static final int TYPE_HEADERS = 0x1;
    private static final int TYPE_SETTINGS = 0x4;
    private static final int FLAG_ACK = 0x1;
    private static final int SETTING_BYTES = 6; // identifier and value, RFC 9113 section 6.5.1
    private static final int TYPE_CONTINUATION = 0x9;
    private static final int FLAG_END_HEADERS = 0x4;

    private final ProxyStats stats;
    /** Bytes of the client's magic still to pass before the first frame. */
    private int magicLeft = CLIENT_MAGIC_BYTES;
    /** Bytes of the current frame's header seen (0 between frames), and what they said so far. */
    private int headerSeen;
    private int length;
    private int type;
    private int flags;
    /** Bytes of the current frame's payload still to pass. */
    private int payloadLeft;
    /** When the first byte of the open header block's HEADERS frame arrived (System.nanoTime); 0 when none is open. */
    private long blockOpenSinceNanos;
    /** Told the parameters of a SETTINGS frame over the limit, once; nothing read reaches the codec after it. */
    private IntConsumer settingsFlood = parameters -> { };
    private boolean refusing;

    Http2Wire(ProxyStats stats) {
        this.stats = stats;
    }

    /** Where a SETTINGS frame of too many parameters is told (with their number), within the read that brought it. */
    void onSettingsFlood(IntConsumer listener) {
        this.settingsFlood = listener;
    }

    /** When the open header block began (System.nanoTime), or 0 when no block is open. */
    long headerBlockOpenSince() {
        return blockOpenSinceNanos;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof ByteBuf b)) {
            ctx.fireChannelRead(msg);
            return;
        }
        stats.bytesIn.add(b.readableBytes());
        if (refusing) {
            b.release();
            return;
        }
        int refusedAt = follow(b);
        if (refusedAt < 0) {
            ctx.fireChannelRead(b);
            return;
        }
        refusing = true;
        b.writerIndex(refusedAt); // the frames before the refused one are read as usual, then the connection ends
        if (b.isReadable()) {
            ctx.fireChannelRead(b);
        } else {
            b.release();
        }
        settingsFlood.accept(length / SETTING_BYTES);
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        if (msg instanceof ByteBuf b) {
            stats.bytesOut.add(b.readableBytes());
        }
        ctx.write(msg, promise);
    }

    /**
     * Moves the frame boundaries over {@code in}'s readable bytes, which it leaves as they are. Returns -1, or, where a
     * SETTINGS frame of too many parameters begins (the reader index if its header began in an earlier read), the end
     * of what the codec may read; {@link #length} is then that frame's.
     */
    private int follow(ByteBuf in) {
        int at = in.readerIndex();
        int end = in.writerIndex();
        int frameStart = at;
        while (at < end) {
            if (magicLeft > 0) {
                int n = Math.min(magicLeft, end - at);
                magicLeft -= n;
                at += n;
            } else if (payloadLeft > 0) {
                int n = Math.min(payloadLeft, end - at);
                payloadLeft -= n;
                at += n;
                if (payloadLeft == 0) {
                    frameEnded();
                }
            } else {
                if (headerSeen == 0) {
                    frameStart = at;
                }
                int b = in.getUnsignedByte(at++);
                switch (headerSeen++) {
                    case 0, 1, 2 -> length = (length << 8) | b;
                    case 3 -> type = b;
                    case 4 -> flags = b;
                    default -> { } // the stream identifier
                }
                if (headerSeen == FRAME_HEADER_BYTES) {
                    headerSeen = 0;
                    if (type == TYPE_SETTINGS && (flags & FLAG_ACK) == 0
                            && length / SETTING_BYTES > Http2Connection.MAX_SETTINGS_PER_FRAME) {
                        return frameStart;
                    }
                    payloadLeft = length;
                    length = 0;
                    if (type == TYPE_HEADERS && blockOpenSinceNanos == 0) {
                        blockOpenSinceNanos = System.nanoTime();
                    }
                    if (payloadLeft == 0) {
                        frameEnded();
                    }
                }
            }
        }
        return -1;
    }

    /** The current frame has arrived whole: a HEADERS or CONTINUATION frame with END_HEADERS closes the block. */
    private void frameEnded() {
        if ((type == TYPE_HEADERS || type == TYPE_CONTINUATION) && (flags & FLAG_END_HEADERS) != 0) {
            blockOpenSinceNanos = 0;
        }
    }
}
