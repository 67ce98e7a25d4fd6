package io.grapevine.proxy.client;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http2.Http2ConnectionDecoder;
import io.netty.handler.codec.http2.Http2ConnectionEncoder;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2Settings;
import java.util.List;

/**
 * Netty's HTTP/2 frame codec, whose input can be ended: once the connection has written a GOAWAY with an error it
 * decodes nothing more ({@link #endInput}). RFC 9113 section 6.8 lets the sender of a GOAWAY ignore the frames of new
 * streams after it, and the connection is closing: as HAProxy and nghttp2 do, the frames still read are dropped
 * undecoded rather than opening streams that reach a backend, or costing each its decoding. The codec's own reader
 * stops this way after an error it finds itself; one the proxy finds (a budget spent in the middle of a read) would
 * otherwise leave it decoding the rest of that read.
 *
 * <p>Thread: the connection's event loop.
 */
final class Http2ServerCodec extends Http2FrameCodec {

    /** The bytes {@link #decode} is reading (the decoder's cumulation), while it reads them; null otherwise. */
    private ByteBuf decoding;
    private boolean inputEnded;

    private Http2ServerCodec(Http2ConnectionEncoder encoder, Http2ConnectionDecoder decoder, Http2Settings settings,
                             boolean decoupleCloseAndGoAway, boolean flushPreface) {
        super(encoder, decoder, settings, decoupleCloseAndGoAway, flushPreface);
    }

    /** A builder for a server's codec, as {@link Http2FrameCodecBuilder#forServer()}. */
    static Http2FrameCodecBuilder forServer() {
        return new Builder();
    }

    /**
     * Drops, undecoded, what remains of the bytes being read and all read after. Called within the codec's read (a
     * frame's listener, the GOAWAY's write) or outside it: the frame being read is left whole (the reader took its
     * payload already), and the reader, finding no byte left, returns after it.
     */
    void endInput() {
        inputEnded = true;
        if (decoding != null) {
            decoding.skipBytes(decoding.readableBytes());
        }
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception {
        if (inputEnded) {
            in.skipBytes(in.readableBytes());
            return;
        }
        decoding = in;
        try {
            super.decode(ctx, in, out);
        } finally {
            decoding = null;
        }
    }

    private static final class Builder extends Http2FrameCodecBuilder {

        Builder() {
            server(true);
        }

        @Override
        protected Http2FrameCodec build(Http2ConnectionDecoder decoder, Http2ConnectionEncoder encoder,
                                        Http2Settings initialSettings) {
            Http2ServerCodec codec = new Http2ServerCodec(encoder, decoder, initialSettings,
                    decoupleCloseAndGoAway(), flushPreface());
            codec.gracefulShutdownTimeoutMillis(gracefulShutdownTimeoutMillis());
            return codec;
        }
    }
}
