package io.grapevine.proxy.forward;

import io.grapevine.proxy.config.Limits;
import io.grapevine.proxy.config.Timeouts;
import io.grapevine.proxy.http.ChunkedDecoder;
import io.grapevine.proxy.http.HeadScanner;
import io.grapevine.proxy.http.RequestHead;
import io.grapevine.proxy.http.RequestHeadParser;
import io.grapevine.proxy.stats.ProxyStats;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client connection: reads request heads and bodies, turns each request into an {@link Exchange},
 * and writes the responses back strictly in request order (pipelining, RFC 9112 section 9.3.2) however
 * the exchanges were spread over servers.
 *
 * <p>Pipeline: this is the only handler of a client channel. Reading is automatic and is paused only
 * for backpressure: a backend connection that cannot take more body bytes, more requests in flight
 * than the pipeline depth, or a drain.
 *
 * <p>Thread: the channel's event loop. Buffers: the cumulation buffer is owned here; request body parts
 * are retained slices of it handed to the exchange; response parts written to the channel are released
 * by Netty once written.
 */
final class FrontendHandler extends ChannelInboundHandlerAdapter {

    private static final Logger log = LoggerFactory.getLogger(FrontendHandler.class);

    /** What the next input bytes are. */
    private enum ReadState {
        /** A request head (or nothing yet). */
        HEAD,
        /** Content-Length body of {@link #reading}. */
        BODY_LENGTH,
        /** Chunked body of {@link #reading}. */
        BODY_CHUNKED,
        /** No more requests on this connection: input is discarded. */
        CLOSING
    }

    /** How long a closing connection reads and discards client input after its last response (see closeAfterFlush). */
    static final long LINGER_MILLIS = 2000;

    private final LoopContext loop;
    private final ProxyStats stats;
    private final HeadScanner scanner;
    private final int maxPipelineDepth;
    private final long headerTimeoutNanos;
    private final long idleTimeoutNanos;
    private final ArrayDeque<Exchange> inFlight = new ArrayDeque<>();
    private final ArrayList<Exchange> toDispatch = new ArrayList<>(4);

    private ChannelHandlerContext ctx;
    private Channel channel;
    private byte[] clientAddress;
    private ByteBuf cumulation;
    private ReadState readState = ReadState.HEAD;
    private Exchange reading;
    private long bodyRemaining;
    private ChunkedDecoder requestChunks;
    private boolean readPaused;
    private boolean flushNeeded;
    private boolean draining;
    private boolean closed;
    private boolean processing;
    private boolean reprocess;
    /** When the current head started arriving (its first byte, or the accept for the first request); 0 if none. */
    private long headStartNanos;
    /** When the connection last became idle (nothing in flight, nothing read); 0 when busy. */
    private long idleSinceNanos;
    private long lastReadNanos;
    /** When the client connection's outbound buffer went over the high-water mark; 0 while writable. */
    private long unwritableSinceNanos;
    /** Unread client input may follow the last response: close with a linger (see closeAfterFlush). */
    private boolean lingerOnClose;
    private io.netty.util.concurrent.Future<?> lingerTimer;

    FrontendHandler(LoopContext loop) {
        this.loop = loop;
        this.stats = loop.runtime().stats();
        Limits limits = loop.runtime().config().limits();
        Timeouts timeouts = loop.runtime().config().timeouts();
        this.scanner = new HeadScanner(limits.maxRequestLineBytes(), limits.maxHeaderBytes(), true, 414, 431);
        this.maxPipelineDepth = limits.maxPipelineDepth();
        this.headerTimeoutNanos = TimeUnit.MILLISECONDS.toNanos(timeouts.clientHeaderMillis());
        this.idleTimeoutNanos = TimeUnit.MILLISECONDS.toNanos(timeouts.clientIdleMillis());
    }

    ByteBufAllocator alloc() {
        return ctx.alloc();
    }

    boolean isDraining() {
        return draining;
    }

    /** No request of this connection was read after {@code ex}. */
    boolean isLastInFlight(Exchange ex) {
        return inFlight.peekLast() == ex;
    }

    // ---------------------------------------------------------------- lifecycle

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        this.channel = ctx.channel();
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        InetSocketAddress remote = (InetSocketAddress) channel.remoteAddress();
        clientAddress = (remote == null ? "unknown" : remote.getAddress().getHostAddress())
                .getBytes(StandardCharsets.US_ASCII);
        headStartNanos = System.nanoTime();
        loop.register(this);
        ctx.fireChannelActive();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        closed = true;
        if (lingerTimer != null) {
            lingerTimer.cancel(false);
        }
        loop.unregister(this);
        stats.connectionsCurrent.decrementAndGet();
        Exchange ex;
        while ((ex = inFlight.poll()) != null) {
            ex.abort();
        }
        toDispatch.clear();
        reading = null;
        releaseCumulation();
    }

    /**
     * The client shut down its sending side (half-close, e.g. {@code printf ... | nc}). Requests already
     * received are still answered, as HAProxy and nginx do; then the connection closes. A request cut
     * off in the middle can never complete: close at once.
     */
    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent && closed) {
            ctx.close(); // lingering after the last response: the client is done too
            return;
        }
        if (evt instanceof ChannelInputShutdownEvent) {
            boolean partial = readState == ReadState.BODY_LENGTH || readState == ReadState.BODY_CHUNKED
                    || (cumulation != null && cumulation.isReadable() && readState == ReadState.HEAD);
            readState = ReadState.CLOSING;
            draining = true; // responses say Connection: close; the last one closes
            releaseCumulation();
            if (partial || inFlight.isEmpty()) {
                closeNow();
            }
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        log.debug("client connection {} failed: {}", channel.remoteAddress(), cause.toString());
        ctx.close();
    }

    // ---------------------------------------------------------------- reading requests

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ByteBuf in = (ByteBuf) msg;
        if (closed || readState == ReadState.CLOSING) {
            in.release();
            return;
        }
        long now = System.nanoTime();
        lastReadNanos = now;
        idleSinceNanos = 0;
        stats.bytesIn.add(in.readableBytes());
        if (cumulation == null) {
            if (readState == ReadState.HEAD && headStartNanos == 0) {
                headStartNanos = now;
            }
            cumulation = in;
        } else {
            cumulation = io.netty.handler.codec.ByteToMessageDecoder.MERGE_CUMULATOR.cumulate(ctx.alloc(), cumulation, in);
        }
        parseAndDispatch();
        Exchange body = reading;
        if (body != null) {
            body.flushUpstream();
        }
        flushIfNeeded();
        updateReading();
    }

    /**
     * Parses what the cumulation holds, then dispatches the new exchanges. Dispatch waits until the whole
     * input was parsed, so a request found invalid in this read never leaves the proxy. Not reentrant: a
     * response completing during dispatch (a local 503) asks for another round instead of recursing.
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
                for (int i = 0; i < toDispatch.size(); i++) {
                    Exchange ex = toDispatch.get(i);
                    if (!closed && !ex.isResponseComplete()) {
                        ex.dispatch();
                    }
                }
                toDispatch.clear();
            } while (reprocess && !closed && cumulation != null);
        } finally {
            processing = false;
        }
    }

    private void processInput() {
        while (cumulation != null && cumulation.isReadable() && !closed) {
            switch (readState) {
                case HEAD:
                    if (inFlight.size() >= maxPipelineDepth || draining) {
                        return;
                    }
                    if (!readHead()) {
                        return;
                    }
                    break;
                case BODY_LENGTH: {
                    int n = (int) Math.min(bodyRemaining, cumulation.readableBytes());
                    bodyRemaining -= n;
                    reading.requestData(cumulation.readRetainedSlice(n));
                    if (bodyRemaining == 0) {
                        finishRequestBody();
                    }
                    break;
                }
                case BODY_CHUNKED:
                    if (requestChunks.decode(cumulation, reading, ctx.alloc()) == ChunkedDecoder.ERROR) {
                        rejectBody();
                        return;
                    }
                    if (requestChunks.isDone()) {
                        requestChunks = null;
                        finishRequestBody();
                    } else if (cumulation.isReadable()) {
                        return; // partial framing element
                    }
                    break;
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
        RequestHead head = new RequestHead();
        loop.requestParser.setCaptureRouting(loop.runtime().tables().current().hasRoutes());
        int status = loop.requestParser.parse(cumulation, length, clientAddress, head, ctx.alloc());
        if (status != RequestHeadParser.OK) {
            reject(status);
            return false;
        }
        cumulation.skipBytes(length);
        headStartNanos = cumulation.isReadable() ? System.nanoTime() : 0;
        stats.requests.increment();
        Exchange ex = new Exchange(this, head, loop);
        inFlight.add(ex);
        toDispatch.add(ex);
        switch (head.bodyKind) {
            case LENGTH:
                if (head.contentLength > 0) {
                    reading = ex;
                    bodyRemaining = head.contentLength;
                    readState = ReadState.BODY_LENGTH;
                    return true;
                }
                break;
            case CHUNKED:
                reading = ex;
                Limits limits = loop.runtime().config().limits();
                requestChunks = new ChunkedDecoder(limits.maxHeaderBytes(), limits.maxHeaderCount());
                readState = ReadState.BODY_CHUNKED;
                return true;
            default:
                break;
        }
        ex.requestComplete();
        readState = head.keepAlive ? ReadState.HEAD : ReadState.CLOSING;
        return true;
    }

    private void finishRequestBody() {
        Exchange ex = reading;
        reading = null;
        ex.requestComplete();
        ex.flushUpstream();
        readState = ex.request.keepAlive ? ReadState.HEAD : ReadState.CLOSING;
    }

    /**
     * A request head is invalid: answer {@code status} in turn and close. Nothing of it was sent anywhere.
     */
    private void reject(int status) {
        stats.badRequests.increment();
        if (log.isDebugEnabled()) {
            log.debug("rejected a request from {} with {}", channel.remoteAddress(), status);
        }
        answerLastAndClose(status);
    }

    /** Answers {@code status} after the responses already in line, reads no more requests, then closes. */
    private void answerLastAndClose(int status) {
        lingerOnClose = true;
        readState = ReadState.CLOSING;
        releaseCumulation();
        RequestHead head = new RequestHead();
        head.keepAlive = false;
        Exchange ex = new Exchange(this, head, loop);
        ex.requestComplete();
        inFlight.add(ex);
        ex.respondLocally(status);
    }

    /**
     * The chunked body of {@link #reading} is malformed. If the exchange was not dispatched yet, nothing
     * of it left the proxy; otherwise its backend connection is closed before the body's end, so the
     * backend sees a truncated request, never the bytes after the error.
     */
    private void rejectBody() {
        stats.badRequests.increment();
        lingerOnClose = true;
        Exchange ex = reading;
        reading = null;
        readState = ReadState.CLOSING;
        releaseCumulation();
        toDispatch.remove(ex);
        ex.forceCloseClient();
        if (ex.bytesToClient() || ex.isResponseComplete()) {
            closeNow();
            return;
        }
        ex.abortUpstreamForInvalidBody();
        ex.respondLocally(400);
    }

    // ---------------------------------------------------------------- writing responses in order

    /** A response part of {@code ex}: written now if {@code ex} is first in line, buffered otherwise. */
    void writeResponse(Exchange ex, ByteBuf part) {
        if (closed) {
            part.release();
            return;
        }
        if (inFlight.peekFirst() == ex) {
            stats.bytesOut.add(part.readableBytes());
            ctx.write(part, ctx.voidPromise());
            ex.markBytesToClient();
            flushNeeded = true;
        } else {
            ex.buffer(part);
        }
    }

    void flushIfNeeded() {
        if (flushNeeded) {
            flushNeeded = false;
            ctx.flush();
        }
    }

    /** {@code ex} has its complete response (written or buffered). */
    void responseComplete(Exchange ex) {
        if (closed) {
            ex.release();
            return;
        }
        Exchange first;
        while ((first = inFlight.peekFirst()) != null && first.isResponseComplete()) {
            inFlight.poll();
            first.release();
            if (first.closeClientAfter()) {
                closeAfterFlush();
                return;
            }
            Exchange next = inFlight.peekFirst();
            if (next != null) {
                promote(next);
            }
        }
        flushIfNeeded();
        if (inFlight.isEmpty()) {
            if (draining && readState != ReadState.BODY_LENGTH && readState != ReadState.BODY_CHUNKED) {
                closeAfterFlush();
                return;
            }
            if (cumulation == null) {
                idleSinceNanos = System.nanoTime();
            }
        }
        updateReading();
        // Requests that waited for pipeline room may be in the cumulation already.
        if (cumulation != null && readState == ReadState.HEAD && !readPaused) {
            parseAndDispatch();
            flushIfNeeded();
        }
    }

    /** {@code next} became first in line: write what it buffered, and let its backend go on. */
    private void promote(Exchange next) {
        ArrayDeque<ByteBuf> parts = next.takeBuffered();
        if (parts != null) {
            ByteBuf part;
            while ((part = parts.poll()) != null) {
                stats.bytesOut.add(part.readableBytes());
                ctx.write(part, ctx.voidPromise());
            }
            next.markBytesToClient();
            flushNeeded = true;
        }
        next.clientWritabilityChanged(channel.isWritable());
    }

    /** The response of {@code ex} failed after it started. */
    void responseFailed(Exchange ex) {
        if (ex.bytesToClient()) {
            // Part of it reached the client: the only honest signal left is closing the connection.
            stats.abortedResponses.increment();
            closeAfterFlush();
        } else {
            ex.replaceBufferedWithError();
        }
    }

    void countLocalResponse(int status) {
        switch (status) {
            case 502 -> stats.status502.increment();
            case 503 -> stats.status503.increment();
            case 504 -> stats.status504.increment();
            case 408 -> stats.clientTimeouts.increment();
            default -> { }
        }
    }

    /**
     * Closes after the last response is written, lingering like nginx's {@code lingering_close}: the
     * write side is shut (FIN) and whatever the client still sends is read and discarded until it closes
     * too, or {@link #LINGER_MILLIS} pass. Closing with unread input would make the kernel send a reset,
     * which can destroy the response before the client has read it.
     */
    private void closeAfterFlush() {
        if (closed) {
            return;
        }
        boolean linger = lingerOnClose || readState == ReadState.BODY_LENGTH || readState == ReadState.BODY_CHUNKED
                || (cumulation != null && cumulation.isReadable());
        closed = true;
        readState = ReadState.CLOSING;
        flushNeeded = false;
        releaseCumulation();
        ChannelFuture flushed = ctx.writeAndFlush(Unpooled.EMPTY_BUFFER);
        if (!linger) {
            flushed.addListener(ChannelFutureListener.CLOSE);
            return;
        }
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
                channel.config().setAutoRead(true); // read and discard (channelRead releases while closed)
                lingerTimer = channel.eventLoop().schedule(() -> {
                    channel.close();
                }, LINGER_MILLIS, TimeUnit.MILLISECONDS);
            });
        });
    }

    private void closeNow() {
        if (!closed) {
            closed = true;
            ctx.close();
        }
    }

    // ---------------------------------------------------------------- flow control

    /** Pauses or resumes reading from the client according to every reason there is to wait. */
    void updateReading() {
        boolean pause;
        switch (readState) {
            case HEAD:
                pause = inFlight.size() >= maxPipelineDepth || draining;
                break;
            case BODY_LENGTH:
            case BODY_CHUNKED:
                pause = reading != null && reading.bodyBackpressure();
                break;
            default:
                pause = true;
                break;
        }
        if (pause != readPaused && !closed) {
            readPaused = pause;
            channel.config().setAutoRead(!pause);
        }
    }

    /** A backend connection drained its outbound buffer: the request body may flow again. */
    void upstreamWritable() {
        updateReading();
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        boolean writable = channel.isWritable();
        unwritableSinceNanos = writable ? 0 : System.nanoTime();
        Exchange first = inFlight.peekFirst();
        if (first != null) {
            first.clientWritabilityChanged(writable);
        }
        ctx.fireChannelWritabilityChanged();
    }

    // ---------------------------------------------------------------- deadlines and drain

    /** Called by the loop's sweep. */
    void checkDeadlines(long now) {
        if (closed) {
            return;
        }
        if (unwritableSinceNanos != 0 && now - unwritableSinceNanos > idleTimeoutNanos) {
            // The client stopped reading a response long ago: do not hold the connection (and its backend) forever.
            log.debug("client {} read nothing for {} ms", channel.remoteAddress(), idleTimeoutNanos / 1_000_000);
            closeNow();
            return;
        }
        switch (readState) {
            case HEAD:
                if (headStartNanos != 0 && now - headStartNanos > headerTimeoutNanos && !readPaused) {
                    if (cumulation != null && cumulation.isReadable()) {
                        answerLastAndClose(408);
                    } else if (inFlight.isEmpty()) {
                        closeNow(); // connected and sent nothing: HAProxy's "timeout http-request" too
                    }
                } else if (idleSinceNanos != 0 && inFlight.isEmpty() && now - idleSinceNanos > idleTimeoutNanos) {
                    closeNow();
                }
                break;
            case BODY_LENGTH:
            case BODY_CHUNKED:
                if (!readPaused && now - lastReadNanos > idleTimeoutNanos) {
                    log.debug("client {} stalled in a request body", channel.remoteAddress());
                    Exchange ex = reading;
                    if (ex != null && !ex.bytesToClient() && !ex.isResponseComplete()) {
                        ex.forceCloseClient();
                        ex.abortUpstreamForInvalidBody();
                        readState = ReadState.CLOSING;
                        ex.respondLocally(408);
                    } else {
                        closeNow();
                    }
                }
                break;
            default:
                break;
        }
    }

    /** Graceful shutdown: finish what is in flight, take no new request, then close. */
    void beginDrain() {
        if (closed || draining) {
            return;
        }
        draining = true;
        if (inFlight.isEmpty() && readState == ReadState.HEAD) {
            closeNow();
        } else {
            updateReading();
        }
    }

    private void releaseCumulation() {
        if (cumulation != null) {
            cumulation.release();
            cumulation = null;
        }
    }
}
