package io.grapevine.proxy.client;

import io.grapevine.proxy.config.Limits;
import io.grapevine.proxy.config.Timeouts;
import io.grapevine.proxy.forward.ClientConnection;
import io.grapevine.proxy.forward.Exchange;
import io.grapevine.proxy.forward.LoopContext;
import io.grapevine.proxy.http.BodyReader;
import io.grapevine.proxy.http.HeadScanner;
import io.grapevine.proxy.http.RequestHead;
import io.grapevine.proxy.http.RequestHeadParser;
import io.grapevine.proxy.stats.ProxyStats;
import io.grapevine.proxy.table.BackendTable;
import io.grapevine.proxy.table.RequestKeys;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.util.concurrent.Future;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One HTTP/1.x client connection: reads request heads and bodies, turns each request into an
 * {@link Exchange} with an {@link Http1Stream} as its client end, and leaves the order of the responses to
 * its {@link ResponseSequencer}.
 *
 * <p>Pipeline: the last handler of a client channel. Reading is automatic and pauses only for
 * backpressure: a backend that cannot take more body bytes, more requests in line than the pipeline
 * depth, a drain, or no more requests to read.
 *
 * <p>Thread: the channel's event loop. Buffers: the cumulation buffer is owned here; request body parts
 * are retained slices of it handed to the exchange; what is written to the channel is released by Netty.
 */
final class Http1Connection extends ClientChannelHandler implements ClientConnection, BodyReader.Sink {

    private static final Logger log = LoggerFactory.getLogger(Http1Connection.class);

    /** How long a closing connection reads and discards client input after its last response. */
    static final long LINGER_MILLIS = 2000;

    /** What the next input bytes are. */
    enum Input {
        /** A request head (or nothing yet). */
        HEAD,
        /** The body of the request being read ({@link #reading}). */
        BODY,
        /**
         * An upgrade request was read ({@link #upgrading}): what follows may be the new protocol or the next
         * request, so nothing is read until its answer says which.
         */
        UPGRADE_PENDING,
        /** The backend accepted the upgrade: client bytes go to it untouched ({@link #upgrading}'s exchange). */
        TUNNEL,
        /** No more requests on this connection: input is discarded. */
        IGNORE
    }

    /** The connection's lifecycle. */
    enum Lifecycle {
        /** Takes requests. */
        OPEN,
        /**
         * Takes no new request (graceful shutdown, or the client half-closed): the responses in line are
         * answered with {@code Connection: close} on the last, then the connection closes.
         */
        DRAINING,
        /** The last bytes are being flushed (maybe with a lingering read), then it closes; nothing more is written. */
        CLOSING,
        /** The channel is closed. */
        CLOSED
    }

    private final LoopContext loop;
    private final ProxyStats stats;
    private final HeadScanner scanner;
    /**
     * Reads the body of {@link #reading}; made with the connection's first request that has one, since most connections
     * carry none (event loop only).
     */
    private BodyReader bodyReader;
    private final ResponseSequencer sequencer = new ResponseSequencer(this);
    private final int maxPipelineDepth;
    private final long headerTimeoutNanos;
    private final long idleTimeoutNanos;
    private final long tunnelIdleTimeoutNanos;

    private byte[] clientAddress;
    private InetSocketAddress clientInet;
    private InetSocketAddress destinationInet;
    /** The connection arrived over TLS: its listener's, fixed when the connection is set up. */
    private final boolean secure;
    private ByteBuf cumulation;
    private Input input = Input.HEAD;
    private Lifecycle lifecycle = Lifecycle.OPEN;
    /** The next request head read is the connection's last ({@link #closeAfterNextResponse} while idle). */
    private boolean lastRequestNext;
    /**
     * The client half-closed while complete requests waited in the cumulation for room in the line
     * ({@code max_pipeline_depth}): they are read and answered as the line empties, then the end of input is
     * handled ({@link #endOfInput}). Reading stays paused meanwhile: there is nothing more to read.
     */
    private boolean requestsWaitBehindInputEnd;
    /** The stream whose request body is being read. */
    private Http1Stream reading;
    /** The stream of the upgrade request awaiting its answer, or tunnelling; at most one per connection. */
    private Http1Stream upgrading;
    /** A tunnel was opened on this connection (counted in {@code tunnelsCurrent} until it closes). */
    private boolean tunnelCounted;
    /** The client half-closed while its upgrade awaited the answer: a tunnel that opens passes the FIN on. */
    private boolean inputEndedBeforeTunnel;
    /** The last byte through the tunnel, either way. */
    private long tunnelActivityNanos;
    private boolean readPaused;
    private boolean flushNeeded;
    /**
     * {@link #write} is handing a part to the channel: a writability change it causes is {@link #write}'s to act on,
     * after its flush, not {@link #channelWritabilityChanged}'s. Event loop only.
     */
    private boolean writingPart;
    /** {@link #abort} closed the connection. */
    private boolean aborted;
    /** A flush is queued behind this turn's events ({@link #flushAtEndOfTurn}). */
    private boolean flushQueued;
    /** Made on the first {@link #flushAtEndOfTurn}: only a pipelining client needs it. Event loop only. */
    private Runnable queuedFlush;
    /** {@link #parseAndDispatch} is running: a nested call only asks for another round. */
    private boolean processing;
    private boolean reprocess;
    /** Unread client input may follow the last response: close with a linger (see {@link #closeAfterFlush}). */
    private boolean lingerOnClose;
    /** When the current head started arriving (its first byte, or the accept for the first request); 0 if none. */
    private long headStartNanos;
    /** Where the first head's deadline starts: the start of the client's input (the accept, or the end of TLS). */
    private final long firstHeadSinceNanos;
    /** When the connection last became idle (nothing in line, nothing read); 0 when busy. */
    private long idleSinceNanos;
    private long lastReadNanos;
    /** When the channel's outbound buffer went over the high-water mark; 0 while writable. */
    private long unwritableSinceNanos;
    private Future<?> lingerTimer;

    /** A connection of a cleartext listener, its first head due from now. */
    Http1Connection(LoopContext loop) {
        this(loop, System.nanoTime(), false);
    }

    /**
     * @param firstHeadSinceNanos since when the first request head may have been arriving: the start of what the
     *                            client sends, which a handler before this one may have read part of already (the
     *                            {@link PrefaceDetector}); its {@code client_header_ms} counts from there
     * @param secure              the connection came over TLS (a TLS listener's): {@code X-Forwarded-Proto: https}
     */
    Http1Connection(LoopContext loop, long firstHeadSinceNanos, boolean secure) {
        this.firstHeadSinceNanos = firstHeadSinceNanos;
        this.secure = secure;
        this.loop = loop;
        this.stats = loop.stats();
        Limits limits = loop.limits();
        Timeouts timeouts = loop.timeouts();
        this.scanner = new HeadScanner(limits.maxRequestLineBytes(), limits.maxHeaderBytes(), true, 414, 431);
        this.maxPipelineDepth = limits.maxPipelineDepth();
        this.headerTimeoutNanos = TimeUnit.MILLISECONDS.toNanos(timeouts.clientHeaderMillis());
        this.idleTimeoutNanos = TimeUnit.MILLISECONDS.toNanos(timeouts.clientIdleMillis());
        this.tunnelIdleTimeoutNanos = TimeUnit.MILLISECONDS.toNanos(timeouts.tunnelIdleMillis());
    }

    ByteBufAllocator alloc() {
        return ctx.alloc();
    }

    ProxyStats stats() {
        return stats;
    }

    @Override
    public InetSocketAddress clientInet() {
        return clientInet;
    }

    @Override
    public InetSocketAddress destinationInet() {
        return destinationInet;
    }

    ResponseSequencer sequencer() {
        return sequencer;
    }

    Lifecycle lifecycle() {
        return lifecycle;
    }

    boolean isDraining() {
        return lifecycle == Lifecycle.DRAINING;
    }

    // ---------------------------------------------------------------- lifecycle

    @Override
    protected void activate() {
        clientInet = ClientAddress.of(channel);
        destinationInet = ClientAddress.destinationOf(channel);
        clientAddress = ClientAddress.ascii(clientInet);
        headStartNanos = firstHeadSinceNanos;
        loop.register(this);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        lifecycle = Lifecycle.CLOSED;
        if (lingerTimer != null) {
            lingerTimer.cancel(false);
        }
        loop.unregister(this);
        if (tunnelCounted) {
            stats.tunnelsCurrent.decrementAndGet();
        }
        sequencer.abortAll();
        reading = null;
        releaseCumulation();
        ctx.fireChannelInactive();
    }

    /**
     * The client shut down its sending side (half-close, e.g. {@code printf ... | nc}). Requests already
     * received are still answered, as HAProxy and nginx do; then the connection closes. A request cut
     * off in the middle can never complete: close at once, unless its response has begun (RFC 9112 section 9.5: a
     * client that sees a response before its body is sent may cease sending and close its side), which goes on
     * ({@link #abandonBody}). A request still waiting in its pool's queue gives up
     * (a FIN is how most clients that leave say so; see {@link Exchange#clientInputEnded}).
     */
    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (!(evt instanceof ChannelInputShutdownEvent)) {
            ctx.fireUserEventTriggered(evt);
            return;
        }
        if (lifecycle == Lifecycle.CLOSING || lifecycle == Lifecycle.CLOSED) {
            ctx.close(); // lingering after the last response: the client is done too
            return;
        }
        if (input == Input.TUNNEL) {
            upgrading.exchange().tunnelInputEnded(); // the backend gets the FIN; the tunnel ends when it closes
            return;
        }
        if (input == Input.UPGRADE_PENDING) {
            // What the FIN ends is up to the answer: a tunnel's input (passed on once the 101 opens it, with the
            // bytes sent before the FIN), or else the requests, this answer being the last (Connection: close).
            inputEndedBeforeTunnel = true;
            lifecycle = Lifecycle.DRAINING;
            sequencer.inputEnded(); // an upgrade still queued for a server gives up
            return;
        }
        if (input == Input.BODY && reading.exchange().responseBegun()) {
            abandonBody();
        }
        if (requestsWaitForTheLine()) {
            // Sent before the FIN, so answered too (as by HAProxy and nginx), once the line has room for them.
            requestsWaitBehindInputEnd = true;
            updateReading();
            return;
        }
        endOfInput();
    }

    /** Whether unread input waits only for room in the line ({@code max_pipeline_depth}). */
    private boolean requestsWaitForTheLine() {
        return input == Input.HEAD && lifecycle == Lifecycle.OPEN && sequencer.size() >= maxPipelineDepth
                && cumulation != null && cumulation.isReadable();
    }

    /**
     * The client's input ended, and every complete request it sent has been read. Input left in the cumulation of an
     * open connection is a request cut off; that of a draining one, requests it will not read, whose client learns
     * so from the {@code Connection: close} of the last answer.
     */
    private void endOfInput() {
        boolean partial = input == Input.BODY
                || (input == Input.HEAD && lifecycle == Lifecycle.OPEN && cumulation != null && cumulation.isReadable());
        input = Input.IGNORE;
        lifecycle = Lifecycle.DRAINING; // responses say Connection: close; the last one closes
        releaseCumulation();
        if (partial || sequencer.isEmpty()) {
            closeNow();
            return;
        }
        sequencer.inputEnded(); // requests still queued for a server give up
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        log.debug("client connection {} failed: {}", ClientAddress.forLog(channel), cause.toString());
        ctx.close();
    }

    // ---------------------------------------------------------------- reading requests

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ByteBuf in = (ByteBuf) msg;
        if (input == Input.IGNORE || lifecycle == Lifecycle.CLOSING || lifecycle == Lifecycle.CLOSED) {
            if (input == Input.IGNORE && in.isReadable()) {
                lingerOnClose = true; // requests after the last one are not answered
            }
            in.release();
            return;
        }
        long now = System.nanoTime();
        lastReadNanos = now;
        idleSinceNanos = 0;
        stats.bytesIn.add(in.readableBytes());
        if (input == Input.TUNNEL) {
            tunnelActivityNanos = now;
            Exchange ex = upgrading.exchange();
            ex.tunnelData(in);
            ex.flushRequest();
            updateReading();
            return;
        }
        if (cumulation == null) {
            if (input == Input.HEAD && headStartNanos == 0) {
                headStartNanos = now;
            }
            cumulation = in;
        } else {
            cumulation = ByteToMessageDecoder.MERGE_CUMULATOR.cumulate(ctx.alloc(), cumulation, in);
        }
        parseAndDispatch();
        Http1Stream body = reading;
        if (body != null) {
            body.exchange().flushRequest();
        }
        flushIfNeeded();
        updateReading();
    }

    /**
     * Parses what the cumulation holds, then forwards the new exchanges that may go ({@link #forwardReady}).
     * Forwarding waits until the whole input was parsed, so a request found invalid in this read never leaves
     * the proxy. Not reentrant: a response completing during dispatch (a local 503) asks for another round
     * instead of recursing.
     */
    private void parseAndDispatch() {
        if (processing) {
            reprocess = true;
            return;
        }
        processing = true;
        try {
            do {
                reprocess = false;
                try {
                    processInput();
                } finally {
                    if (cumulation != null && !cumulation.isReadable()) {
                        releaseCumulation();
                    }
                }
                forwardReady();
            } while (reprocess && lifecycle != Lifecycle.CLOSED && cumulation != null);
        } finally {
            processing = false;
        }
        if (requestsWaitBehindInputEnd && !requestsWaitForTheLine()) {
            requestsWaitBehindInputEnd = false;
            endOfInput();
        }
    }

    /**
     * Starts, in the order they were read, the exchanges in line that may be forwarded now: every one behind only
     * safe requests, a request that is not safe once it is first ({@link ResponseSequencer#nextToForward}). Each
     * start leaves {@code NEW}, so this ends; one that completes at once (a local 503) lets the next go in the same
     * call.
     */
    private void forwardReady() {
        Http1Stream next;
        while (isWritingAllowed() && (next = sequencer.nextToForward()) != null) {
            next.exchange().start();
        }
    }

    private void processInput() {
        while (cumulation != null && cumulation.isReadable() && lifecycle != Lifecycle.CLOSED
                && lifecycle != Lifecycle.CLOSING) {
            switch (input) {
                case HEAD:
                    if (sequencer.size() >= maxPipelineDepth || lifecycle == Lifecycle.DRAINING || !readHead()) {
                        return;
                    }
                    if (lastRequestNext) {
                        // Before its dispatch, so its response says Connection: close and the line's end closes.
                        lastRequestNext = false;
                        lifecycle = Lifecycle.DRAINING;
                    }
                    break;
                case BODY: {
                    BodyReader.Result r = bodyReader.read(cumulation, this, ctx.alloc());
                    if (r == BodyReader.Result.ERROR) {
                        stats.badRequests.increment();
                        rejectBody(400);
                        return;
                    }
                    if (r == BodyReader.Result.MORE) {
                        return;
                    }
                    break;
                }
                case UPGRADE_PENDING:
                    return; // kept until the upgrade's answer says what these bytes are
                case TUNNEL:
                    passEarlyTunnelBytes(); // the request body ended and the tunnel is open: the rest is tunnel
                    return;
                default:
                    lingerOnClose = true; // requests after "Connection: close" are not answered
                    releaseCumulation();
                    return;
            }
        }
    }

    /** @return whether a head was consumed (false: need more input, or rejected) */
    private boolean readHead() {
        int length = scanner.scan(cumulation);
        if (length == HeadScanner.NEED_MORE) {
            return false;
        }
        if (length < 0) {
            reject(-length);
            return false;
        }
        // The one read of the table for this request: routing is captured and decided on this generation.
        BackendTable table = loop.tables().current();
        RequestHead head = new RequestHead();
        RequestHeadParser parser = loop.requestParser();
        parser.setCaptureRouting(table.needsPath() || !secure && loop.httpsRedirectPort() != 0);
        RequestKeys keys = table.requestKeys();
        parser.setCapture(keys.headers(), keys.cookies(), keys.proxyCookies());
        int status = parser.parse(cumulation, length, clientAddress, secure, head, ctx.alloc());
        if (status != RequestHeadParser.OK) {
            reject(status);
            return false;
        }
        cumulation.skipBytes(length);
        headStartNanos = cumulation.isReadable() ? System.nanoTime() : 0;
        stats.requests.increment();
        Http1Stream stream = new Http1Stream(this, head);
        Exchange ex = new Exchange(stream, head, table, loop);
        stream.bind(ex);
        sequencer.add(stream); // forwarded by forwardReady once this round of input is parsed
        if (head.upgrade) {
            upgrading = stream;
        }
        if (head.hasBody()) {
            reading = stream;
            if (bodyReader == null) {
                Limits limits = loop.limits();
                bodyReader = new BodyReader(limits.maxHeaderBytes(), limits.maxHeaderCount());
            }
            bodyReader.start(head.bodyKind, head.contentLength);
            input = Input.BODY;
        } else {
            input = afterRequest(stream);
        }
        return true;
    }

    /** What the input is after {@code stream}'s request has been read completely. */
    private Input afterRequest(Http1Stream stream) {
        if (stream == upgrading) {
            return stream.switched() ? Input.TUNNEL : Input.UPGRADE_PENDING;
        }
        return stream.request().keepAlive ? Input.HEAD : Input.IGNORE;
    }

    /**
     * The answer to the upgrade request of {@code stream} arrived (its head: a backend's or the proxy's
     * own). A {@code 101} opens the tunnel, at once or when the request body ends; anything else makes the
     * connection an ordinary one again, whose next request is parsed once this response is written.
     */
    void upgradeAnswered(Http1Stream stream) {
        if (stream != upgrading) {
            return;
        }
        if (stream.switched()) {
            if (!tunnelCounted) {
                tunnelCounted = true;
                stats.tunnelsOpened.increment();
                stats.tunnelsCurrent.incrementAndGet();
                // A tunnel may stay quiet for up to tunnel_idle_ms (up to a day): TCP keepalive finds a client
                // that vanished meanwhile. HTTP connections need none (their own timers end them sooner).
                ctx.channel().config().setOption(ChannelOption.SO_KEEPALIVE, true);
            }
            if (input == Input.UPGRADE_PENDING) {
                enterTunnel();
                if (inputEndedBeforeTunnel) {
                    stream.exchange().tunnelInputEnded();
                }
            }
            return;
        }
        upgrading = null;
        if (input == Input.UPGRADE_PENDING) {
            input = stream.request().keepAlive && !inputEndedBeforeTunnel ? Input.HEAD : Input.IGNORE;
        }
    }

    /** From now on client bytes go to the backend untouched, those that already arrived first. */
    private void enterTunnel() {
        input = Input.TUNNEL;
        tunnelActivityNanos = System.nanoTime();
        passEarlyTunnelBytes();
        updateReading();
    }

    /**
     * The backend half-closed the tunnel of {@code stream}: once what it sent has left, the client gets the FIN too
     * (as HAProxy passes a half-close on), and its bytes still go to the backend until it half-closes as well (then
     * the backend connection closes, and the tunnel ends: {@link #userEventTriggered}), either side closes, or
     * {@code tunnel_idle_ms} passes.
     *
     * @return false when the half-close cannot be passed on: over TLS (a TCP half-close would cut the TLS stream
     *         short), on a channel without one, or before the tunnel carries the client's bytes (the upgrade request's
     *         body, or responses ahead of it, still in line); the tunnel then ends as when the backend closes
     */
    boolean backendHalfClosed(Http1Stream stream) {
        if (input != Input.TUNNEL || stream != upgrading || secure || sequencer.size() != 1
                || !(channel instanceof DuplexChannel duplex) || !isWritingAllowed()) {
            return false;
        }
        flushNeeded = false;
        // Netty's shutdownOutput fails the writes still queued: the FIN goes once they are written.
        ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(f -> {
            if (f.isSuccess() && channel.isActive()) {
                duplex.shutdownOutput();
            }
        });
        return true;
    }

    /** Bytes the client sent after the upgrade request, before the tunnel opened, go through it first. */
    private void passEarlyTunnelBytes() {
        if (cumulation != null) {
            ByteBuf early = cumulation;
            cumulation = null;
            Exchange ex = upgrading.exchange();
            ex.tunnelData(early);
            ex.flushRequest();
        }
    }

    @Override
    public void onBodyData(ByteBuf data) {
        reading.exchange().requestBody(data);
    }

    @Override
    public void onBodyEnd(ByteBuf trailerFields) {
        Http1Stream stream = reading;
        reading = null;
        input = afterRequest(stream);
        if (input == Input.TUNNEL) {
            tunnelActivityNanos = System.nanoTime(); // what follows the body in the input goes to the tunnel
        }
        stream.exchange().requestEnd(trailerFields);
    }

    /**
     * The client sends no more of the body of {@link #reading}, whose response has begun ({@link
     * Exchange#responseBegun}): that response says {@code Connection: close} (the request was incomplete when it
     * began) and goes on, and the connection closes after it, lingering over any body bytes still on their way.
     */
    private void abandonBody() {
        Http1Stream stream = reading;
        reading = null;
        input = Input.IGNORE;
        lingerOnClose = true;
        stream.closeConnectionAfter();
        stream.exchange().requestAbandoned();
    }

    /** A request head is invalid: answer {@code status} in turn and close. Nothing of it was sent anywhere. */
    private void reject(int status) {
        stats.badRequests.increment();
        if (log.isDebugEnabled()) {
            log.debug("rejected a request from {} with {}", ClientAddress.forLog(channel), status);
        }
        answerLastAndClose(status);
    }

    /** Answers {@code status} after the responses already in line, reads no more requests, then closes. */
    private void answerLastAndClose(int status) {
        lingerOnClose = true;
        input = Input.IGNORE;
        releaseCumulation();
        RequestHead head = new RequestHead();
        head.keepAlive = false;
        Http1Stream stream = new Http1Stream(this, head);
        stream.closeConnectionAfter();
        sequencer.add(stream);
        stream.localResponse(status);
    }

    /**
     * The body of {@link #reading} is malformed ({@code 400}) or stalled ({@code 408}). If its exchange was
     * not dispatched yet, nothing of it left the proxy; otherwise its backend connection is dropped before
     * the body's end, so the backend sees a truncated request, never the bytes after the error.
     */
    private void rejectBody(int status) {
        Http1Stream stream = reading;
        reading = null;
        lingerOnClose = true;
        input = Input.IGNORE;
        releaseCumulation();
        stream.closeConnectionAfter();
        if (!sequencer.contains(stream)) {
            closeNow(); // its response was complete and written already
            return;
        }
        stream.exchange().fail(status);
    }

    // ---------------------------------------------------------------- writing (for the sequencer)

    /** Whether responses may still be written (not closing or closed). */
    boolean isWritingAllowed() {
        return lifecycle == Lifecycle.OPEN || lifecycle == Lifecycle.DRAINING;
    }

    boolean isChannelWritable() {
        return channel.isWritable();
    }

    void write(ByteBuf part) {
        if (input == Input.TUNNEL) {
            tunnelActivityNanos = System.nanoTime();
        }
        stats.bytesOut.add(part.readableBytes());
        writingPart = true;
        try {
            ctx.write(part, ctx.voidPromise());
        } finally {
            writingPart = false;
        }
        flushNeeded = true;
        if (!channel.isWritable()) {
            // Over the high-water mark (RelayBuffers): send it now, and hold the backend back only if the socket did
            // not take it. Pausing at the mark itself would stop and restart the backend's reads once per read of a
            // download whose client keeps up. The bound holds: at most one read (RelayBuffers.MAX_READ) above the
            // mark is ever queued, as before.
            flushIfNeeded();
            if (!channel.isWritable()) {
                sequencer.clientWritabilityChanged(false);
            }
        }
    }

    void flushIfNeeded() {
        if (flushNeeded) {
            flushNeeded = false;
            ctx.flush();
        }
    }

    /**
     * Flushes the part of a response written so far: at once when no other request is in line, else at the end of
     * this turn of the event loop, since more pipelined responses are on their way, often in this same turn (their
     * backends answered together): one write for all of them, not one each.
     */
    void flushResponses() {
        if (sequencer.size() > 1) {
            flushAtEndOfTurn();
        } else {
            flushIfNeeded();
        }
    }

    /**
     * Flushes once the event loop has handled this turn's other events (its task queue runs after them), so that
     * the pipelined responses completed in one turn leave in one write. An earlier {@link #flushIfNeeded} takes
     * what is written by then; the queued flush then finds nothing to do.
     */
    void flushAtEndOfTurn() {
        if (flushNeeded && !flushQueued) {
            flushQueued = true;
            if (queuedFlush == null) {
                queuedFlush = () -> {
                    flushQueued = false;
                    flushIfNeeded();
                };
            }
            channel.eventLoop().execute(queuedFlush);
        }
    }

    /** The first response(s) in line were completely written; the line may be empty now. */
    void lineAdvanced() {
        if (sequencer.isEmpty()) {
            if (lifecycle == Lifecycle.DRAINING && input != Input.BODY) {
                closeAfterFlush();
                return;
            }
            if (cumulation == null) {
                idleSinceNanos = System.nanoTime();
            }
        }
        updateReading();
        if (processing) {
            reprocess = true; // the round of input in progress reads and forwards what may go now
            return;
        }
        // Requests that waited for room in the line may be in the cumulation already.
        if (cumulation != null && input == Input.HEAD && (!readPaused || requestsWaitBehindInputEnd)) {
            parseAndDispatch();
            flushIfNeeded();
        } else {
            forwardReady(); // requests read already that waited for the one that just left the line
        }
    }

    /**
     * Closes after the last response is written, lingering like nginx's {@code lingering_close}: the
     * write side is shut (FIN) and whatever the client still sends is read and discarded until it closes
     * too, or {@link #LINGER_MILLIS} pass. Closing with unread input would make the kernel send a reset,
     * which can destroy the response before the client has read it.
     */
    void closeAfterFlush() {
        if (lifecycle == Lifecycle.CLOSING || lifecycle == Lifecycle.CLOSED) {
            return;
        }
        boolean linger = lingerOnClose || input == Input.BODY || (cumulation != null && cumulation.isReadable());
        lifecycle = Lifecycle.CLOSING;
        input = Input.IGNORE;
        flushNeeded = false;
        releaseCumulation();
        if (!linger) {
            closeOnceWritten();
            return;
        }
        ChannelFuture flushed = ctx.writeAndFlush(Unpooled.EMPTY_BUFFER);
        flushed.addListener(f -> {
            if (!f.isSuccess() || !(channel instanceof DuplexChannel duplex) || !channel.isActive()
                    || duplex.isInputShutdown()) {
                channel.close();
                return;
            }
            duplex.shutdownOutput().addListener(s -> {
                if (!s.isSuccess()) {
                    channel.close();
                    return;
                }
                channel.config().setAutoRead(true); // read and discard (channelRead releases while closing)
                lingerTimer = channel.eventLoop().schedule(() -> {
                    channel.close();
                }, LINGER_MILLIS, TimeUnit.MILLISECONDS);
            });
        });
    }

    /**
     * Flushes and closes once everything written is on the wire. Nearly always the flush writes it all and the close
     * follows at once, without a promise and a listener for the flush (a connection per request closes this way);
     * when the socket takes only part of it (the rest waits in the outbound buffer for the socket to drain), or a
     * flush is already under way lower in the stack, the close waits for a flushed empty write, which completes after
     * every write before it: closing with bytes in the outbound buffer would drop them. A TLS handler below closes
     * only after its own pending records and close_notify are written. Thread: the channel's event loop.
     */
    private void closeOnceWritten() {
        ctx.flush();
        ChannelOutboundBuffer pending = channel.unsafe().outboundBuffer();
        if (pending == null || pending.isEmpty()) {
            ctx.close(); // null: the channel is closed already
        } else {
            ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        }
    }

    private void closeNow() {
        if (lifecycle != Lifecycle.CLOSING && lifecycle != Lifecycle.CLOSED) {
            lifecycle = Lifecycle.CLOSING;
            ctx.close();
        }
    }

    // ---------------------------------------------------------------- flow control

    /** Pauses or resumes reading from the client according to every reason there is to wait. */
    void updateReading() {
        boolean pause = requestsWaitBehindInputEnd || switch (input) {
            case HEAD -> sequencer.size() >= maxPipelineDepth || lifecycle != Lifecycle.OPEN;
            case BODY -> reading != null && reading.exchange().requestBodyBlocked();
            // A FIN that came before the 101 ended the input already: there is nothing to read (and epoll fails a
            // read resumed on a shut input, closing the connection with the tunnel's answer unsent).
            case TUNNEL -> inputEndedBeforeTunnel || upgrading.exchange().requestBodyBlocked();
            case UPGRADE_PENDING, IGNORE -> true;
        };
        if (pause != readPaused && (lifecycle == Lifecycle.OPEN || lifecycle == Lifecycle.DRAINING)) {
            readPaused = pause;
            channel.config().setAutoRead(!pause);
            if (!pause) {
                // The client's clocks start again: while the proxy did not read, its silence was the proxy's doing
                // (a request waiting its turn, a backend slow to connect or to take the body), not a stall.
                long now = System.nanoTime();
                lastReadNanos = now;
                if (headStartNanos != 0) {
                    headStartNanos = now;
                }
            }
        }
    }

    @Override
    public long stalledSinceNanos() {
        return unwritableSinceNanos;
    }

    /** A close waiting for its last response to be written ({@link #closeOnceWritten}) is aborted too. */
    @Override
    public boolean abort() {
        if (aborted || lifecycle == Lifecycle.CLOSED || !channel.isOpen()) {
            return false;
        }
        aborted = true;
        lifecycle = Lifecycle.CLOSING;
        closeAtOnce(ctx);
        return true;
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        boolean writable = channel.isWritable();
        unwritableSinceNanos = writable ? 0 : System.nanoTime();
        if (writable || !writingPart) {
            sequencer.clientWritabilityChanged(writable);
        }
        ctx.fireChannelWritabilityChanged();
    }

    // ---------------------------------------------------------------- deadlines and drain

    @Override
    public void checkDeadlines(long now) {
        if (lifecycle == Lifecycle.CLOSING || lifecycle == Lifecycle.CLOSED) {
            return;
        }
        if (input == Input.TUNNEL) {
            if (now - tunnelActivityNanos > tunnelIdleTimeoutNanos
                    || (unwritableSinceNanos != 0 && now - unwritableSinceNanos > tunnelIdleTimeoutNanos)) {
                log.debug("tunnel of {} idle for {} ms: closing", ClientAddress.forLog(channel),
                        tunnelIdleTimeoutNanos / 1_000_000);
                closeNow();
            }
            return;
        }
        if (unwritableSinceNanos != 0 && now - unwritableSinceNanos > idleTimeoutNanos) {
            // The client stopped reading a response long ago: do not hold the connection (and its backend) forever.
            log.debug("client {} read nothing for {} ms", ClientAddress.forLog(channel), idleTimeoutNanos / 1_000_000);
            lifecycle = Lifecycle.CLOSING;
            closeAtOnce(ctx);
            return;
        }
        switch (input) {
            case HEAD:
                if (headStartNanos != 0 && now - headStartNanos > headerTimeoutNanos && !readPaused) {
                    if (cumulation != null && cumulation.isReadable()) {
                        stats.clientTimeouts.increment();
                        answerLastAndClose(408);
                        flushIfNeeded();
                    } else if (sequencer.isEmpty()) {
                        closeNow(); // connected and sent nothing: HAProxy's "timeout http-request" too
                    }
                } else if (idleSinceNanos != 0 && sequencer.isEmpty() && now - idleSinceNanos > idleTimeoutNanos) {
                    closeNow();
                }
                break;
            case BODY:
                if (readPaused || now - lastReadNanos <= idleTimeoutNanos) {
                    break;
                }
                if (reading.exchange().responseBegun()) {
                    // A 408 could only cut off the response that has begun: it goes on without the rest of the body.
                    log.debug("client {} stopped sending a body whose response has begun",
                            ClientAddress.forLog(channel));
                    abandonBody();
                    updateReading();
                } else {
                    log.debug("client {} stalled in a request body", ClientAddress.forLog(channel));
                    stats.clientTimeouts.increment();
                    rejectBody(408);
                    flushIfNeeded();
                }
                break;
            default:
                break;
        }
    }

    @Override
    public void beginDrain() {
        if (lifecycle != Lifecycle.OPEN) {
            return;
        }
        if (sequencer.isEmpty() && input == Input.HEAD && cumulation != null && cumulation.isReadable()) {
            // A request's head is arriving: that request is in flight, not idle. It is answered, with Connection:
            // close, as one in line would be; closing now would cut it off with no answer at all. A head that never
            // completes meets client_header_ms (408), within the grace period.
            lastRequestNext = true;
            return;
        }
        lifecycle = Lifecycle.DRAINING;
        if (sequencer.isEmpty() && input == Input.HEAD) {
            closeNow();
        } else {
            updateReading();
        }
    }

    /**
     * Idle, between requests: the next request read is answered with {@code Connection: close}, then the connection
     * closes. Busy: as {@link #beginDrain}, the requests in line are answered, the last with {@code Connection:
     * close}. An open tunnel is left alone.
     */
    @Override
    public void closeAfterNextResponse() {
        if (lifecycle != Lifecycle.OPEN) {
            return;
        }
        if (sequencer.isEmpty() && input == Input.HEAD) {
            lastRequestNext = true;
        } else {
            beginDrain();
        }
    }

    private void releaseCumulation() {
        if (cumulation != null) {
            cumulation.release();
            cumulation = null;
        }
    }
}
