package io.grapevine.proxy.forward;

import io.grapevine.proxy.config.ProxyProtocolConfig;
import io.grapevine.proxy.net.ProxyHeaders;
import io.grapevine.proxy.http.ClientProtocol;
import io.grapevine.proxy.http.CompressionRule;
import io.grapevine.proxy.http.RequestHead;
import io.grapevine.proxy.http.ResponseHead;
import io.grapevine.proxy.table.Server;
import io.netty.buffer.ByteBuf;
import java.util.concurrent.TimeUnit;

/**
 * One try of an exchange on one server: takes an idle connection or dials one, carries the request over
 * it, and passes the response events to its exchange. A retry is a new attempt; an attempt that has ended
 * ignores whatever its old connection still reports, so a late event can never reach the wrong try.
 *
 * <p>It also holds one of the server's slots (its in-flight count; with a {@code max_conn}, the right to be one of
 * its at most {@code max_conn} requests): the exchange takes it before it creates the attempt, and the attempt gives
 * it back exactly once when it ends ({@link Server#releaseSlot}, which hands it to the oldest request queued for
 * the pool, if any), unless the exchange passes it on to the next attempt on the same server ({@link #passSlot}).
 * Thread: the client connection's event loop.
 */
final class Attempt implements UpstreamConnection.Listener {

    /**
     * A request that could not be sent again if its connection closed under it only takes an idle connection used
     * this recently: the backend's keep-alive timeout is most likely to close an older one just as the request
     * arrives. Such a request is one whose method is not idempotent, or one with a body, whatever its method: its
     * body bytes leave with the head and are not kept, so {@link RetryPolicy} replays neither (RFC 9110 section
     * 9.2.2; RFC 9112 section 9.3.1).
     */
    static final long UNSAFE_REUSE_NANOS = TimeUnit.SECONDS.toNanos(2);

    /** Where the attempt stands. */
    enum State {
        /** Waiting for a connection to be dialled. */
        CONNECTING,
        /** The connection is ready: the request goes out, the response head is awaited. */
        SENDING,
        /** The response head has arrived; its body streams. */
        RECEIVING,
        /** Over: completed, failed or abandoned. Events from the connection are ignored. */
        ENDED
    }

    private final Exchange exchange;
    private final Server server;
    private final long startNanos;
    private State state = State.CONNECTING;
    private UpstreamConnection connection;
    /** The server's slot is this attempt's to give back. */
    private boolean holdsSlot = true;

    /** @param server a server whose slot the exchange took for this attempt, which now holds it */
    Attempt(Exchange exchange, Server server, long startNanos) {
        this.exchange = exchange;
        this.server = server;
        this.startNanos = startNanos;
    }

    /**
     * Takes an idle connection to the server if there is a suitable one (unless {@code freshConnection}),
     * otherwise dials a new one. The exchange hears back through {@link Exchange#attemptReady} or
     * {@link Exchange#attemptFailed}, possibly before this returns.
     */
    void start(boolean freshConnection) {
        server.stats().requestStarted();
        LoopContext loop = exchange.loop();
        ProxyProtocolConfig.Version proxyProtocol = exchange.proxyProtocolVersion();
        ClientStream client = exchange.client();
        Object idleKey = proxyProtocol == null ? IdleKey.shared(server)
                : new IdleKey(server, client.clientAddress(), client.destinationAddress());
        RequestHead request = exchange.request();
        boolean replayable = request.idempotent && !request.hasBody();
        UpstreamConnection idle = freshConnection ? null
                : loop.acquireIdle(idleKey, startNanos, replayable ? Long.MAX_VALUE : UNSAFE_REUSE_NANOS);
        if (idle != null) {
            idle.bind(this);
            onConnected(idle);
        } else {
            UpstreamConnection c = UpstreamConnection.dial(loop, server, this, idleKey, proxyProtocol == null ? null
                    : ProxyHeaders.of(proxyProtocol, client.clientAddress(), client.destinationAddress()));
            if (connection == null) {
                connection = c;
            }
        }
    }

    Server server() {
        return server;
    }

    State state() {
        return state;
    }

    long startNanos() {
        return startNanos;
    }

    /**
     * Whether a close of the connection now could be the keep-alive race: it carried a request before this
     * one, and nothing of this one's response has arrived (see {@link UpstreamConnection#closeMayBeStale}).
     */
    boolean reusedConnection() {
        return connection != null && connection.closeMayBeStale();
    }

    boolean isConnected() {
        return state == State.SENDING || state == State.RECEIVING;
    }

    // ---------------------------------------------------------------- request, towards the backend

    void write(ByteBuf buf) {
        connection.write(buf);
    }

    void flush() {
        connection.flush();
    }

    /** The backend connection cannot take more bytes now; {@code false} before it is connected. */
    boolean isBlocked() {
        return isConnected() && !connection.isWritable();
    }

    /** Passes a client's half-close of a tunnel on to the backend. */
    void shutdownOutput() {
        if (isConnected()) {
            connection.shutdownOutput();
        }
    }

    /** Stops or resumes reading the response (the client cannot take more now). */
    void pauseResponse(boolean paused) {
        if (isConnected()) {
            connection.setReadPaused(paused);
        }
    }

    /**
     * Lets go of the connection, connected or still connecting: it never acts for this attempt again. A
     * connection that carried part of the exchange is closed (see {@link UpstreamConnection#release}).
     */
    void abandon() {
        if (state == State.ENDED) {
            return;
        }
        end();
        if (connection != null) {
            connection.release(this);
        }
    }

    private void end() {
        if (state != State.ENDED) {
            state = State.ENDED;
            releaseSlot();
        }
    }

    private void releaseSlot() {
        if (holdsSlot) {
            holdsSlot = false;
            server.releaseSlot();
        }
    }

    /**
     * Hands this ended attempt's slot to the next attempt on the same server (a stale keep-alive retry), which thus
     * neither queues nor lets a queued request overtake it.
     *
     * @return false when the slot was given back already
     */
    boolean passSlot() {
        if (!holdsSlot || state != State.ENDED) {
            return false;
        }
        holdsSlot = false;
        return true;
    }

    // ---------------------------------------------------------------- UpstreamConnection.Listener

    @Override
    public boolean headRequest() {
        return exchange.request().headMethod;
    }

    @Override
    public byte[] upgradeOffer() {
        return exchange.request().upgradeProtocols;
    }

    @Override
    public ClientProtocol clientProtocol() {
        return exchange.client().protocol();
    }

    @Override
    public boolean clientKeepAlive() {
        return exchange.client().keepAlive();
    }

    @Override
    public byte[] extraResponseField() {
        return exchange.extraResponseField(server);
    }

    @Override
    public CompressionRule gzipOffer() {
        return exchange.gzipOffer();
    }

    @Override
    public byte[] ownCookieName() {
        return exchange.stickyCookieName();
    }

    @Override
    public boolean requestFullySent() {
        return exchange.requestFullySent();
    }

    @Override
    public boolean requestOver() {
        return exchange.requestOver();
    }

    @Override
    public void onConnected(UpstreamConnection c) {
        connection = c;
        if (state != State.CONNECTING) {
            c.release(this);
            return;
        }
        state = State.SENDING;
        exchange.attemptReady(this);
    }

    @Override
    public void onInterimResponse(ResponseHead head) {
        if (state == State.SENDING) {
            exchange.attemptInterim(head);
        } else {
            head.release();
        }
    }

    @Override
    public void onResponseHead(ResponseHead head) {
        if (state != State.SENDING) {
            head.release();
            return;
        }
        state = State.RECEIVING;
        server.stats().countResponse(head.status);
        server.recordSuccess();
        exchange.attemptResponseHead(head);
    }

    @Override
    public void onResponseBody(ByteBuf data) {
        if (state == State.RECEIVING) {
            exchange.attemptResponseBody(data);
        } else {
            data.release();
        }
    }

    @Override
    public void onResponseEnd(ByteBuf trailerFields) {
        if (state != State.RECEIVING) {
            if (trailerFields != null) {
                trailerFields.release();
            }
            return;
        }
        end();
        exchange.attemptResponseEnd(trailerFields);
    }

    @Override
    public boolean onTunnelHalfClosed() {
        return state == State.RECEIVING && exchange.attemptTunnelHalfClosed();
    }

    @Override
    public void onFailure(Failure failure, String detail) {
        if (state == State.ENDED) {
            return;
        }
        boolean responseStarted = state == State.RECEIVING;
        state = State.ENDED; // the slot is kept until the exchange decided: a retry on this server takes it over
        exchange.attemptFailed(this, failure, detail, responseStarted);
        releaseSlot();
    }

    @Override
    public void onWritable() {
        if (state != State.ENDED) {
            exchange.attemptWritable();
        }
    }

    @Override
    public void onReadComplete() {
        exchange.flushResponse();
    }
}
