package io.grapevine.proxy.client;

import io.grapevine.proxy.stats.ProxyStats;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2FrameLogger;
import io.netty.handler.logging.LogLevel;
import java.util.function.LongConsumer;

/**
 * Sees every frame the HTTP/2 codec reads and writes (Netty calls its frame logger for each) and counts
 * what the statistics report: stream resets received, resets the proxy sent with an error, and GOAWAYs
 * it sent with an error. Each RST_STREAM written, the codec's own included, is also told to the connection
 * ({@link #onResetWritten}), which keeps the budget of resets the client provokes. It also
 * logs the frames at TRACE under this class's logger, for whoever needs to see a connection frame by frame.
 *
 * <p>One per connection, holding the shared counters and its connection's callback; called on the
 * connection's event loop.
 */
final class Http2FrameCounter extends Http2FrameLogger {

    private final ProxyStats stats;
    /** Told the error code of each RST_STREAM the codec writes, for the connection's reset budget. */
    private LongConsumer resetWritten = errorCode -> { };

    Http2FrameCounter(ProxyStats stats) {
        super(LogLevel.TRACE, Http2FrameCounter.class);
        this.stats = stats;
    }

    /** Where each RST_STREAM written goes, by its error code, as it is written (the connection's reset budget). */
    void onResetWritten(LongConsumer consumer) {
        this.resetWritten = consumer;
    }

    @Override
    public void logRstStream(Direction direction, ChannelHandlerContext ctx, int streamId, long errorCode) {
        super.logRstStream(direction, ctx, streamId, errorCode);
        if (direction == Direction.INBOUND) {
            stats.http2ResetsReceived.increment();
            return;
        }
        if (errorCode != Http2Error.NO_ERROR.code()) {
            stats.http2ResetsSent.increment(); // not the NO_ERROR that ends an upload answered early
        }
        resetWritten.accept(errorCode);
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
