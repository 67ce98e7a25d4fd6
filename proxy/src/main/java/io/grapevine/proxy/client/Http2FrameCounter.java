package io.grapevine.proxy.client;

import io.grapevine.proxy.stats.ProxyStats;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Flags;
import io.netty.handler.codec.http2.Http2FrameLogger;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.logging.LogLevel;
import java.nio.charset.StandardCharsets;
import java.util.function.Consumer;

/**
 * Sees every frame the HTTP/2 codec reads and writes (Netty calls its frame logger for each) and counts
 * what the statistics report: stream resets received, resets the proxy sent with an error, and the connection
 * ended by a GOAWAY with an error (once, whatever follows it; one with ENHANCE_YOUR_CALM is also told to the
 * connection, {@link #onCalmWritten}). That GOAWAY ends the codec's input ({@link #onConnectionErrorWritten}); what is
 * still done of the frame being read, and written before the close, is none of the counters' business
 * ({@link #connectionErrorSent}).
 * Each RST_STREAM written, the codec's own included, is also told to the connection ({@link #onResetWritten}),
 * which keeps the budget of resets the client provokes; so is each WINDOW_UPDATE, RST_STREAM and frame of unknown type
 * read ({@link #onIdleFrameRead}), which may ask nothing of the proxy but their reading, and for the WINDOW_UPDATE
 * budget it counts the DATA frames written ({@link #dataFramesSent}). It also logs the frames at TRACE under this class's
 * logger, for whoever needs to see a connection frame by frame.
 *
 * <p>One per connection, holding the shared counters and its connection's callback; called on the
 * connection's event loop.
 */
final class Http2FrameCounter extends Http2FrameLogger {

    /** Told of each RST_STREAM written, as it is written. */
    interface ResetListener {
        /**
         * @param dataBytes the flow-controlled length (content and padding) of the DATA frame the reset answers,
         *                  the codec's answer to DATA on a stream it forgot; -1 if it answers none
         */
        void resetWritten(int streamId, long errorCode, int dataBytes);
    }

    /** Told of each frame read that only the connection's budgets look at. */
    interface IdleFrameListener {
        /** A WINDOW_UPDATE, on the connection or a stream, whatever its state (told before the codec acts on it). */
        void windowUpdateRead();

        /** A frame of a type RFC 9113 does not define (section 5.5: ignored), on any stream. */
        void unknownFrameRead();

        /**
         * A RST_STREAM (told before the codec acts on it): whether it resets a stream the codec has open. One of a
         * stream already closed does nothing (RFC 9113 section 5.1), and is no stream the client reset.
         */
        boolean resetRead(int streamId);
    }

    private final ProxyStats stats;
    /** Told of each WINDOW_UPDATE, RST_STREAM and unknown frame read, for the connection's budgets. */
    private IdleFrameListener idleFrameRead = new IdleFrameListener() {
        @Override
        public void windowUpdateRead() { }

        @Override
        public void unknownFrameRead() { }

        @Override
        public boolean resetRead(int streamId) {
            return true;
        }
    };
    /** DATA frames written to the client, the codec's flow controller cutting a response into frames as it writes. */
    private long dataFramesSent;
    /** Told of each RST_STREAM the codec writes, for the connection's reset budget. */
    private ResetListener resetWritten = (streamId, errorCode, dataBytes) -> { };
    /** Told of the first GOAWAY written with an error, as it is written: the codec then decodes nothing more. */
    private Runnable connectionErrorWritten = () -> { };
    /** Told of each GOAWAY ENHANCE_YOUR_CALM written, with its debug data (the reason), for the connection's line. */
    private Consumer<String> calmWritten = reason -> { };
    /**
     * The stream of the DATA frame being read, and its flow-controlled length: the codec answers DATA on a stream it
     * forgot with a reset within that frame's reading (after {@link #logData}, before the next frame is logged).
     * 0 once a reset or a HEADERS frame followed.
     */
    private int dataStreamId;
    private int dataBytes;
    /** A GOAWAY with an error was written: the connection is ending (see {@link #connectionErrorSent}). */
    private boolean connectionErrorSent;

    Http2FrameCounter(ProxyStats stats) {
        super(LogLevel.TRACE, Http2FrameCounter.class);
        this.stats = stats;
    }

    /** Where each RST_STREAM written goes, as it is written (the connection's reset budget). */
    void onResetWritten(ResetListener listener) {
        this.resetWritten = listener;
    }

    /** Where each WINDOW_UPDATE and unknown frame read is told, before the codec acts on it. */
    void onIdleFrameRead(IdleFrameListener listener) {
        this.idleFrameRead = listener;
    }

    /**
     * Whether a GOAWAY with an error was written: the connection ends, the codec decodes no frame after the one being
     * read, and what that frame still does, or the codec still writes, counts no more, neither as resets received nor
     * against any budget, whose spending would end it a second time.
     */
    boolean connectionErrorSent() {
        return connectionErrorSent;
    }

    /** DATA frames written so far on this connection. */
    long dataFramesSent() {
        return dataFramesSent;
    }

    /**
     * Where the first GOAWAY with an error is told, as it is written, whichever path wrote it (the codec's on an error it
     * found, the connection's on a budget spent): {@link Http2ServerCodec#endInput}.
     */
    void onConnectionErrorWritten(Runnable listener) {
        this.connectionErrorWritten = listener;
    }

    /**
     * Where each GOAWAY ENHANCE_YOUR_CALM goes, as it is written: whichever limit ended the connection, the decoder's,
     * the connection's own, or the encoder's on control frames queued towards a client that reads none (which Netty
     * reports to no handler), the GOAWAY is the one place they all pass. {@code debugData} is the codec's (the reason,
     * read here, not kept).
     */
    void onCalmWritten(Consumer<String> listener) {
        this.calmWritten = listener;
    }

    @Override
    public void logData(Direction direction, ChannelHandlerContext ctx, int streamId, ByteBuf data, int padding,
                        boolean endStream) {
        super.logData(direction, ctx, streamId, data, padding, endStream);
        if (direction == Direction.INBOUND) {
            dataStreamId = streamId;
            dataBytes = data.readableBytes() + padding;
        } else {
            dataFramesSent++;
        }
    }

    @Override
    public void logWindowsUpdate(Direction direction, ChannelHandlerContext ctx, int streamId,
                                 int windowSizeIncrement) {
        super.logWindowsUpdate(direction, ctx, streamId, windowSizeIncrement);
        if (direction == Direction.INBOUND) {
            idleFrameRead.windowUpdateRead();
        }
    }

    @Override
    public void logUnknownFrame(Direction direction, ChannelHandlerContext ctx, byte frameType, int streamId,
                                Http2Flags flags, ByteBuf data) {
        super.logUnknownFrame(direction, ctx, frameType, streamId, flags, data);
        if (direction == Direction.INBOUND) {
            idleFrameRead.unknownFrameRead();
        }
    }

    @Override
    public void logHeaders(Direction direction, ChannelHandlerContext ctx, int streamId, Http2Headers headers,
                           int padding, boolean endStream) {
        super.logHeaders(direction, ctx, streamId, headers, padding, endStream);
        if (direction == Direction.INBOUND) {
            dataStreamId = 0;
        }
    }

    @Override
    public void logHeaders(Direction direction, ChannelHandlerContext ctx, int streamId, Http2Headers headers,
                           int streamDependency, short weight, boolean exclusive, int padding, boolean endStream) {
        super.logHeaders(direction, ctx, streamId, headers, streamDependency, weight, exclusive, padding, endStream);
        if (direction == Direction.INBOUND) {
            dataStreamId = 0;
        }
    }

    @Override
    public void logRstStream(Direction direction, ChannelHandlerContext ctx, int streamId, long errorCode) {
        super.logRstStream(direction, ctx, streamId, errorCode);
        if (direction == Direction.INBOUND) {
            if (connectionErrorSent) {
                return;
            }
            if (idleFrameRead.resetRead(streamId)) {
                stats.http2ResetsReceived.increment();
            }
            return;
        }
        if (errorCode != Http2Error.NO_ERROR.code()) {
            stats.http2ResetsSent.increment(); // not the NO_ERROR that ends an upload answered early
        }
        int answered = streamId == dataStreamId ? dataBytes : -1;
        dataStreamId = 0;
        resetWritten.resetWritten(streamId, errorCode, answered);
    }

    @Override
    public void logGoAway(Direction direction, ChannelHandlerContext ctx, int lastStreamId, long errorCode,
                          ByteBuf debugData) {
        super.logGoAway(direction, ctx, lastStreamId, errorCode, debugData);
        if (direction == Direction.OUTBOUND && errorCode != Http2Error.NO_ERROR.code() && !connectionErrorSent) {
            connectionErrorSent = true;
            connectionErrorWritten.run();
            stats.http2ConnectionErrors.increment();
            if (errorCode == Http2Error.ENHANCE_YOUR_CALM.code()) {
                calmWritten.accept(debugData.toString(StandardCharsets.UTF_8));
            }
        }
    }
}
