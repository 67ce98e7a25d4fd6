package io.grapevine.proxy.client;

import io.grapevine.proxy.stats.ProxyStats;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2FrameLogger;
import io.netty.handler.logging.LogLevel;

/**
 * Sees every frame the HTTP/2 codec reads and writes (Netty calls its frame logger for each) and counts
 * what the statistics report: stream resets received, resets the proxy sent with an error, and GOAWAYs
 * it sent with an error. It also
 * logs the frames at TRACE under this class's logger, for whoever needs to see a connection frame by frame.
 *
 * <p>Holds nothing but the shared counters; called on the connection's event loop.
 */
final class Http2FrameCounter extends Http2FrameLogger {

    private final ProxyStats stats;

    Http2FrameCounter(ProxyStats stats) {
        super(LogLevel.TRACE, Http2FrameCounter.class);
        this.stats = stats;
    }

    @Override
    public void logRstStream(Direction direction, ChannelHandlerContext ctx, int streamId, long errorCode) {
        super.logRstStream(direction, ctx, streamId, errorCode);
        if (direction == Direction.INBOUND) {
            stats.http2ResetsReceived.increment();
        } else if (errorCode != Http2Error.NO_ERROR.code()) {
            stats.http2ResetsSent.increment(); // not the NO_ERROR that ends an upload answered early
        }
    }

    @Override
    public void logGoAway(Direction direction, ChannelHandlerContext ctx, int lastStreamId, long errorCode,
                          ByteBuf debugData) {
        super.logGoAway(direction, ctx, lastStreamId, errorCode, debugData);
        if (direction == Direction.OUTBOUND && errorCode != Http2Error.NO_ERROR.code()) {
            stats.http2ConnectionErrors.increment();
        }
    }
}
