package io.grapevine.proxy.forward;

import io.grapevine.proxy.http.BodyKind;
import io.grapevine.proxy.http.ChunkedDecoder;
import io.grapevine.proxy.http.HeadScanner;
import io.grapevine.proxy.http.ResponseHead;
import io.grapevine.proxy.http.ResponseHeadParser;
import io.grapevine.proxy.pool.PooledConnection;
import io.grapevine.proxy.pool.UpstreamPool;
import io.grapevine.proxy.table.Server;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ConnectTimeoutException;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.util.concurrent.TimeUnit;

/**
 * One connection to a backend server, and the only handler of its pipeline. It carries one exchange at
 * a time (no pipelining towards backends), parses the response and passes it to the exchange, then goes
 * back to its loop's pool when the response is complete and the connection is clean.
 *
 * <p>Thread: everything runs on the event loop of the client connection that dialled it (the loop that
 * owns its pool). Buffers: response body slices are retained slices of the read buffer; ownership passes
 * to the exchange, which writes them to the client.
 */
final class UpstreamConnection extends ChannelInboundHandlerAdapter
        implements PooledConnection, ChunkedDecoder.Sink, ChannelFutureListener {

    /** Lifecycle of a backend connection. */
    enum State {
        /** TCP connect in progress, an exchange waiting. */
        CONNECTING,
        /** In the pool (or about to be): no exchange. */
        IDLE,
        /** Request sent (or being sent), waiting for the response head. */
        AWAIT_HEAD,
        /** Response head passed on, body streaming. */
        BODY,
        /** Closed or closing; never reused. */
        CLOSED
    }

    /** Why an exchange lost its connection. */
    enum Failure {
        /** Connect refused, unreachable, or reset during connect. */
        CONNECT_REFUSED,
        /** Connect did not complete in time. */
        CONNECT_TIMEOUT,
        /** Closed or reset before the response head was complete. */
        CLOSED_EARLY,
        /** Closed or reset in the middle of the response body. */
        CLOSED_MID_BODY,
        /** The response was not valid HTTP. */
        BAD_RESPONSE,
        /** No byte for longer than the server timeout. */
        TIMEOUT
    }

    private final LoopContext loop;
    private final Server server;
    private final HeadScanner scanner;
    private final ResponseHead head = new ResponseHead();
    private final long serverTimeoutNanos;
    private Channel channel;
    private State state = State.CONNECTING;
    private Exchange exchange;
    private ByteBuf cumulation;
    private ChunkedDecoder chunked;
    private long remaining;
    private long lastActivityNanos;
    private long idleSinceNanos;
    private int requestsServed;
    private boolean readPaused;

    private UpstreamConnection(LoopContext loop, Server server) {
        this.loop = loop;
        this.server = server;
        int maxHead = loop.runtime().config().limits().maxHeaderBytes();
        this.scanner = new HeadScanner(maxHead, maxHead, false, 502, 502);
        this.serverTimeoutNanos = TimeUnit.MILLISECONDS.toNanos(loop.runtime().config().timeouts().serverMillis());
    }

    /**
     * Dials {@code server} for {@code exchange}; the exchange hears back through {@link Exchange#upstreamReady}
     * or {@link Exchange#upstreamFailed}, unless it lets go first ({@link #abort}).
     */
    static UpstreamConnection connect(LoopContext loop, Server server, Exchange exchange) {
        UpstreamConnection c = new UpstreamConnection(loop, server);
        c.exchange = exchange;
        server.stats().connectionsOpened.increment();
        ChannelFuture f = loop.bootstrap.clone().handler(c).connect(server.address());
        c.channel = f.channel();
        loop.register(c);
        f.addListener(c);
        return c;
    }

    Server server() {
        return server;
    }

    Channel channel() {
        return channel;
    }

    /** Whether this connection served a request before the current one (a stale keep-alive is possible). */
    boolean wasReused() {
        return requestsServed > 0;
    }

    /** Connect completed (listener of the connect future). */
    @Override
    public void operationComplete(ChannelFuture future) {
        Exchange ex = exchange;
        if (future.isSuccess()) {
            if (ex == null) {
                goIdle(); // the exchange gave up while we were connecting; keep the fresh connection
                return;
            }
            state = State.AWAIT_HEAD;
            lastActivityNanos = System.nanoTime();
            ex.upstreamReady(this);
            return;
        }
        state = State.CLOSED;
        exchange = null;
        loop.unregister(this);
        if (ex != null) {
            Throwable cause = future.cause();
            ex.upstreamFailed(this, cause instanceof ConnectTimeoutException ? Failure.CONNECT_TIMEOUT
                    : Failure.CONNECT_REFUSED, String.valueOf(cause));
        }
    }

    /** Takes a pooled connection for {@code ex}. */
    void bind(Exchange ex) {
        exchange = ex;
        state = State.AWAIT_HEAD;
        lastActivityNanos = System.nanoTime();
    }

    /** Writes without flushing; failures surface as a closed channel. */
    void write(ByteBuf buf) {
        server.stats().bytesOut.add(buf.readableBytes());
        channel.write(buf, channel.voidPromise());
    }

    void flush() {
        lastActivityNanos = System.nanoTime();
        channel.flush();
    }

    boolean isWritable() {
        return channel.isWritable();
    }

    // ---------------------------------------------------------------- reading the response

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ByteBuf in = (ByteBuf) msg;
        if (exchange == null || state == State.IDLE || state == State.CLOSED) {
            in.release(); // bytes while idle: the backend is confused; do not reuse
            close();
            return;
        }
        lastActivityNanos = System.nanoTime();
        server.stats().bytesIn.add(in.readableBytes());
        cumulation = cumulation == null ? in : ByteToMessageDecoder.MERGE_CUMULATOR.cumulate(ctx.alloc(), cumulation, in);
        try {
            processResponse(ctx);
        } finally {
            if (cumulation != null && !cumulation.isReadable()) {
                cumulation.release();
                cumulation = null;
            }
        }
    }

    private void processResponse(ChannelHandlerContext ctx) {
        while (cumulation != null && cumulation.isReadable()) {
            Exchange ex = exchange;
            if (ex == null) {
                // More bytes than the response declared: the framing cannot be trusted any longer.
                close();
                return;
            }
            if (state == State.AWAIT_HEAD) {
                int length = scanner.scan(cumulation);
                if (length == HeadScanner.NEED_MORE) {
                    return;
                }
                if (length < 0) {
                    fail(Failure.BAD_RESPONSE, "response head too large or malformed");
                    return;
                }
                int status = loop.responseParser.parse(cumulation, length, ex.request.headMethod,
                        ex.request.http10, ex.clientKeepAlive(), head, ctx.alloc());
                if (status != ResponseHeadParser.OK) {
                    fail(Failure.BAD_RESPONSE, "invalid response head");
                    return;
                }
                cumulation.skipBytes(length);
                if (head.interim) {
                    ex.onInterimResponse(head.clientHead);
                    continue;
                }
                state = State.BODY;
                ex.onResponseHead(head);
                switch (head.upstreamBody) {
                    case NONE:
                        complete();
                        break;
                    case LENGTH:
                        remaining = head.contentLength;
                        if (remaining == 0) {
                            complete();
                        }
                        break;
                    case CHUNKED:
                        int maxHeader = loop.runtime().config().limits().maxHeaderBytes();
                        chunked = new ChunkedDecoder(maxHeader, loop.runtime().config().limits().maxHeaderCount());
                        break;
                    default:
                        break;
                }
                continue;
            }
            // State.BODY
            switch (head.upstreamBody) {
                case LENGTH: {
                    int n = (int) Math.min(remaining, cumulation.readableBytes());
                    remaining -= n;
                    ex.onResponseData(cumulation.readRetainedSlice(n));
                    if (remaining == 0) {
                        complete();
                    }
                    break;
                }
                case CHUNKED:
                    if (chunked.decode(cumulation, this, ctx.alloc()) == ChunkedDecoder.ERROR) {
                        fail(Failure.BAD_RESPONSE, "invalid chunked framing");
                        return;
                    }
                    if (chunked.isDone()) {
                        chunked = null;
                        complete();
                    } else if (cumulation.isReadable()) {
                        return; // a partial framing element: wait for more
                    }
                    break;
                default: // UNTIL_CLOSE
                    ex.onResponseData(cumulation.readRetainedSlice(cumulation.readableBytes()));
                    break;
            }
        }
    }

    @Override
    public void onChunkData(ByteBuf data) {
        exchange.onResponseChunk(data);
    }

    @Override
    public void onLastChunk(ByteBuf trailerFields) {
        exchange.onResponseTrailers(trailerFields);
    }

    /** The response is complete: detach, go back to the pool when clean, then tell the exchange. */
    private void complete() {
        Exchange ex = exchange;
        exchange = null;
        requestsServed++;
        boolean reusable = head.upstreamReusable && ex.requestFullySent()
                && (cumulation == null || !cumulation.isReadable());
        if (reusable) {
            goIdle();
        } else {
            close();
        }
        ex.onResponseComplete();
    }

    private void goIdle() {
        state = State.IDLE;
        idleSinceNanos = System.nanoTime();
        setReadPaused(false);
        UpstreamPool<UpstreamConnection> pool = loop.pool(server);
        if (pool == null || !pool.release(this)) {
            close();
        }
    }

    private void fail(Failure failure, String detail) {
        Exchange ex = exchange;
        exchange = null;
        close();
        if (ex != null) {
            ex.upstreamFailed(this, failure, detail);
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        Exchange ex = exchange;
        if (ex != null) {
            ex.frontend.flushIfNeeded();
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        State was = state;
        state = State.CLOSED;
        loop.unregister(this);
        if (was == State.IDLE) {
            UpstreamPool<UpstreamConnection> pool = loop.existingPool(server);
            if (pool != null) {
                pool.remove(this);
            }
        }
        Exchange ex = exchange;
        if (ex != null) {
            if (was == State.BODY && head.upstreamBody == BodyKind.UNTIL_CLOSE) {
                exchange = null;
                ex.onResponseTrailers(null);
                ex.onResponseComplete();
            } else {
                exchange = null;
                ex.upstreamFailed(this, was == State.BODY ? Failure.CLOSED_MID_BODY : Failure.CLOSED_EARLY,
                        "connection closed by the server");
            }
            ex.frontend.flushIfNeeded();
        }
        if (cumulation != null) {
            cumulation.release();
            cumulation = null;
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        Exchange ex = exchange;
        if (ex != null && channel.isWritable()) {
            ex.frontend.upstreamWritable();
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        // I/O errors (reset by peer) end in channelInactive, which informs the exchange.
        ctx.close();
    }

    // ---------------------------------------------------------------- flow control and deadlines

    /** Stops or resumes reading from the backend (client backpressure, or bounded buffering). */
    void setReadPaused(boolean paused) {
        if (paused != readPaused && state != State.CLOSED) {
            readPaused = paused;
            channel.config().setAutoRead(!paused);
            if (!paused) {
                lastActivityNanos = System.nanoTime();
            }
        }
    }

    void checkDeadlines(long nowNanos) {
        if (exchange != null && !readPaused && (state == State.AWAIT_HEAD || state == State.BODY)
                && nowNanos - lastActivityNanos > serverTimeoutNanos) {
            server.stats().timeouts.increment();
            fail(Failure.TIMEOUT, "no response within " + TimeUnit.NANOSECONDS.toMillis(serverTimeoutNanos) + " ms");
        }
    }

    /**
     * Abandons {@code ex} (the client went away or the request is void), if this connection still works
     * for it. A connection still connecting is kept for the pool; one that carried part of the exchange is
     * closed.
     */
    void abort(Exchange ex) {
        if (exchange != ex) {
            return;
        }
        exchange = null;
        if (state != State.CONNECTING) {
            close();
        }
    }

    @Override
    public boolean isReusable() {
        return state == State.IDLE && channel.isActive() && exchange == null;
    }

    @Override
    public long idleSinceNanos() {
        return idleSinceNanos;
    }

    @Override
    public void close() {
        if (state != State.CLOSED) {
            if (state == State.IDLE) {
                UpstreamPool<UpstreamConnection> pool = loop.existingPool(server);
                if (pool != null) {
                    pool.remove(this);
                }
            }
            state = State.CLOSED;
            channel.close();
        }
    }
}
