package io.grapevine.proxy.forward;

import io.grapevine.proxy.http.BodyKind;
import io.grapevine.proxy.http.BodyReader;
import io.grapevine.proxy.http.CompressionRule;
import io.grapevine.proxy.http.HeadScanner;
import io.grapevine.proxy.http.ResponseHead;
import io.grapevine.proxy.http.ResponseHeadParser;
import io.grapevine.proxy.net.Descriptors;
import io.grapevine.proxy.net.SocketShortage;
import io.grapevine.proxy.table.Server;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.epoll.EpollTcpInfo;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.channel.unix.Errors;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.haproxy.HAProxyMessage;
import io.netty.handler.codec.haproxy.HAProxyMessageEncoder;
import java.util.concurrent.TimeUnit;

/**
 * One connection to a backend server, and the only handler of its pipeline. It carries one request at a
 * time (no pipelining towards backends) for whichever {@link Listener} (an attempt of an exchange) is bound
 * to it, parses the response and hands it over, then goes back to its loop's idle list when the response
 * is complete and the connection is clean.
 *
 * <p>Thread: the event loop of the client connection that dialled it, which owns its idle list.
 * Buffers: response content is passed on as retained slices of the read buffer; ownership passes to the
 * listener.
 */
final class UpstreamConnection extends ChannelInboundHandlerAdapter
        implements IdleConnections.Member, BodyReader.Sink, ChannelFutureListener {

    /** What the connection reports to, and asks of, the attempt bound to it. */
    interface Listener {
        /** The request was HEAD: its response has no body whatever the head says. */
        boolean headRequest();

        /**
         * The protocols the request offered to switch to, or {@code null}: a 101 to one of them is an answer
         * (see {@code RequestHead#upgradeProtocols}).
         */
        byte[] upgradeOffer();

        /** How the client wants the response head rendered. */
        io.grapevine.proxy.http.ClientProtocol clientProtocol();

        /** Whether the client connection stays open after this response (see {@link ClientStream#keepAlive}). */
        boolean clientKeepAlive();

        /** A field line for the client's head of the final response (a sticky {@code Set-Cookie}), or null. */
        byte[] extraResponseField();

        /** The name of a cookie the response must not set, the proxy's sticky cookie, or null. */
        byte[] ownCookieName();

        /**
         * The gzip compression the response may get ({@link ResponseHeadParser}'s {@code gzip}): its pool's, when the
         * pool compresses; null otherwise.
         */
        CompressionRule gzipOffer();

        /** The whole request has been written to this connection (needed before it can be reused). */
        boolean requestFullySent();

        /** No more request bytes will be written: all were, or the client stopped sending its body. */
        boolean requestOver();

        /** The connection dialled for this listener is ready: send the request. */
        void onConnected(UpstreamConnection connection);

        void onInterimResponse(ResponseHead head);

        void onResponseHead(ResponseHead head);

        void onResponseBody(ByteBuf data);

        /** The response is complete (a tunnel: the backend closed it); the connection has gone idle or closed. */
        void onResponseEnd(ByteBuf trailerFields);

        /**
         * The backend half-closed a tunnel (its FIN): nothing more comes from it, while it may still take bytes.
         *
         * @return whether the client's side of the tunnel takes the half-close on; if not, the tunnel ends
         *         ({@link #onResponseEnd}) as when the backend closes
         */
        boolean onTunnelHalfClosed();

        /** The connection failed for this listener; it is closed and will not call again. */
        void onFailure(Failure failure, String detail);

        /** The connection's outbound buffer drained below its low-water mark. */
        void onWritable();

        /** A batch of reads ended: a good moment to flush towards the client. */
        void onReadComplete();
    }

    /** Lifecycle of a backend connection. */
    enum State {
        /** TCP connect in progress. */
        CONNECTING,
        /** In the idle list (or about to be): no listener. */
        IDLE,
        /** Request sent (or being sent), waiting for the response head. */
        AWAIT_HEAD,
        /** Response head passed on, body streaming. */
        BODY,
        /**
         * A 101 was passed on: bytes flow both ways untouched until both sides have half-closed, or either closes;
         * never reused.
         */
        TUNNEL,
        /** Closed or closing; never reused. */
        CLOSED
    }

    private final LoopContext loop;
    private final Server server;
    /** Where this connection goes when idle: the server's shared list, or one client's (see {@link IdleKey}). */
    private final Object idleKey;
    /** The PROXY protocol header to send first, once connected; {@code null} when none is due. */
    private HAProxyMessage proxyHeader;
    private final HeadScanner scanner;
    private final BodyReader body;
    private final ResponseHead head = new ResponseHead();
    private final long serverTimeoutNanos;
    /** How long sent bytes may go unacknowledged before the backend's host counts as unreachable. */
    private final long unreachableNanos;
    private Channel channel;
    /**
     * This handler's context, set when the dial's pipeline takes it (on registration, before the connect can
     * complete): requests are written and flushed from here towards the socket, not from the pipeline's tail, which
     * would first step back over this handler to find the next outbound one. Event loop only.
     */
    private ChannelHandlerContext ctx;
    private State state = State.CONNECTING;
    private Listener listener;
    private ByteBuf cumulation;
    private long lastActivityNanos;
    private long idleSinceNanos;
    /**
     * The connection was taken from the idle list ({@link #bind}): it waited there, whether or not it carried a
     * request before (one dialled for an attempt that gave up while connecting goes there unused), and the backend
     * may have closed it meanwhile.
     */
    private boolean takenFromIdle;
    /** Something of the current request's response arrived (an interim response, part of a head). */
    private boolean responseBytesArrived;
    private boolean readPaused;
    /** The backend's host stopped acknowledging: the kernel's keepalive gave up, or {@link #checkDeadlines} did. */
    private boolean unreachable;
    /**
     * The transport reported an error (a reset, a timeout): the close that follows is no clean end of input, so
     * it does not end a body delimited by the close (RFC 9112 section 8: the response is incomplete).
     */
    private boolean transportFailed;
    /** A tunnel's backend half-closed (its FIN came): no more bytes come from it. */
    private boolean inputShut;
    /** The client's half-close of a tunnel was passed on ({@link #shutdownOutput}). */
    private boolean outputShut;

    private UpstreamConnection(LoopContext loop, Server server, Object idleKey) {
        this.loop = loop;
        this.server = server;
        this.idleKey = idleKey;
        int maxHead = loop.limits().maxHeaderBytes();
        this.scanner = new HeadScanner(maxHead, maxHead, false, 502, 502);
        this.body = new BodyReader(maxHead, loop.limits().maxHeaderCount());
        this.serverTimeoutNanos = TimeUnit.MILLISECONDS.toNanos(loop.timeouts().serverMillis());
        this.unreachableNanos = TimeUnit.MILLISECONDS.toNanos(loop.timeouts().connectMillis());
    }

    /**
     * Dials {@code server} for {@code listener}, which hears back through {@link Listener#onConnected} or
     * {@link Listener#onFailure}, unless it lets go first ({@link #release}).
     */
    static UpstreamConnection dial(LoopContext loop, Server server, Listener listener) {
        return dial(loop, server, listener, IdleKey.shared(server), null);
    }

    /**
     * Like {@link #dial(LoopContext, Server, Listener)}, for a connection that starts with {@code proxyHeader}
     * (which it then owns) and is kept idle under {@code idleKey} only.
     */
    static UpstreamConnection dial(LoopContext loop, Server server, Listener listener, Object idleKey,
                                   HAProxyMessage proxyHeader) {
        UpstreamConnection c = new UpstreamConnection(loop, server, idleKey);
        c.listener = listener;
        c.proxyHeader = proxyHeader;
        server.stats().connectionsOpened.increment();
        ChannelHandler pipeline = proxyHeader == null ? c : new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
                ch.pipeline().addLast(HAProxyMessageEncoder.INSTANCE, c);
            }
        };
        ChannelFuture f = loop.dialer().dial(server, pipeline);
        c.channel = f.channel();
        loop.register(c);
        if (f.isDone()) {
            c.operationComplete(f);
        } else {
            f.addListener(c);
        }
        return c;
    }

    Server server() {
        return server;
    }

    /** The backend channel, set before the connection is registered with its loop. */
    Channel channel() {
        return channel;
    }

    State state() {
        return state;
    }

    /**
     * Whether a close now could be the keep-alive race (the server closed its idle connection just as the
     * request went out): the connection was idle before the current request, and nothing of that request's
     * response has arrived. A server that began to answer and then closed has failed.
     */
    boolean closeMayBeStale() {
        return takenFromIdle && !responseBytesArrived;
    }

    /** Connect completed (listener of the connect future). */
    @Override
    public void operationComplete(ChannelFuture future) {
        if (state != State.CONNECTING) {
            return;
        }
        Listener l = listener;
        HAProxyMessage header = proxyHeader;
        proxyHeader = null;
        if (header != null) {
            if (future.isSuccess()) {
                channel.write(header, channel.voidPromise()); // first on the wire, before any request
            } else {
                header.release();
            }
        }
        if (future.isSuccess()) {
            loop.socketShortage().opened();
            if (l == null) {
                goIdle(); // the attempt gave up while we were connecting; keep the fresh connection
                return;
            }
            state = State.AWAIT_HEAD;
            lastActivityNanos = System.nanoTime();
            l.onConnected(this);
            return;
        }
        state = State.CLOSED;
        listener = null;
        loop.unregister(this);
        if (l != null) {
            Throwable cause = future.cause();
            if (Descriptors.localShortage(cause)) {
                server.stats().connectionsOpened.decrement(); // counted by the dial: none was opened to the server
                SocketShortage shortage = loop.socketShortage();
                shortage.failed(cause);
                l.onFailure(Failure.NO_SOCKET, shortage.detail(cause));
                return;
            }
            l.onFailure(cause instanceof ConnectTimeoutException ? Failure.CONNECT_TIMEOUT : Failure.CONNECT_REFUSED,
                    String.valueOf(cause));
        }
    }

    /** Takes this idle connection for {@code l}; the request may be written at once. */
    void bind(Listener l) {
        listener = l;
        takenFromIdle = true;
        state = State.AWAIT_HEAD;
        lastActivityNanos = System.nanoTime();
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    /**
     * Writes without flushing, once connected (the context is set by then); a failure surfaces as a closed channel.
     * Whatever is before this handler (the PROXY header's encoder) sees the write, as from the tail.
     */
    void write(ByteBuf buf) {
        server.stats().bytesOut.add(buf.readableBytes());
        ctx.write(buf, ctx.voidPromise());
    }

    void flush() {
        lastActivityNanos = System.nanoTime();
        ctx.flush();
    }

    boolean isWritable() {
        return channel.isWritable();
    }

    /**
     * The client half-closed its tunnel: pass the FIN on, so the backend sees the end of input too. When the backend
     * had half-closed already, both ways are over: the connection closes once the client's last bytes are written,
     * and the tunnel ends ({@link #channelInactive}).
     */
    void shutdownOutput() {
        if (state != State.TUNNEL || outputShut) {
            return;
        }
        outputShut = true;
        if (inputShut) {
            channel.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        } else if (channel instanceof DuplexChannel duplex) {
            duplex.shutdownOutput();
        }
    }

    // ---------------------------------------------------------------- reading the response

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ByteBuf in = (ByteBuf) msg;
        if (listener == null || state == State.IDLE || state == State.CLOSED) {
            in.release(); // bytes while idle: the backend is confused; do not reuse
            close();
            return;
        }
        lastActivityNanos = System.nanoTime();
        responseBytesArrived = true;
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
            Listener l = listener;
            if (l == null) {
                // More bytes than the response declared: the framing cannot be trusted any longer.
                close();
                return;
            }
            if (state == State.AWAIT_HEAD) {
                if (!readHead(ctx, l)) {
                    return;
                }
                continue;
            }
            if (state == State.TUNNEL) {
                l.onResponseBody(cumulation.readRetainedSlice(cumulation.readableBytes()));
                return;
            }
            BodyReader.Result r = body.read(cumulation, this, ctx.alloc());
            if (r == BodyReader.Result.ERROR) {
                fail(Failure.BAD_RESPONSE, "invalid chunked framing");
                return;
            }
            if (r == BodyReader.Result.MORE) {
                return;
            }
        }
    }

    /** @return whether a head was consumed */
    private boolean readHead(ChannelHandlerContext ctx, Listener l) {
        int length = scanner.scan(cumulation);
        if (length == HeadScanner.NEED_MORE) {
            return false;
        }
        if (length < 0) {
            fail(Failure.BAD_RESPONSE, "response head too large or malformed");
            return false;
        }
        int status = loop.responseParser().parse(cumulation, length, l.headRequest(), l.upgradeOffer(),
                l.clientProtocol(), l.clientKeepAlive(), l.extraResponseField(), l.ownCookieName(), l.gzipOffer(), head,
                ctx.alloc());
        if (status != ResponseHeadParser.OK) {
            fail(Failure.BAD_RESPONSE, "invalid response head");
            return false;
        }
        cumulation.skipBytes(length);
        if (head.interim) {
            l.onInterimResponse(head);
            return true;
        }
        if (head.switching) {
            state = State.TUNNEL;
            // A tunnel carries a half-close each way, as HAProxy's does: the backend's FIN is passed on to the client,
            // whose bytes still go to the backend until it closes too (userEventTriggered). Only a tunnel's channel
            // allows half-closure: a FIN ends any other connection (channelInactive), idle or mid-response. Set
            // within the read, before the transport looks at the option for an end of input in this same read.
            channel.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
            l.onResponseHead(head);
            return true;
        }
        state = State.BODY;
        body.start(head.upstreamBody, head.contentLength);
        l.onResponseHead(head);
        if (head.upstreamBody == BodyKind.NONE || (head.upstreamBody == BodyKind.LENGTH && head.contentLength == 0)) {
            body.read(cumulation, this, ctx.alloc()); // completes at once
        }
        return true;
    }

    @Override
    public void onBodyData(ByteBuf data) {
        listener.onResponseBody(data);
    }

    /** The response is complete: detach, go back to the idle list when clean, then tell the listener. */
    @Override
    public void onBodyEnd(ByteBuf trailerFields) {
        Listener l = listener;
        listener = null;
        responseBytesArrived = false;
        boolean reusable = head.upstreamReusable && state == State.BODY && l.requestFullySent()
                && (cumulation == null || !cumulation.isReadable());
        if (reusable) {
            goIdle();
        } else {
            close();
        }
        l.onResponseEnd(trailerFields);
    }

    private void goIdle() {
        state = State.IDLE;
        idleSinceNanos = System.nanoTime();
        setReadPaused(false);
        if (!loop.releaseIdle(idleKey, this)) {
            close();
        }
    }

    private void fail(Failure failure, String detail) {
        Listener l = listener;
        listener = null;
        close();
        if (l != null) {
            l.onFailure(failure, detail);
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        Listener l = listener;
        if (l != null) {
            l.onReadComplete();
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        State was = state;
        state = State.CLOSED;
        loop.unregister(this);
        if (was == State.IDLE) {
            loop.forgetIdle(idleKey, this);
        }
        Listener l = listener;
        if (l != null && was == State.TUNNEL) {
            listener = null;
            l.onResponseEnd(null); // a tunnel ends when either side closes
            l.onReadComplete();
        } else if (l != null) {
            if (was == State.BODY && !transportFailed && body.endOfInput(this) == BodyReader.Result.DONE) {
                l.onReadComplete(); // the body ran until the close: onBodyEnd completed it
            } else {
                listener = null;
                l.onFailure(was == State.BODY ? Failure.CLOSED_MID_BODY : unreachable ? Failure.UNREACHABLE
                        : Failure.CLOSED_EARLY, unreachable ? "the backend's host stopped acknowledging (keepalive probes "
                        + "unanswered)" : "connection closed by the server");
                l.onReadComplete();
            }
        }
        if (cumulation != null) {
            cumulation.release();
            cumulation = null;
        }
    }

    /**
     * The end of the backend's input on a channel that allows half-closure, a tunnel's (see {@link #readHead}): the
     * client gets the FIN in turn and the tunnel goes on the other way; when the client's FIN was passed on before,
     * or the client cannot take a half-close, the tunnel ends now.
     */
    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (!(evt instanceof ChannelInputShutdownEvent)) {
            ctx.fireUserEventTriggered(evt);
            return;
        }
        Listener l = listener;
        if (state == State.TUNNEL && l != null && !outputShut && !inputShut) {
            inputShut = true;
            if (l.onTunnelHalfClosed()) {
                return;
            }
        }
        ctx.close();
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        Listener l = listener;
        if (l != null && channel.isWritable()) {
            l.onWritable();
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        // I/O errors (reset by peer) end in channelInactive, which informs the listener (a body delimited by the
        // close is cut short then, not complete: see transportFailed). ETIMEDOUT on an established
        // connection is the kernel giving up on unanswered keepalive probes: the host is gone, not the connection.
        unreachable |= isTimedOut(cause);
        transportFailed = true;
        ctx.close();
    }

    /** ETIMEDOUT (110 on Linux) from the native transport, or the JDK's words for it. */
    private static boolean isTimedOut(Throwable cause) {
        if (cause instanceof Errors.NativeIoException e) {
            return e.expectedErr() == -110;
        }
        return cause instanceof java.io.IOException && cause.getMessage() != null
                && cause.getMessage().endsWith("Connection timed out");
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
        if (listener != null && state == State.AWAIT_HEAD && nowNanos - lastActivityNanos > unreachableNanos
                && unacknowledgedFor() > TimeUnit.NANOSECONDS.toMillis(unreachableNanos)) {
            // A live host acknowledges within a round trip, even one whose application does not read (zero-window
            // probes are acknowledged): bytes outstanding this long went to a host that lost its network. A request
            // that may not be replayed is answered as the server timeout would; the others go to another server now
            // instead of after server_ms.
            unreachable = true;
            fail(Failure.UNREACHABLE, "the backend's host acknowledged nothing for "
                    + TimeUnit.NANOSECONDS.toMillis(unreachableNanos) + " ms (as long as a connect may take)");
            return;
        }
        // A backend that takes what it is sent while the client is slow to send the rest of its body waits for the
        // client: not its timeout (the client's body stall ends that), nor a failure to count against it.
        if (listener != null && !readPaused && (state == State.AWAIT_HEAD || state == State.BODY)
                && nowNanos - lastActivityNanos > serverTimeoutNanos
                && (listener.requestOver() || !channel.isWritable())) {
            server.stats().timeouts.increment();
            fail(Failure.TIMEOUT, "no response within " + TimeUnit.NANOSECONDS.toMillis(serverTimeoutNanos) + " ms");
        }
    }

    /**
     * Milliseconds since the backend last acknowledged anything while sent bytes are outstanding; 0 when nothing
     * is outstanding, or the transport cannot tell (NIO).
     */
    private long unacknowledgedFor() {
        if (channel instanceof EpollSocketChannel epoll && epoll.isActive()) {
            EpollTcpInfo info = epoll.tcpInfo();
            return info.unacked() > 0 ? info.lastAckRecv() : 0;
        }
        return 0;
    }

    /**
     * {@code l} lets go of this connection (its client went away, or the request became void). A
     * connection still connecting is kept for the idle list; one that carried part of an exchange is
     * closed, since the backend may still be reading a request or writing a response.
     */
    void release(Listener l) {
        if (listener != l) {
            return;
        }
        listener = null;
        if (state != State.CONNECTING) {
            close();
        }
    }

    @Override
    public boolean isReusable() {
        return state == State.IDLE && channel.isActive() && listener == null;
    }

    @Override
    public long idleSinceNanos() {
        return idleSinceNanos;
    }

    @Override
    public void close() {
        if (state != State.CLOSED) {
            if (state == State.IDLE) {
                loop.forgetIdle(idleKey, this);
            }
            state = State.CLOSED;
            channel.close();
        }
    }
}
