package io.grapevine.proxy.client;

import io.grapevine.proxy.config.Limits;
import io.grapevine.proxy.forward.ClientConnection;
import io.grapevine.proxy.forward.LoopContext;
import io.grapevine.proxy.forward.MemoryPressure;
import io.grapevine.proxy.http.Http2Fields;
import io.grapevine.proxy.stats.ProxyStats;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ChannelPromise;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.http2.DefaultHttp2GoAwayFrame;
import io.netty.handler.codec.http2.DefaultHttp2PingFrame;
import io.netty.handler.codec.http2.DefaultHttp2WindowUpdateFrame;
import io.netty.handler.codec.http2.Http2CodecUtil;
import io.netty.handler.codec.http2.Http2ConnectionEncoder;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Exception;
import io.netty.handler.codec.http2.Http2FrameListener;
import io.netty.handler.codec.http2.Http2FrameListenerDecorator;
import io.netty.handler.codec.http2.Http2FrameStream;
import io.netty.handler.codec.http2.Http2FrameStreamEvent;
import io.netty.handler.codec.http2.Http2FrameStreamException;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2LifecycleManager;
import io.netty.handler.codec.http2.Http2LocalFlowController;
import io.netty.handler.codec.http2.Http2PingFrame;
import io.netty.handler.codec.http2.Http2RemoteFlowController;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2SettingsAckFrame;
import io.netty.handler.codec.http2.Http2SettingsFrame;
import io.netty.handler.flush.FlushConsolidationHandler;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.collection.IntObjectHashMap;
import io.netty.util.concurrent.Future;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.ArrayList;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One HTTP/2 client connection (RFC 9113). Netty's frame codec reads and writes frames, keeps the streams'
 * states and flow-control windows, and enforces much of the RFC; this handler, last in the pipeline, hands
 * each stream's frames to its {@link Http2Stream} (one request, one exchange) and owns what belongs to the
 * connection as a whole: the settings and the limits that defend it, its deadlines, its graceful drain,
 * and its counters.
 *
 * <pre>
 *  [TLS] ─▶ h2-flush ─▶ h2-wire ─▶ h2 (Http2ServerCodec) ─▶ h2-connection (this)
 *                                                              │ streams by id
 *                                                              └▶ Http2Stream ─▶ Exchange
 * </pre>
 *
 * <p>A stream is a plain object, not a channel of its own (Netty's stream multiplexer would give each a
 * child channel with its pipeline, promises and write listeners, the larger part of the proxy's own work per
 * request under HTTP/2). Nor do its HEADERS and DATA become frame objects: the codec's decoder hands them to
 * this handler's {@link StreamFrames} listener (its other frames go on to the codec's own listener, which
 * passes them down the pipeline as frames), and a stream's HEADERS, DATA and RST_STREAM go straight to the
 * codec's encoder, in the codec's context, as the codec's own {@code write} would send them. The codec tells
 * this handler when a stream changes state (so a closed one is dropped, its exchange aborted if its response
 * was not complete) and when one's writability changes (its window, the connection's, or the socket's buffer).
 *
 * <p>{@code h2-flush} consolidates flushes: each stream flushes when its response ends, and the responses of
 * many streams often end in one turn of the event loop (their backends answered in the same round of
 * readiness events); without it each became its own {@code writev} (a system call per response, 40 % of the
 * loop's time under h2load). The flushes of one turn now leave in one write, when the client channel reads
 * (at its read-complete) or in a task queued behind that turn's events.
 *
 * <p>Defences, most of them Netty's: at most {@code h2_max_concurrent_streams} open streams (more are
 * refused with RST_STREAM); a header list larger than {@code max_header_bytes} is answered 431, one that
 * keeps growing beyond (a CONTINUATION flood) and runs of small CONTINUATION frames end the connection;
 * resets received beyond {@link #MAX_RESETS_PER_WINDOW} per {@link #RESET_WINDOW_SECONDS} (rapid reset,
 * CVE-2023-44487), resets the client provokes beyond the same rate ({@link #resetWritten}: not those of
 * streams whose backend failed), control frames queued towards a client
 * that does not read them, runs of empty DATA frames, PING, SETTINGS (their acknowledgements too), PRIORITY, resets
 * of closed streams and frames of unknown type beyond {@link #MAX_CONTROL_FRAMES_PER_WINDOW} per
 * {@link #CONTROL_WINDOW_NANOS}, WINDOW_UPDATE frames beyond those the streams and the DATA sent call for
 * ({@link #windowUpdateRead}), and a SETTINGS frame of more than {@link #MAX_SETTINGS_PER_FRAME} parameters
 * ({@link Http2Wire}) all end the connection with a GOAWAY, after which the codec decodes nothing more
 * ({@link Http2ServerCodec#endInput}). Request bodies are bounded by the stream window,
 * response buffering by the windows and the socket's write-buffer marks.
 *
 * <p>Thread: the connection's event loop, like its streams and their exchanges.
 */
final class Http2Connection extends ClientChannelHandler
        implements ClientConnection, Http2FrameCounter.IdleFrameListener {

    private static final Logger log = LoggerFactory.getLogger(Http2Connection.class);

    static final String FLUSH = "h2-flush";
    /** Flushes held back at most before one goes through anyway (Netty's default). */
    private static final int FLUSHES_PER_WRITE = FlushConsolidationHandler.DEFAULT_EXPLICIT_FLUSH_AFTER_FLUSHES;
    static final String WIRE = "h2-wire";
    static final String CODEC = "h2";
    static final String CONNECTION = "h2-connection";

    /** RST_STREAM frames a client may send (and provoke) per window before the connection ends. */
    static final int MAX_RESETS_PER_WINDOW = 200;
    static final int RESET_WINDOW_SECONDS = 30;
    private static final long RESET_WINDOW_NANOS = TimeUnit.SECONDS.toNanos(RESET_WINDOW_SECONDS);
    /** Control frames queued towards a client that does not read them; beyond, the connection ends. */
    static final int MAX_QUEUED_CONTROL_FRAMES = 10_000;
    /**
     * PING, SETTINGS (their acknowledgements too), PRIORITY, RST_STREAM of closed streams and frames of unknown type a
     * client may send per window; beyond, GOAWAY ENHANCE_YOUR_CALM.
     */
    static final int MAX_CONTROL_FRAMES_PER_WINDOW = 1000;
    static final long CONTROL_WINDOW_NANOS = TimeUnit.SECONDS.toNanos(10);
    /**
     * Parameters one SETTINGS frame may carry (nghttp2's default); beyond, GOAWAY ENHANCE_YOUR_CALM before the frame
     * is decoded. RFC 9113 defines six, and a frame may repeat them: each costs the codec its decoding and applying.
     */
    static final int MAX_SETTINGS_PER_FRAME = 32;
    /** WINDOW_UPDATE frames a client may send per DATA frame sent to it (Envoy's default): {@link #windowUpdateRead}. */
    static final int WINDOW_UPDATES_PER_DATA_FRAME_SENT = 10;
    /** How long a drain waits for the client to acknowledge the first GOAWAY before it sends the last. */
    static final long DRAIN_ROUND_TRIP_MILLIS = 1000;
    private static final long DRAIN_PING = 0x6472_6169_6e00_0001L;
    /**
     * The ENHANCE_YOUR_CALM lines of all connections: a client that opens connection after connection, each flooded
     * in a few hundred bytes, would otherwise write a line per connection. {@code http2_connection_errors} counts
     * every such close.
     */
    static final LineLimit CALM_LINES = new LineLimit();

    /** Where the connection stands. */
    enum Lifecycle {
        /** Takes new streams. */
        OPEN,
        /** A GOAWAY announced the end; the streams in flight finish, then the connection closes. */
        DRAINING,
        /** The channel is closed. */
        CLOSED
    }

    private final LoopContext loop;
    private final ProxyStats stats;
    private final Http2ServerCodec codec;
    private final Http2ConnectionEncoder encoder;
    /** The codec's context: the encoder writes from there towards the socket, as within the codec's own write. */
    private ChannelHandlerContext codecContext;
    private final Http2LocalFlowController inboundFlow;
    private final Http2RemoteFlowController outboundFlow;
    private final Http2Fields fields = new Http2Fields();
    /** The open streams that have a request head, by id. */
    private final IntObjectHashMap<Http2Stream> streams = new IntObjectHashMap<>();
    /** Streams that read something in the current read, to flush towards their backends at its end. */
    private final ArrayList<Http2Stream> readThisTurn = new ArrayList<>();
    private final long idleTimeoutNanos;
    /**
     * client_header_ms: how long the client has for its connection preface, and for each header block once its first
     * byte arrived (see {@link #checkDeadlines}).
     */
    private final long headerTimeoutNanos;
    /** The bytes before the codec: where the client's header block stands. */
    private final Http2Wire wire;
    private final int connectionWindow;

    private byte[] clientAddress;
    private InetSocketAddress clientInet;
    private InetSocketAddress destinationInet;
    /** The connection arrived over TLS: its listener's, fixed when the connection is set up. */
    private final boolean secure;
    private Lifecycle lifecycle = Lifecycle.OPEN;
    /** When the last stream closed (or the connection opened); 0 while streams are open. */
    private long idleSinceNanos;
    /** When the socket's outbound buffer went over its high-water mark (the client reads too little); 0 while writable. */
    private long unwritableSinceNanos;
    /**
     * When the client's input began (the accept, or the end of the TLS handshake): the connection preface's deadline
     * counts from there, the magic a handler before this one read being part of it. Idleness counts from the setup.
     */
    private final long openedNanos;
    private long controlWindowStartNanos;
    /** This connection's ENHANCE_YOUR_CALM was told ({@link #logCalm}). */
    private boolean calmTold;
    private int controlFrames;
    /** WINDOW_UPDATE frames read, and streams the client opened, for {@link #windowUpdateRead}. */
    private long windowUpdates;
    private long streamsOpened;
    /** A budget was spent and the connection ended with ENHANCE_YOUR_CALM: the frames still read count no more. */
    private boolean flooded;
    private final Http2FrameCounter frames;
    private boolean lastGoAwaySent;
    private Future<?> drainTimer;
    /** Resets written that the client provoked, since {@link #resetWindowStartNanos} (see {@link #resetWritten}). */
    private int provokedResets;
    private long resetWindowStartNanos;
    /** The reset being written is for a response its exchange gave up on (see {@link #writeReset}). */
    private boolean writingAbandonedReset;
    /**
     * Bytes of DATA the client may still send, unaware, to streams reset for a response given up on: their receive
     * windows when they were reset, at most the connection's window. What the codec answers of it is not counted
     * ({@link #resetWritten}); each answer spends its frame's bytes.
     */
    private long abandonedWindowBytes;

    private Http2Connection(LoopContext loop, Http2ServerCodec codec, Http2FrameCounter frames, Http2Wire wire,
                            long openedNanos, boolean secure) {
        this.openedNanos = openedNanos;
        this.frames = frames;
        this.secure = secure;
        this.loop = loop;
        this.wire = wire;
        this.stats = loop.stats();
        this.codec = codec;
        this.encoder = codec.encoder();
        this.inboundFlow = codec.connection().local().flowController();
        this.outboundFlow = codec.connection().remote().flowController();
        Limits limits = loop.limits();
        this.idleTimeoutNanos = TimeUnit.MILLISECONDS.toNanos(loop.timeouts().clientIdleMillis());
        this.headerTimeoutNanos = TimeUnit.MILLISECONDS.toNanos(loop.timeouts().clientHeaderMillis());
        // The connection window never binds before the stream windows do: a stream whose backend is slow
        // holds back its own client, not the other streams (as nginx and HAProxy do). Memory per connection
        // stays bounded by streams x stream window.
        this.connectionWindow = (int) Math.min(Integer.MAX_VALUE,
                (long) limits.h2StreamWindowBytes() * limits.h2MaxConcurrentStreams());
    }

    /**
     * Ends {@code pipeline} with an HTTP/2 server: the codec and the connection handler, on {@code loop}
     * (the channel's event loop), for a connection of a cleartext listener.
     */
    static void install(ChannelPipeline pipeline, LoopContext loop) {
        install(pipeline, loop, System.nanoTime(), false);
    }

    /**
     * As {@link #install(ChannelPipeline, LoopContext)}, for a client whose first bytes were read since
     * {@code sinceNanos} by the handler that chose HTTP/2 ({@link PrefaceDetector}): the deadline of its connection
     * preface counts from then.
     *
     * @param secure the connection came over TLS (a TLS listener's): {@code X-Forwarded-Proto: https}
     */
    static void install(ChannelPipeline pipeline, LoopContext loop, long sinceNanos, boolean secure) {
        Limits limits = loop.limits();
        Http2Settings settings = new Http2Settings()
                .maxConcurrentStreams(limits.h2MaxConcurrentStreams())
                .initialWindowSize(limits.h2StreamWindowBytes())
                .maxHeaderListSize(limits.maxHeaderBytes());
        Http2FrameCounter frames = new Http2FrameCounter(loop.stats());
        Http2ServerCodec codec = (Http2ServerCodec) Http2ServerCodec.forServer()
                .initialSettings(settings)
                .validateHeaders(true)
                .validateRequiredPseudoHeaders(true)
                .gracefulShutdownTimeoutMillis(loop.timeouts().shutdownGraceMillis())
                .decoderEnforceMaxRstFramesPerWindow(MAX_RESETS_PER_WINDOW, RESET_WINDOW_SECONDS)
                // Netty's budget of resets written counts those of streams whose backend failed too; this one's
                // is kept by the connection, which knows (resetWritten).
                .encoderEnforceMaxRstFramesPerWindow(0, 0)
                .encoderEnforceMaxQueuedControlFrames(MAX_QUEUED_CONTROL_FRAMES)
                .decoderEnforceMaxConsecutiveEmptyDataFrames(2)
                .decoderEnforceMaxSmallContinuationFrames(16)
                .frameLogger(frames)
                .build();
        Http2Wire wire = new Http2Wire(loop.stats());
        Http2Connection connection = new Http2Connection(loop, codec, frames, wire, sinceNanos, secure);
        frames.onResetWritten(connection::resetWritten);
        frames.onIdleFrameRead(connection);
        frames.onCalmWritten(connection::logCalm);
        frames.onConnectionErrorWritten(codec::endInput);
        wire.onSettingsFlood(connection::settingsFlood);
        // The decoder wraps the listener it is given in its rapid-reset and empty-DATA guards, as it wrapped the codec's.
        codec.decoder().frameListener(connection.new StreamFrames(codec.decoder().frameListener()));
        pipeline.addLast(FLUSH, new FlushConsolidationHandler(FLUSHES_PER_WRITE, true));
        pipeline.addLast(WIRE, wire);
        pipeline.addLast(CODEC, codec);
        pipeline.addLast(CONNECTION, connection);
    }

    LoopContext loop() {
        return loop;
    }

    ProxyStats stats() {
        return stats;
    }

    /** Scratch space for translating request heads; one stream at a time uses it, on this loop. */
    Http2Fields fields() {
        return fields;
    }

    byte[] clientAddress() {
        return clientAddress;
    }

    @Override
    public InetSocketAddress clientInet() {
        return clientInet;
    }

    @Override
    public InetSocketAddress destinationInet() {
        return destinationInet;
    }

    /** The connection arrived over TLS: {@code X-Forwarded-Proto: https}. */
    boolean secure() {
        return secure;
    }

    /** The client as log lines name it: the address a PROXY header announced, when one did (behind a balancer). */
    SocketAddress remoteAddress() {
        return ClientAddress.forLog(channel);
    }

    ByteBufAllocator alloc() {
        return ctx.alloc();
    }

    // ---------------------------------------------------------------- lifecycle

    @Override
    protected void activate() {
        codecContext = channel.pipeline().context(codec);
        encoder.lifecycleManager(new EncoderLifecycle()); // after the codec's handlerAdded, which set its own
        clientInet = ClientAddress.of(channel);
        destinationInet = ClientAddress.destinationOf(channel);
        clientAddress = ClientAddress.ascii(clientInet);
        idleSinceNanos = System.nanoTime();
        controlWindowStartNanos = idleSinceNanos;
        stats.http2Connections.increment();
        loop.register(this);
        int increment = connectionWindow - Http2CodecUtil.DEFAULT_WINDOW_SIZE;
        if (increment > 0) {
            // A WINDOW_UPDATE on stream 0, after the SETTINGS the codec sent on being added.
            ctx.writeAndFlush(new DefaultHttp2WindowUpdateFrame(increment), ctx.voidPromise());
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        lifecycle = Lifecycle.CLOSED;
        if (drainTimer != null) {
            drainTimer.cancel(false);
        }
        loop.unregister(this);
        ctx.fireChannelInactive();
    }

    @Override
    public long stalledSinceNanos() {
        return unwritableSinceNanos;
    }

    /**
     * Resets the streams whose response has waited for a window for over {@link MemoryPressure#STALLED_NANOS}: a
     * client can read its socket (so that the connection is never stalled) and grant no window to many streams (a
     * zero SETTINGS_INITIAL_WINDOW_SIZE, or no WINDOW_UPDATE), each holding a backend read, beside one it takes.
     * Those streams alone go; the others, and the connection, stay. Walks the streams: a sweep under memory pressure
     * calls it.
     */
    @Override
    public int shedStalledStreams(long nowNanos) {
        int shed = 0;
        for (Http2Stream stream : streams.values().toArray(new Http2Stream[0])) {
            if (MemoryPressure.isShed(stream.stalledSinceNanos(), nowNanos)) {
                stream.cancelStalled();
                shed++;
            }
        }
        return shed;
    }

    @Override
    public boolean abort() {
        if (lifecycle == Lifecycle.CLOSED || !channel.isOpen()) {
            return false; // closed, or closing (the codec's own close, its channelInactive still to come)
        }
        closeNow();
        return true;
    }

    /** The codec passes the socket's writability on after its flow controller has seen it. */
    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        unwritableSinceNanos = channel.isWritable() ? 0 : System.nanoTime();
        ctx.fireChannelWritabilityChanged();
    }

    /** The client shut its sending side: it can no longer open streams nor grant window; finish and close. */
    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof Http2FrameStreamEvent event) {
            streamEvent(event);
            return;
        }
        if (evt instanceof ChannelInputShutdownEvent) {
            closeGracefully();
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (cause instanceof Http2FrameStreamException e) {
            // A stream error on a stream the codec knows: resetting it is left to its owner (RFC 9113 5.4.2).
            Http2Stream stream = streams.get(e.stream().id());
            if (stream != null) {
                stream.streamError(e.error(), e.getCause());
            } else if (e.stream().state() != io.netty.handler.codec.http2.Http2Stream.State.CLOSED) {
                log.debug("HTTP/2 stream {} of {} failed: {}", e.stream().id(), remoteAddress(),
                        String.valueOf(e.getCause()));
                encoder.writeRstStream(codecContext, e.stream().id(), e.error().code(), codecContext.voidPromise());
                ctx.flush();
            }
            return;
        }
        if (cause instanceof Http2Exception h2 && frames.connectionErrorSent()) {
            // The connection is already ending with the error its GOAWAY named: this one comes of the frame read as
            // that GOAWAY was written (Netty's own budgets count it too), or of a write, and is neither told nor sent.
            log.debug("HTTP/2 connection from {}, ending, also failed: {} {}", remoteAddress(), h2.error(),
                    h2.getMessage());
            return;
        }
        if (cause instanceof Http2Exception h2) {
            // A connection error: the codec sends GOAWAY and closes the connection itself (but see
            // goAwayAfterTheCodecsOwn). A flood is worth an operator's attention (at most a line a second, see
            // CALM_LINES); other protocol errors are the client's bug.
            goAwayAfterTheCodecsOwn(h2);
            if (h2.error() == Http2Error.ENHANCE_YOUR_CALM) {
                logCalm(h2.getMessage());
            } else {
                log.debug("HTTP/2 connection from {} failed: {} {}", remoteAddress(), h2.error(),
                        h2.getMessage());
            }
            return;
        }
        log.debug("HTTP/2 connection from {} failed: {}", remoteAddress(), cause.toString());
        ctx.close();
    }

    /**
     * Writes the GOAWAY of connection error {@code error} when the codec, which goes on to end the connection, will not:
     * after a GOAWAY of its own (the drain's two, or the one before an idle close) Netty's {@code goAway} sends none that
     * names the same or a larger last stream id, and a connection error names 2^31-1. The client then learned nothing
     * of why it was closed, and http2_connection_errors, which counts the GOAWAYs written with an error
     * ({@link Http2FrameCounter}), did not count the close, though its ENHANCE_YOUR_CALM line was written. RFC 9113
     * section 5.4.1 has the GOAWAY with the error sent before the close, and section 6.8 lets another follow one
     * already sent, its last stream id never larger: this one names the id sent before. Unflushed writes would be
     * dropped by the close that follows, so it is flushed (the flush consolidation lets it out before the close). Once
     * written it closes the connection, as the codec does after a GOAWAY with an error of its own: the codec, having
     * sent none, would otherwise wait for the open streams (the proxy's budgets give their errors the GRACEFUL_SHUTDOWN
     * hint, {@link #connectionError(Http2Error, String)}).
     */
    private void goAwayAfterTheCodecsOwn(Http2Exception error) {
        io.netty.handler.codec.http2.Http2Connection connection = codec.connection();
        if (error instanceof Http2Exception.StreamException || error.error() == Http2Error.NO_ERROR
                || !connection.goAwaySent() || codecContext == null) {
            return;
        }
        int lastSent = connection.remote().lastStreamKnownByPeer(); // the client's streams the GOAWAY sent named
        int codecNames = error.shutdownHint() == Http2Exception.ShutdownHint.HARD_SHUTDOWN
                ? Integer.MAX_VALUE : connection.remote().lastStreamCreated();
        if (codecNames < lastSent) {
            return; // the codec sends it
        }
        encoder.frameWriter().writeGoAway(codecContext, lastSent, error.error().code(),
                Http2CodecUtil.toByteBuf(codecContext, error), codecContext.newPromise())
                .addListener(written -> codecContext.close());
        codecContext.flush();
    }

    /**
     * The encoder's lifecycle manager: the codec, but for an error the encoder finds itself (its limit on control frames
     * queued towards a client that reads none), which it reports to the codec as outbound and the codec then passes to
     * no handler. After a GOAWAY of its own (the drain's) the codec sends none for it, so that close went untold to the
     * client and uncounted, its line unwritten: {@link #goAwayAfterTheCodecsOwn} writes that GOAWAY first, as for an
     * error read. Called on the event loop, within the encoder's write.
     */
    private final class EncoderLifecycle implements Http2LifecycleManager {

        @Override
        public void onError(ChannelHandlerContext ctx, boolean outbound, Throwable cause) {
            Http2Exception error = Http2CodecUtil.getEmbeddedHttp2Exception(cause);
            if (outbound && error != null && !frames.connectionErrorSent()) {
                goAwayAfterTheCodecsOwn(error);
            }
            codec.onError(ctx, outbound, cause);
        }

        @Override
        public void closeStreamLocal(io.netty.handler.codec.http2.Http2Stream stream, ChannelFuture future) {
            codec.closeStreamLocal(stream, future);
        }

        @Override
        public void closeStreamRemote(io.netty.handler.codec.http2.Http2Stream stream, ChannelFuture future) {
            codec.closeStreamRemote(stream, future);
        }

        @Override
        public void closeStream(io.netty.handler.codec.http2.Http2Stream stream, ChannelFuture future) {
            codec.closeStream(stream, future);
        }

        @Override
        public ChannelFuture resetStream(ChannelHandlerContext ctx, int streamId, long errorCode,
                                         ChannelPromise promise) {
            return codec.resetStream(ctx, streamId, errorCode, promise);
        }

        @Override
        public ChannelFuture goAway(ChannelHandlerContext ctx, int lastStreamId, long errorCode, ByteBuf debugData,
                                    ChannelPromise promise) {
            return codec.goAway(ctx, lastStreamId, errorCode, debugData, promise);
        }
    }

    /**
     * The line of a connection closed with ENHANCE_YOUR_CALM, once, unless {@link #CALM_LINES} holds it back. Told by
     * {@link #exceptionCaught} for a limit on what the client sent (before the codec writes the GOAWAY), and as the
     * GOAWAY is written ({@link Http2FrameCounter#onCalmWritten}): the encoder's limit on control frames queued
     * towards a client that reads none reaches no handler but that way.
     */
    private void logCalm(String reason) {
        if (calmTold) {
            return;
        }
        calmTold = true;
        long notLogged = CALM_LINES.admit();
        if (notLogged == 0) {
            log.info("HTTP/2 client {} closed with ENHANCE_YOUR_CALM: {}", remoteAddress(), reason);
        } else if (notLogged > 0) {
            log.info("HTTP/2 client {} closed with ENHANCE_YOUR_CALM: {} ({} more since the last such line,"
                    + " not logged)", remoteAddress(), reason, notLogged);
        }
    }

    // ---------------------------------------------------------------- frames read

    /**
     * The decoder's listener: a stream's HEADERS and DATA go to that stream (the first HEADERS makes it), with no
     * frame object between; every other frame goes to the codec's own listener, which passes it down the
     * pipeline ({@link #channelRead}). Called within the codec's read, on the event loop.
     */
    private final class StreamFrames extends Http2FrameListenerDecorator {

        StreamFrames(Http2FrameListener codecListener) {
            super(codecListener);
        }

        @Override
        public void onHeadersRead(ChannelHandlerContext codecCtx, int streamId, Http2Headers headers,
                                  int streamDependency, short weight, boolean exclusive, int padding,
                                  boolean endStream) {
            onHeadersRead(codecCtx, streamId, headers, padding, endStream);
        }

        @Override
        public void onHeadersRead(ChannelHandlerContext codecCtx, int streamId, Http2Headers headers, int padding,
                                  boolean endStream) {
            Http2Stream stream = streams.get(streamId);
            if (stream == null) {
                stream = streamOpened(streamId);
            }
            readBy(stream);
            try {
                stream.onHeaders(headers, endStream);
            } catch (RuntimeException e) {
                streamFailed(stream, e);
            }
        }

        /**
         * PRIORITY (RFC 9113 section 5.3.2 deprecates the scheme, section 6.3 still has it read, on idle streams too):
         * the decoder has moved the stream in its flow controller's dependency tree, at a cost that grows with the
         * streams open, and nothing answers it, so nothing else bounds a flood of them (nginx and Envoy cap them too):
         * each counts against the budget of PING and SETTINGS.
         */
        @Override
        public void onPriorityRead(ChannelHandlerContext codecCtx, int streamId, int streamDependency, short weight,
                                   boolean exclusive) throws Http2Exception {
            super.onPriorityRead(codecCtx, streamId, streamDependency, weight, exclusive);
            countControlFrame();
        }

        /**
         * {@code data} stays the decoder's (it releases it on return): a stream that keeps it retains it. The bytes
         * go back to the windows when passed on ({@link #consumed}), never on return.
         */
        @Override
        public int onDataRead(ChannelHandlerContext codecCtx, int streamId, ByteBuf data, int padding,
                              boolean endStream) {
            int flowControlled = data.readableBytes() + padding;
            Http2Stream stream = streams.get(streamId);
            if (stream == null) {
                consumed(codec.connection().stream(streamId), flowControlled);
                return 0;
            }
            readBy(stream);
            try {
                stream.onData(data.retain(), flowControlled, endStream);
            } catch (RuntimeException e) {
                streamFailed(stream, e);
            }
            return 0;
        }
    }

    /**
     * A frame from the codec other than a stream's HEADERS or DATA ({@link StreamFrames} takes those): PING and
     * SETTINGS are counted, and so are their acknowledgements, which nothing answers and the proxy seldom asks for (a
     * SETTINGS in its preface, a PING to drain): unasked for, RFC 9113 has them neither answered nor refused, and
     * nothing else bounds a flood of them. The rest (WINDOW_UPDATE, RST_STREAM, GOAWAY, unknown types) the codec has
     * acted on already, and a reset stream is dropped when the codec says it closed.
     */
    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        try {
            if (msg instanceof Http2PingFrame ping) {
                countControlFrame();
                if (ping.ack() && ping.content() == DRAIN_PING) {
                    sendLastGoAway();
                }
            } else if (msg instanceof Http2SettingsFrame || msg instanceof Http2SettingsAckFrame) {
                countControlFrame();
            }
        } finally {
            ReferenceCountUtil.release(msg);
        }
    }

    /**
     * The proxy's own handling of one stream threw: a bug, confined to that stream. It is reset
     * (INTERNAL_ERROR) and the connection's other streams go on.
     */
    private void streamFailed(Http2Stream stream, RuntimeException e) {
        log.warn("HTTP/2 stream {} of {} failed in the proxy; resetting it", stream.id(), remoteAddress(), e);
        stream.streamError(Http2Error.INTERNAL_ERROR, e);
    }

    private void readBy(Http2Stream stream) {
        if (!stream.readThisTurn) {
            stream.readThisTurn = true;
            readThisTurn.add(stream);
        }
    }

    /** The end of one read from the socket: each stream that read something flushes towards its backend. */
    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        ArrayList<Http2Stream> read = readThisTurn;
        for (int i = 0; i < read.size(); i++) {
            read.get(i).readComplete();
        }
        read.clear();
        ctx.fireChannelReadComplete();
    }

    /** The codec's news about a stream: it closed, or its writability changed. */
    private void streamEvent(Http2FrameStreamEvent event) {
        Http2FrameStream frameStream = event.stream();
        if (event.type() == Http2FrameStreamEvent.Type.Writability) {
            Http2Stream stream = streams.get(frameStream.id());
            if (stream != null) {
                try {
                    stream.writabilityChanged();
                } catch (RuntimeException e) {
                    streamFailed(stream, e);
                }
            }
        } else if (frameStream.state() == io.netty.handler.codec.http2.Http2Stream.State.CLOSED) {
            Http2Stream stream = streams.remove(frameStream.id());
            if (stream != null) {
                if (streams.isEmpty()) {
                    idleSinceNanos = System.nanoTime();
                }
                stream.closed();
            }
        }
    }

    /**
     * PING and SETTINGS are cheap to send and each costs an answer (RFC 9113 section 10.5), PRIORITY a change of the
     * codec's dependency tree; their acknowledgements, the reset of a stream already closed and a frame of unknown type
     * cost their reading and nothing else (section 5.5 has the last ignored), and nothing else bounds a flood of them:
     * beyond a modest budget per window for all of these, the connection ends with ENHANCE_YOUR_CALM.
     */
    private void countControlFrame() {
        long now = System.nanoTime();
        if (now - controlWindowStartNanos > CONTROL_WINDOW_NANOS) {
            controlWindowStartNanos = now;
            controlFrames = 0;
        }
        if (++controlFrames > MAX_CONTROL_FRAMES_PER_WINDOW) {
            flood("more than " + MAX_CONTROL_FRAMES_PER_WINDOW + " PING/SETTINGS/PRIORITY/closed-stream RST_STREAM/unknown"
                    + " frames in " + TimeUnit.NANOSECONDS.toSeconds(CONTROL_WINDOW_NANOS) + " s");
        }
    }

    /** Told by the {@link Http2FrameCounter} within the codec's read: spends the budget of PING and SETTINGS. */
    @Override
    public void unknownFrameRead() {
        countControlFrame();
    }

    /**
     * Told by the {@link Http2FrameCounter} within the codec's read, before the codec acts on it. The reset of a stream
     * the codec no longer has open (closed, or never opened: the codec ends the connection for that one) is dropped
     * by the codec before its rapid-reset limit sees it, so it spends the budget of PING and SETTINGS instead.
     */
    @Override
    public boolean resetRead(int streamId) {
        io.netty.handler.codec.http2.Http2Stream stream = codec.connection().stream(streamId);
        if (stream != null && stream.state() != io.netty.handler.codec.http2.Http2Stream.State.CLOSED) {
            return true;
        }
        countControlFrame();
        return false;
    }

    /**
     * A WINDOW_UPDATE, on the connection or a stream, told by the {@link Http2FrameCounter} within the codec's read,
     * before the codec acts on it. A client grants window as it takes the DATA sent to it; one that sends WINDOW_UPDATE
     * with no DATA to answer makes the flow controller work for nothing (on the connection, it looks over every open
     * stream), and its windows only overflow once the increments add up to 2^31 (section 6.9.1). Envoy's rule bounds
     * them: at most 5 + 2 x (streams opened + {@link #WINDOW_UPDATES_PER_DATA_FRAME_SENT} x DATA frames sent) over
     * the connection's life, beyond which it ends with ENHANCE_YOUR_CALM. A client that answers each DATA frame with a
     * WINDOW_UPDATE on its stream and one on the connection uses a tenth of that.
     */
    @Override
    public void windowUpdateRead() {
        long dataFrames = frames.dataFramesSent();
        if (++windowUpdates > 5 + 2 * (streamsOpened + WINDOW_UPDATES_PER_DATA_FRAME_SENT * dataFrames)) {
            flood("more than " + (windowUpdates - 1) + " WINDOW_UPDATE frames for " + dataFrames
                    + " DATA frames sent");
        }
    }

    /** Told by the {@link Http2Wire} within the read that brought the frame, which the codec does not read. */
    private void settingsFlood(int parameters) {
        flood("a SETTINGS frame of " + parameters + " parameters, more than " + MAX_SETTINGS_PER_FRAME);
    }

    /**
     * A budget is spent: the connection ends with ENHANCE_YOUR_CALM, once; the frame being read is the last one decoded
     * ({@link Http2ServerCodec#endInput}, told as the GOAWAY is written).
     */
    private void flood(String reason) {
        if (!flooded && !frames.connectionErrorSent()) {
            flooded = true;
            connectionError(Http2Error.ENHANCE_YOUR_CALM, reason);
        }
    }

    /**
     * A RST_STREAM is being written, the codec's own (for a frame on a stream it closed, a stream beyond the limit, a
     * window overflow) or the proxy's: one the client provoked counts against the budget of
     * {@link #MAX_RESETS_PER_WINDOW} per {@link #RESET_WINDOW_SECONDS}, the mirror image of the resets it may send
     * (a client that makes the proxy reset streams at will costs as much as one that resets them itself). Not
     * counted: NO_ERROR (an upload answered early) and CANCEL (a client that took nothing for client_idle_ms), the
     * proxy's own decisions, and the reset of a response its exchange gave up on ({@link #writeReset}: its backend
     * failed mid-response), which is none of the client's doing: a backend that fails
     * must not cost the client its connection and the streams on it that other servers serve. Nor, for the same
     * reason, the codec's STREAM_CLOSED answers to DATA the client sent such a stream before it saw that reset: the
     * codec forgets a stream it reset, and treats what still arrives for it as an error, where RFC 9113 section 5.1
     * has an endpoint ignore it; those answers spend {@link #abandonedWindowBytes} instead, so no more of them go
     * uncounted than such streams' windows let the client send. Called from within the codec's write (the
     * {@link Http2FrameCounter} tells it; {@code dataBytes}: the length of the DATA frame answered, or -1): beyond
     * the budget the connection ends with GOAWAY ENHANCE_YOUR_CALM in a task after it.
     */
    void resetWritten(int streamId, long errorCode, int dataBytes) {
        if (writingAbandonedReset || errorCode == Http2Error.NO_ERROR.code() || errorCode == Http2Error.CANCEL.code()
                || frames.connectionErrorSent()) {
            return;
        }
        if (errorCode == Http2Error.STREAM_CLOSED.code() && dataBytes >= 0 && abandonedWindowBytes > 0
                && codec.connection().stream(streamId) == null) {
            long cost = Math.max(1, dataBytes); // an empty frame costs a byte: none is free for nothing
            if (cost <= abandonedWindowBytes) {
                abandonedWindowBytes -= cost;
                return;
            }
            abandonedWindowBytes = 0;
        }
        long now = System.nanoTime();
        if (now - resetWindowStartNanos >= RESET_WINDOW_NANOS || provokedResets == 0) {
            resetWindowStartNanos = now;
            provokedResets = 0;
        }
        if (++provokedResets == MAX_RESETS_PER_WINDOW + 1) {
            ctx.executor().execute(() -> {
                if (lifecycle != Lifecycle.CLOSED && !frames.connectionErrorSent()) {
                    connectionError(Http2Error.ENHANCE_YOUR_CALM, "more than " + MAX_RESETS_PER_WINDOW
                            + " stream resets provoked in " + RESET_WINDOW_SECONDS + " s");
                }
            });
        }
    }

    /**
     * Ends the connection the way the codec ends it on a protocol error: GOAWAY with {@code error}, then close. The
     * GOAWAY names the last stream the client opened (RFC 9113 section 6.8: the highest the proxy may have acted on; none
     * opens after it, {@link Http2ServerCodec#endInput}), where the codec names 2^31-1 for an error of the default
     * HARD_SHUTDOWN hint (for an error it finds within a header block, whose stream it has not opened yet). The hint
     * changes nothing else here: a GOAWAY with an error closes the connection once written, its streams with it, and
     * after shutdown_grace_ms if it cannot be written.
     */
    private void connectionError(Http2Error error, String message) {
        connectionError(new Http2Exception(error, message, Http2Exception.ShutdownHint.GRACEFUL_SHUTDOWN));
    }

    private void connectionError(Http2Exception cause) {
        ChannelHandlerContext codecContext = channel.pipeline().context(codec);
        if (codecContext != null) {
            codec.onError(codecContext, false, cause);
        } else {
            ctx.close();
        }
    }

    // ---------------------------------------------------------------- streams

    private Http2Stream streamOpened(int streamId) {
        Http2Stream stream = new Http2Stream(this, codec.connection().stream(streamId));
        streams.put(streamId, stream);
        streamsOpened++;
        idleSinceNanos = 0;
        stats.http2Streams.increment();
        return stream;
    }

    /**
     * Writes a stream's RST_STREAM with {@code error}, unflushed; {@code responseAbandoned}: its exchange gave up on a
     * response under way (its backend failed), not counted against the client's reset budget ({@link #resetWritten},
     * told within this write), nor is the DATA the client may still send it before it sees the reset: its window is
     * added to {@link #abandonedWindowBytes}. The stream must not be closed yet.
     */
    void writeReset(io.netty.handler.codec.http2.Http2Stream stream, Http2Error error, boolean responseAbandoned) {
        if (responseAbandoned && stream.state().remoteSideOpen()) {
            abandonedWindowBytes = Math.min(connectionWindow,
                    abandonedWindowBytes + Math.max(0, inboundFlow.windowSize(stream)));
        }
        writingAbandonedReset = responseAbandoned;
        try {
            encoder.writeRstStream(codecContext, stream.id(), error.code(), codecContext.voidPromise());
        } finally {
            writingAbandonedReset = false;
        }
    }

    /**
     * Writes a stream's HEADERS (its response head, an interim one, or trailers), unflushed, straight to the codec's
     * encoder; {@code promise}: {@link #voidPromise()}, or {@link #newPromise()} to learn when it reached the socket.
     */
    void writeHeaders(int streamId, Http2Headers headers, boolean endStream, ChannelPromise promise) {
        encoder.writeHeaders(codecContext, streamId, headers, 0, endStream, promise);
    }

    /** Writes a stream's DATA, unflushed, as {@link #writeHeaders}; the encoder releases {@code data}. */
    void writeData(int streamId, ByteBuf data, boolean endStream, ChannelPromise promise) {
        encoder.writeData(codecContext, streamId, data, 0, endStream, promise);
    }

    ChannelPromise voidPromise() {
        return codecContext.voidPromise();
    }

    ChannelPromise newPromise() {
        return codecContext.newPromise();
    }

    void flush() {
        ctx.flush();
    }

    /**
     * {@code bytes} of {@code stream}'s DATA were passed on (or dropped): they go back to its window and the
     * connection's, and the codec sends WINDOW_UPDATE once enough has been returned. Unflushed.
     */
    void consumed(io.netty.handler.codec.http2.Http2Stream stream, int bytes) {
        if (bytes == 0 || stream == null) {
            return;
        }
        try {
            inboundFlow.consumeBytes(stream, bytes);
        } catch (Http2Exception e) {
            connectionError(e); // the window's accounting broke: as the codec ends a connection on its errors
        }
    }

    /** How many more bytes of DATA the client may send on {@code stream} before it must wait for WINDOW_UPDATE. */
    int receiveWindow(io.netty.handler.codec.http2.Http2Stream stream) {
        return inboundFlow.windowSize(stream);
    }

    /** Whether {@code stream} can take more response now: its window, the connection's and the socket's. */
    boolean isWritable(io.netty.handler.codec.http2.Http2Stream stream) {
        return outboundFlow.isWritable(stream);
    }

    // ---------------------------------------------------------------- deadlines and drain

    /**
     * The connection's deadlines at {@code now}: each stream's ({@link Http2Stream#checkDeadlines}); without streams,
     * client_idle_ms, or client_header_ms until the client's connection preface (its magic and SETTINGS, RFC 9113
     * section 3.4) has arrived. A client that speaks first has that long for its first bytes whatever the listener:
     * the plaintext one decides the protocol within it ({@link PrefaceDetector}, whose start this wait counts from,
     * the magic it read being part of the preface), HTTP/1.1 over TLS waits that long for a request head, and so
     * does HTTP/2 that ALPN chose, from the end of the handshake. A header block has
     * client_header_ms too, from the first byte of its HEADERS frame, as an HTTP/1.1 request head has: until it ends
     * no other frame may come (RFC 9113 section 6.10), so one left open holds the connection. The connection is then
     * closed (GOAWAY; the streams in flight finish): there is no stream yet to answer 408 on. Before all of these, a
     * socket that stayed unwritable for client_idle_ms (the client read nothing of what is queued for it, as an
     * HTTP/1.1 client that stops reading is timed) closes the connection at once ({@link #closeNow}).
     */
    @Override
    public void checkDeadlines(long now) {
        if (lifecycle == Lifecycle.CLOSED) {
            return;
        }
        if (unwritableSinceNanos != 0 && now - unwritableSinceNanos > idleTimeoutNanos) {
            log.debug("HTTP/2 client {} read nothing for {} ms: closing", remoteAddress(),
                    TimeUnit.NANOSECONDS.toMillis(idleTimeoutNanos));
            closeNow();
            return;
        }
        long blockSince = wire.headerBlockOpenSince();
        if (blockSince != 0 && now - blockSince > headerTimeoutNanos && lifecycle == Lifecycle.OPEN) {
            log.debug("HTTP/2 connection from {}: a header block still open after {} ms: closing",
                    remoteAddress(), TimeUnit.NANOSECONDS.toMillis(headerTimeoutNanos));
            stats.clientTimeouts.increment();
            closeGracefully();
            return;
        }
        if (!streams.isEmpty()) {
            for (Http2Stream s : streams.values().toArray(new Http2Stream[0])) {
                s.checkDeadlines(now, idleTimeoutNanos);
            }
        } else if (idleSinceNanos != 0) {
            boolean prefaceReceived = codec.decoder().prefaceReceived();
            long since = prefaceReceived ? idleSinceNanos : openedNanos;
            long timeout = prefaceReceived ? idleTimeoutNanos : headerTimeoutNanos;
            if (now - since > timeout) {
                log.debug("HTTP/2 connection from {} {} for {} ms: closing", remoteAddress(),
                        prefaceReceived ? "idle" : "without a connection preface", TimeUnit.NANOSECONDS.toMillis(timeout));
                closeGracefully();
            }
        }
    }

    /**
     * Graceful shutdown in two steps (RFC 9113 section 6.8): a GOAWAY naming the largest stream id tells
     * the client to open no more streams while those it already sent are still accepted; after a PING
     * round trip (at most {@link #DRAIN_ROUND_TRIP_MILLIS}) a second GOAWAY names the last stream taken.
     * The streams in flight finish, then the connection closes.
     */
    @Override
    public void beginDrain() {
        if (lifecycle != Lifecycle.OPEN) {
            return;
        }
        lifecycle = Lifecycle.DRAINING;
        ctx.write(new DefaultHttp2GoAwayFrame(Http2Error.NO_ERROR).setExtraStreamIds(Integer.MAX_VALUE),
                ctx.voidPromise());
        ctx.writeAndFlush(new DefaultHttp2PingFrame(DRAIN_PING, false), ctx.voidPromise());
        drainTimer = ctx.executor().schedule(this::sendLastGoAway, DRAIN_ROUND_TRIP_MILLIS, TimeUnit.MILLISECONDS);
    }

    /** A GOAWAY at once (see {@link #beginDrain}): HTTP/2 has no last response of its own to mark. */
    @Override
    public void closeAfterNextResponse() {
        beginDrain();
    }

    private void sendLastGoAway() {
        if (lifecycle != Lifecycle.DRAINING || lastGoAwaySent) {
            return;
        }
        lastGoAwaySent = true;
        if (drainTimer != null) {
            drainTimer.cancel(false);
        }
        ctx.write(new DefaultHttp2GoAwayFrame(Http2Error.NO_ERROR), ctx.voidPromise());
        channel.close(); // the codec waits for the open streams (up to shutdown_grace_ms), then closes
    }

    /**
     * Closes the socket now, under the codec: a client that reads nothing from it (see {@link #checkDeadlines}) can be
     * sent nothing more, neither a GOAWAY nor the RST_STREAM of a stream reset for it, whose codec stream stays open
     * until that reset is written; the codec's own close would wait for them up to shutdown_grace_ms. The codec
     * closes its streams when the channel goes inactive, and their exchanges are aborted. The connection counts as
     * closed from here, and over TLS the close does not wait for the close_notify the client would never read
     * ({@link #closeAtOnce}).
     */
    private void closeNow() {
        lifecycle = Lifecycle.CLOSED;
        closeAtOnce(codecContext);
    }

    /** GOAWAY (unless one was sent) and close once the open streams are done. */
    private void closeGracefully() {
        if (lifecycle == Lifecycle.CLOSED) {
            return;
        }
        lifecycle = Lifecycle.DRAINING;
        lastGoAwaySent = true;
        channel.close();
    }
}
