package io.grapevine.proxy.forward;

import io.grapevine.cluster.HostAndPort;
import io.grapevine.proxy.config.HealthCheckConfig;
import io.grapevine.proxy.forward.UpstreamConnection.Failure;
import io.grapevine.proxy.http.BodyKind;
import io.grapevine.proxy.http.ChunkedDecoder;
import io.grapevine.proxy.http.ChunkedEncoding;
import io.grapevine.proxy.http.RequestHead;
import io.grapevine.proxy.http.ResponseHead;
import io.grapevine.proxy.pool.UpstreamPool;
import io.grapevine.proxy.table.BackendTable;
import io.grapevine.proxy.table.Server;
import io.grapevine.proxy.table.ServerPool;
import io.netty.buffer.ByteBuf;
import java.util.ArrayDeque;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One request and its response: picks a server, sends the request over a pooled or new connection,
 * passes the response back to the client connection in order, and decides about retries.
 *
 * <p>Retry rule (RFC 9110 section 9.2.2): a request whose connection attempt failed has not been sent
 * and may go to another server whatever its method; one that may have reached a server is replayed only
 * if it is idempotent and none of its body has left the proxy. Otherwise the client gets 502/504.
 *
 * <p>Thread: the client connection's event loop, always. Buffers: body parts waiting for a connection
 * ({@code pendingBody}) and response parts waiting for their turn ({@code buffered}) are owned here and
 * released by {@link #release()} if never written.
 */
final class Exchange implements ChunkedDecoder.Sink {

    private static final Logger log = LoggerFactory.getLogger(Exchange.class);

    /** Response bytes held for a pipelined exchange that is not yet first in line; beyond, its backend waits. */
    static final int MAX_BUFFERED_RESPONSE = 256 * 1024;
    /** Request body bytes held while the connection is being made; beyond, the client waits. */
    static final int MAX_PENDING_BODY = 256 * 1024;
    /**
     * A request that must not be replayed only takes a pooled connection used this recently: the backend's
     * keep-alive timeout is most likely to close an older one just as the request arrives.
     */
    private static final long UNSAFE_REUSE_NANOS = TimeUnit.SECONDS.toNanos(2);

    final FrontendHandler frontend;
    final RequestHead request;
    private final LoopContext loop;

    private ServerPool pool;
    private Server server;
    private UpstreamConnection upstream;
    /** A connection being dialled for this exchange; {@link #upstream} once it is ready. */
    private UpstreamConnection connecting;
    private boolean attemptActive;
    private int attempts;
    private List<Server> tried;
    private boolean forceNewConnection;
    private Failure lastFailure;

    private ArrayDeque<ByteBuf> pendingBody;
    private int pendingBytes;
    private boolean requestComplete;
    private boolean bodyBytesSent;
    private boolean upstreamNeedsFlush;
    private boolean interimForwarded;

    private boolean responseStarted;
    private boolean responseComplete;
    private boolean closeClient;
    private BodyKind clientBody = BodyKind.NONE;
    private int status;
    private boolean bytesToClient;
    private ArrayDeque<ByteBuf> buffered;
    private int bufferedBytes;
    private boolean released;

    Exchange(FrontendHandler frontend, RequestHead request, LoopContext loop) {
        this.frontend = frontend;
        this.request = request;
        this.loop = loop;
    }

    // ---------------------------------------------------------------- dispatch

    /** Chooses the pool for this request from the current table and sends it to a server. */
    void dispatch() {
        BackendTable table = loop.runtime().tables().current();
        pool = table.hasRoutes() && request.routingPath != null
                ? table.route(request.routingHost, request.routingPath) : table.defaultPool();
        tryNextServer();
    }

    private void tryNextServer() {
        long now = System.nanoTime();
        Server s = pool == null ? null : pool.balancer(loop.index()).pick(now, tried);
        if (s == null) {
            respondLocally(lastFailure == Failure.TIMEOUT || lastFailure == Failure.CONNECT_TIMEOUT ? 504
                    : lastFailure == Failure.BAD_RESPONSE || lastFailure == Failure.CLOSED_EARLY ? 502 : 503);
            return;
        }
        server = s;
        attempts++;
        attemptActive = true;
        s.stats().requests.increment();
        s.stats().inFlight.incrementAndGet();
        UpstreamConnection c = null;
        if (!forceNewConnection) {
            UpstreamPool<UpstreamConnection> p = loop.pool(s);
            if (p != null) {
                c = p.acquire(now, request.idempotent ? Long.MAX_VALUE : UNSAFE_REUSE_NANOS);
            }
        }
        if (c != null) {
            c.bind(this);
            upstreamReady(c);
        } else {
            connecting = UpstreamConnection.connect(loop, s, this);
        }
    }

    /** A connection to {@link #server} is ready (pooled, or just connected): send the request. */
    void upstreamReady(UpstreamConnection c) {
        connecting = null;
        upstream = c;
        ByteBuf head = request.upstreamHead;
        if (request.hasHost) {
            c.write(head.retainedDuplicate());
        } else {
            // HTTP/1.0 request without Host: name the server, as nginx's default proxy_set_header Host does.
            c.write(head.retainedSlice(head.readerIndex(), head.readableBytes() - 2));
            byte[] host = ("Host: " + hostHeaderValue(c.server()) + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
            c.write(frontend.alloc().directBuffer(host.length).writeBytes(host));
        }
        if (pendingBody != null) {
            ByteBuf part;
            while ((part = pendingBody.poll()) != null) {
                c.write(part);
                bodyBytesSent = true;
            }
            pendingBytes = 0;
        }
        c.flush();
        upstreamNeedsFlush = false;
        frontend.updateReading();
    }

    private static String hostHeaderValue(Server s) {
        return HostAndPort.format(s.spec().host(), s.spec().port());
    }

    // ---------------------------------------------------------------- request body (from the client)

    /** A piece of the request body, already framed for the backend. Ownership passes here. */
    void requestData(ByteBuf part) {
        if (released || responseComplete) {
            part.release(); // answered already (e.g. locally): the rest of the body goes nowhere
            return;
        }
        if (upstream != null) {
            upstream.write(part);
            bodyBytesSent = true;
            upstreamNeedsFlush = true;
        } else {
            if (pendingBody == null) {
                pendingBody = new ArrayDeque<>();
            }
            pendingBody.add(part);
            pendingBytes += part.readableBytes();
        }
    }

    @Override
    public void onChunkData(ByteBuf data) {
        requestData(ChunkedEncoding.chunkHeader(frontend.alloc(), data.readableBytes()));
        requestData(data);
        requestData(ChunkedEncoding.chunkEnd());
    }

    @Override
    public void onLastChunk(ByteBuf trailerFields) {
        requestData(ChunkedEncoding.lastChunk(frontend.alloc(), trailerFields));
    }

    void requestComplete() {
        requestComplete = true;
    }

    boolean isRequestComplete() {
        return requestComplete;
    }

    /** The whole request has been handed to the backend connection. */
    boolean requestFullySent() {
        return requestComplete && (pendingBody == null || pendingBody.isEmpty());
    }

    void flushUpstream() {
        if (upstreamNeedsFlush && upstream != null) {
            upstreamNeedsFlush = false;
            upstream.flush();
        }
    }

    /** The client must stop sending body bytes for now. */
    boolean bodyBackpressure() {
        return upstream != null ? !upstream.isWritable() : pendingBytes > MAX_PENDING_BODY;
    }

    // ---------------------------------------------------------------- response (from the backend)

    /**
     * The keep-alive the response head should announce to the client: not when the client asked to
     * close, not when part of the request body is still unread, and not for the last response of a
     * connection that is draining (shutdown, or the client half-closed).
     */
    boolean clientKeepAlive() {
        return request.keepAlive && requestComplete && !(frontend.isDraining() && frontend.isLastInFlight(this));
    }

    void onInterimResponse(ByteBuf head) {
        if (request.http10) {
            head.release(); // HTTP/1.0 has no 1xx (RFC 9110 section 15.2)
        } else {
            interimForwarded = true;
            toClient(head);
        }
    }

    void onResponseHead(ResponseHead head) {
        responseStarted = true;
        status = head.status;
        closeClient |= head.closeClient;
        clientBody = head.clientBody;
        server.stats().countResponse(status);
        server.recordSuccess();
        toClient(head.clientHead);
    }

    /** Body bytes (Content-Length, until-close, or a decoded chunk); framed again if the client gets chunks. */
    void onResponseData(ByteBuf data) {
        if (!data.isReadable()) {
            data.release();
            return;
        }
        if (clientBody == BodyKind.CHUNKED) {
            toClient(ChunkedEncoding.chunkHeader(frontend.alloc(), data.readableBytes()));
            toClient(data);
            toClient(ChunkedEncoding.chunkEnd());
        } else {
            toClient(data);
        }
    }

    void onResponseChunk(ByteBuf data) {
        onResponseData(data);
    }

    /** End of a chunked or until-close body. */
    void onResponseTrailers(ByteBuf trailerFields) {
        if (clientBody == BodyKind.CHUNKED) {
            toClient(ChunkedEncoding.lastChunk(frontend.alloc(), trailerFields));
        } else if (trailerFields != null) {
            trailerFields.release();
        }
    }

    void onResponseComplete() {
        endAttempt();
        upstream = null;
        responseComplete = true;
        frontend.responseComplete(this);
    }

    private void toClient(ByteBuf buf) {
        frontend.writeResponse(this, buf);
    }

    // ---------------------------------------------------------------- failures

    void upstreamFailed(UpstreamConnection c, Failure failure, String detail) {
        endAttempt();
        upstream = null;
        connecting = null;
        lastFailure = failure;
        Server s = c.server();
        boolean staleKeepAlive = failure == Failure.CLOSED_EARLY && c.wasReused();
        if (failure == Failure.CONNECT_REFUSED || failure == Failure.CONNECT_TIMEOUT) {
            s.stats().connectErrors.increment();
        } else {
            s.stats().responseErrors.increment();
        }
        if (!staleKeepAlive) {
            HealthCheckConfig hc = loop.runtime().config().healthCheck();
            s.recordFailure(System.nanoTime(), hc.passiveMaxFails(),
                    TimeUnit.MILLISECONDS.toNanos(hc.passiveFailTimeoutMillis()), failure + ": " + detail);
        }
        if (released || responseComplete) {
            return;
        }
        if (responseStarted) {
            log.debug("response from {} failed after it started ({}: {})", s, failure, detail);
            frontend.responseFailed(this);
            return;
        }
        if (mayRetry(failure) && (staleKeepAlive || attempts <= loop.runtime().config().limits().retries())) {
            s.stats().retried.increment();
            loop.runtime().stats().retries.increment();
            if (staleKeepAlive) {
                attempts--; // a keep-alive the server had just closed says nothing about the server
                forceNewConnection = true;
            } else {
                if (tried == null) {
                    tried = new ArrayList<>(2);
                }
                tried.add(s);
                forceNewConnection = false;
            }
            log.debug("retrying {} {} after {} on {} ({})", request.method, request.routingPath, failure, s, detail);
            tryNextServer();
            return;
        }
        respondLocally(switch (failure) {
            case CONNECT_TIMEOUT, TIMEOUT -> 504;
            case CONNECT_REFUSED -> 503;
            default -> 502;
        });
    }

    private boolean mayRetry(Failure failure) {
        return switch (failure) {
            case CONNECT_REFUSED, CONNECT_TIMEOUT -> true;
            case CLOSED_EARLY -> request.idempotent && !bodyBytesSent && !interimForwarded;
            default -> false;
        };
    }

    private void endAttempt() {
        if (attemptActive) {
            attemptActive = false;
            server.stats().inFlight.decrementAndGet();
        }
    }

    /** Answers from the proxy itself (no server, or every attempt failed). */
    void respondLocally(int localStatus) {
        status = localStatus;
        releasePendingBody();
        boolean keepAlive = clientKeepAlive();
        closeClient |= !keepAlive;
        frontend.countLocalResponse(localStatus);
        responseStarted = true;
        toClient(LocalResponses.build(frontend.alloc(), localStatus, keepAlive, request.http10, request.headMethod));
        responseComplete = true;
        frontend.responseComplete(this);
    }

    // ---------------------------------------------------------------- ordering (pipelining)

    /** Holds a response part until this exchange is first in line. */
    void buffer(ByteBuf part) {
        if (buffered == null) {
            buffered = new ArrayDeque<>();
        }
        buffered.add(part);
        bufferedBytes += part.readableBytes();
        if (bufferedBytes > MAX_BUFFERED_RESPONSE && upstream != null) {
            upstream.setReadPaused(true);
        }
    }

    /** This exchange is now first in line: returns what it buffered, in order, and lets its backend go on. */
    ArrayDeque<ByteBuf> takeBuffered() {
        ArrayDeque<ByteBuf> parts = buffered;
        buffered = null;
        bufferedBytes = 0;
        return parts;
    }

    void clientWritabilityChanged(boolean writable) {
        if (upstream != null) {
            upstream.setReadPaused(!writable);
        }
    }

    void markBytesToClient() {
        bytesToClient = true;
    }

    boolean bytesToClient() {
        return bytesToClient;
    }

    boolean isResponseComplete() {
        return responseComplete;
    }

    boolean closeClientAfter() {
        return closeClient;
    }

    void forceCloseClient() {
        closeClient = true;
    }

    int status() {
        return status;
    }

    /** Discards what a failed response had buffered (it never reached the client) and answers 502 instead. */
    void replaceBufferedWithError() {
        releaseBuffered();
        responseStarted = false;
        closeClient = false;
        clientBody = BodyKind.NONE;
        respondLocally(502);
    }

    /**
     * The request body turned out malformed (or the client stalled in it): the backend connection is
     * closed before the body's end, so the backend never sees a complete request.
     */
    void abortUpstreamForInvalidBody() {
        releasePendingBody();
        detachUpstream();
        endAttempt();
    }

    /** The client connection is gone, or the request was void: drop everything. */
    void abort() {
        detachUpstream();
        endAttempt();
        release();
    }

    /** Lets go of the backend connection, ready or still connecting, so it never acts for this exchange again. */
    private void detachUpstream() {
        UpstreamConnection c = upstream != null ? upstream : connecting;
        upstream = null;
        connecting = null;
        if (c != null) {
            c.abort(this);
        }
    }

    /** Frees what this exchange still owns. Idempotent. */
    void release() {
        if (released) {
            return;
        }
        released = true;
        if (request.upstreamHead != null) {
            request.upstreamHead.release();
        }
        releasePendingBody();
        releaseBuffered();
    }

    private void releasePendingBody() {
        if (pendingBody != null) {
            ByteBuf b;
            while ((b = pendingBody.poll()) != null) {
                b.release();
            }
            pendingBytes = 0;
        }
    }

    private void releaseBuffered() {
        if (buffered != null) {
            ByteBuf b;
            while ((b = buffered.poll()) != null) {
                b.release();
            }
            bufferedBytes = 0;
        }
    }
}
