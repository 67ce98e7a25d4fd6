package io.grapevine.proxy.forward;

import io.grapevine.cluster.HostAndPort;
import io.grapevine.proxy.config.PoolPolicy;
import io.grapevine.proxy.config.ServerSpec;
import io.grapevine.proxy.http.BodyKind;
import io.grapevine.proxy.http.ChunkedEncoding;
import io.grapevine.proxy.http.CompressionRule;
import io.grapevine.proxy.http.RequestHead;
import io.grapevine.proxy.http.ResponseHead;
import io.grapevine.proxy.stats.ProxyStats;
import io.grapevine.proxy.table.BackendTable;
import io.grapevine.proxy.table.Ejection;
import io.grapevine.proxy.table.PoolState;
import io.grapevine.proxy.table.RateLimiter;
import io.grapevine.proxy.table.Server;
import io.grapevine.proxy.table.ServerPool;
import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;
import java.util.AbstractList;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One request and its response, whatever protocol the client speaks: routes it (on the table generation
 * the request was read under, read once; then over its pool's servers in the table in force when it starts or
 * retries), sends it to a server in one or more {@link Attempt}s, relays the
 * request body to the backend and the response to its {@link ClientStream}, feeds passive health, and
 * leaves every "retry or answer" decision to the {@link RetryPolicy}. When every server that could take it is at its
 * {@code max_conn}, it waits in its pool's queue ({@link QueueTicket}, {@link io.grapevine.proxy.table.PoolQueue})
 * until a slot is handed to it, the queue's timeout passes or its client goes away.
 *
 * <p>The client side calls {@link #start}, {@link #requestBody}, {@link #requestEnd},
 * {@link #flushRequest}, {@link #pauseResponse}, {@link #fail} and {@link #abort}; the attempts call the
 * {@code attempt*} methods. Thread: the client channel's event loop, always.
 *
 * <p>Buffers: request body parts that wait for a connection ({@code pendingBody}) and the request head
 * are owned here and released when the exchange ends; everything passed to the client stream or to a
 * backend connection is theirs.
 */
public final class Exchange {

    private static final Logger log = LoggerFactory.getLogger(Exchange.class);
    /** Whether an observer's failure was logged already; racy on purpose (at worst a few lines). */
    private static volatile boolean observerFailureLogged;

    /** Request body bytes held while the connection is being made; beyond, the client waits. */
    static final int MAX_PENDING_BODY = 256 * 1024;

    /** Where the response stands. */
    public enum State {
        /** Created from a complete request head; not routed yet. */
        NEW,
        /**
         * Every server that could take the request is at its {@code max_conn}: it waits in its pool's queue for a
         * slot, then goes on {@link #FORWARDING}; or it is answered 503 when the queue is full or its wait too long.
         */
        QUEUED,
        /** An attempt is connecting, or the request went out and the response head is awaited. */
        FORWARDING,
        /** The response head went to the client; the body streams. */
        RESPONDING,
        /**
         * A {@code 101} went to the client: the client and backend connections carry the new protocol's bytes
         * both ways ({@link #tunnelData}) until either side closes.
         */
        TUNNEL,
        /** The response is complete (from a backend, or answered by the proxy). */
        DONE,
        /** The client went away or the request became void; nothing more happens. */
        ABORTED
    }

    /** Where the request body stands (on the client side). */
    public enum RequestState {
        /** More body is to come from the client. */
        RECEIVING_BODY,
        /** The whole request has been read from the client. */
        COMPLETE,
        /**
         * The client sends no more of the body, though it did not end it, and its response goes on: the client
         * stopped after the response began (RFC 9112 section 9.5), see {@link #requestAbandoned}. The request
         * never reached the backend whole, so its connection is not reused.
         */
        ABANDONED
    }

    private final ClientStream client;
    private final RequestHead request;
    /**
     * The table generation the request was read under, and below the pool of that generation it was routed to and its
     * affinity there: dropped once the response began ({@link #forgetRouting}), when no retry can follow, so that a
     * tunnel open for hours keeps no generation's balancers (Maglev tables, per-loop state) in memory.
     */
    private BackendTable table;
    private final LoopContext loop;
    private State state = State.NEW;
    private RequestState requestState;

    private ServerPool pool;
    /** The pool's name and its state (which lives from generation to generation); kept for the exchange's whole life. */
    private String poolName;
    /**
     * The only source of the pool's state for budgets, queue and counters: {@link #pool}'s own while that is set, since
     * {@link #followPoolAcrossSwap} moves only to a pool of the same state, and still there once {@link #pool} is let go.
     */
    private PoolState poolState;
    /** Hash key and sticky cookie of the request in its pool; null when the pool neither hashes nor sticks. */
    private Affinity affinity;
    private Attempt attempt;
    /** The request's place in its pool's queue while it is {@link State#QUEUED}; null otherwise. */
    private QueueTicket ticket;
    /**
     * It left the pool's queue without a slot (timed out, its pool left the table, or its client left): see
     * {@link #endedInQueue}.
     */
    private boolean leftQueueUnserved;
    /** Time spent in the queue, all waits together. */
    private long queuedNanos;
    /** Attempts on another server after a failure, each spending one of {@code limits.retries}. */
    private int retriesMade;
    /**
     * Stale keep-alives sent to another server because theirs takes no requests now: further servers tried, but
     * none of {@code limits.retries} spent (the request reached no server).
     */
    private int staleRedispatches;
    private List<Server> tried;
    private Failure lastFailure;
    /** A byte of the request body, or an interim response, crossed the proxy: replaying is no longer safe. */
    private boolean requestCommitted;
    private boolean upstreamNeedsFlush;
    private ArrayDeque<ByteBuf> pendingBody;
    private int pendingBytes;
    private int status;
    /** The proxy answered itself (502, 503, 504, or the status of a void request): no backend response. */
    private boolean answeredByProxy;
    private final long startNanos = System.nanoTime();
    /** When the response head (or the proxy's own answer) was produced; 0 before. */
    private long responseNanos;
    private long endNanos;
    private long requestBodyBytes;
    private long responseBodyBytes;
    /** The observers were told (exactly once). */
    private boolean ended;
    /** The response body's gzip encoding, while the body streams; null when it is not compressed. */
    private GzipEncoder gzip;
    /** Where {@link #gzip}'s output goes: {@link #compressedToClient}. */
    private java.util.function.Consumer<ByteBuf> gzipSink;

    /**
     * @param table the table generation the request head was read under; the exchange routes on it
     */
    public Exchange(ClientStream client, RequestHead request, BackendTable table, LoopContext loop) {
        this.client = client;
        this.request = request;
        this.table = table;
        this.loop = loop;
        this.requestState = request.hasBody() ? RequestState.RECEIVING_BODY : RequestState.COMPLETE;
    }

    public RequestHead request() {
        return request;
    }

    public State state() {
        return state;
    }

    public RequestState requestState() {
        return requestState;
    }

    /** The status of the response (0 until there is one). */
    public int status() {
        return status;
    }

    /** Whether the answer came from the proxy itself rather than from a backend (see {@link #status()}). */
    public boolean answeredByProxy() {
        return answeredByProxy;
    }

    /** The client side of this exchange. */
    public ClientStream clientStream() {
        return client;
    }

    /** The event loop's index (per-loop state such as histograms is indexed by it). */
    public int loopIndex() {
        return loop.index();
    }

    /** {@link System#nanoTime()} when the request head was read. */
    public long startNanos() {
        return startNanos;
    }

    /** When the response head arrived (or the proxy answered itself); 0 if it never did. */
    public long responseNanos() {
        return responseNanos;
    }

    /** When the exchange ended; 0 before. */
    public long endNanos() {
        return endNanos;
    }

    /**
     * Whether the exchange ended waiting in its pool's queue (a queue timeout's 503, the 503 of its pool leaving the
     * table, or its client left meanwhile):
     * its outcome is the pool's, not that of the server of an attempt that failed before it queued.
     */
    public boolean endedInQueue() {
        return leftQueueUnserved;
    }

    /** The server of the last attempt, or {@code null} when none was tried. */
    public Server server() {
        Attempt a = attempt;
        return a == null ? null : a.server();
    }

    /** When the last attempt started; 0 when none was made. */
    public long lastAttemptNanos() {
        Attempt a = attempt;
        return a == null ? 0 : a.startNanos();
    }

    /** The name of the pool the request was routed to, or {@code null} (no pool of that name in the table). */
    public String poolName() {
        return poolName;
    }

    /** Time the request waited in its pool's queue for a server (0 when it never queued). */
    public long queuedNanos() {
        return queuedNanos;
    }

    /**
     * Further servers tried after the first (the access log's {@code retries}): retries elsewhere, and stale
     * keep-alives sent to another server; a stale keep-alive sent again to the same server is not counted.
     */
    public int retries() {
        return retriesMade + staleRedispatches;
    }

    /** Request body bytes received from the client (content, without framing). */
    public long requestBodyBytes() {
        return requestBodyBytes;
    }

    /** Response body bytes passed to the client (content, without framing; compressed, when it was compressed). */
    public long responseBodyBytes() {
        return responseBodyBytes;
    }

    ClientStream client() {
        return client;
    }

    /** The PROXY protocol version the chosen pool's servers expect, or {@code null}. */
    io.grapevine.proxy.config.ProxyProtocolConfig.Version proxyProtocolVersion() {
        return poolName == null ? null : loop.config().proxyProtocol().sendTo(poolName);
    }

    LoopContext loop() {
        return loop;
    }

    // ---------------------------------------------------------------- routing and attempts

    /** Chooses the pool for this request and sends it to a server. */
    public void start() {
        if (state != State.NEW) {
            return;
        }
        state = State.FORWARDING;
        if (!request.secure && loop.httpsRedirectPort() != 0 && redirectedToHttps(loop.httpsRedirectPort())) {
            return;
        }
        int routeIndex = table.hasRoutes() && request.routingPath != null
                ? table.routeIndex(request.routingHost, request.routingPath) : -1;
        pool = table.poolOfRoute(routeIndex);
        if (pool == null) {
            answerAbsentPool(routeIndex);
            return;
        }
        poolName = pool.name();
        poolState = pool.state();
        BackendTable.RouteLimit routeLimit = table.routeLimit(routeIndex);
        if (routeLimit != null && overRateLimit(routeLimit.limiter(), routeLimit.keyIndex())) {
            return;
        }
        RateLimiter limiter = poolState.rateLimiter();
        if (limiter != null && overRateLimit(limiter, pool.rateKeyIndex())) {
            return;
        }
        loop.retryBudget(poolState, startNanos).deposit(startNanos);
        affinity = Affinity.of(pool, request);
        // Routed on the generation the head was read under, whose captures it holds; but a request that waited for its
        // start (pipelined behind one that is not safe, or behind responses the client has not taken) goes over its
        // pool as the table in force has it, as a retry does: the servers that left since are gone from it, those that
        // joined are there. One volatile read when no swap came between.
        followPoolAcrossSwap();
        sendToNextServer();
    }

    /**
     * {@code tls.redirect_http}: a request on a plaintext connection is answered with a redirect to the same host and
     * target over HTTPS on {@code port}, 301 for GET and HEAD (which every client follows as such), 308 for any other
     * method, which must be sent again as it was, body included (RFC 9110 section 15.4.9). The target is the one that
     * would have been forwarded, every byte outside RFC 3986's set percent-encoded. ACME HTTP-01 challenges (the
     * prefix and one token, RFC 8555 sections 8.1 and 8.3) and {@code OPTIONS *} are forwarded as before. A request
     * without a host, or with one that is no name or address, names nothing to redirect to: 400.
     *
     * @return whether the request was answered
     */
    private boolean redirectedToHttps(int port) {
        String path = request.routingPath;
        if (path == null || !path.startsWith("/") || HttpsRedirect.isAcmeChallenge(path)) {
            return false;
        }
        String host = request.routingHost;
        String target = request.forwardedTarget();
        if (!HttpsRedirect.isHost(host) || target == null || !target.startsWith("/")) {
            answer(400);
            return true;
        }
        int status = "GET".equals(request.method) || request.headMethod ? 301 : 308;
        loop.stats().redirectedToHttps.increment();
        answer(status, 0, HttpsRedirect.location(host, port, target));
        return true;
    }

    /**
     * Counts the request against its client's share of a rate limit (its route's, then its pool's, each with the
     * captured header at {@code index}, or -1); one over it is answered 429 with the
     * {@code Retry-After} that would see it admitted (RFC 6585 section 4), before any server, retry budget or queue
     * sees it. The client is the request's header the limit names when it has one, else its address: a client that
     * leaves the header out is limited by its address, not let through. A client whose address is in an exempt network
     * is not counted at all.
     *
     * @return whether the request was answered
     */
    private boolean overRateLimit(RateLimiter limiter, int index) {
        if (limiter.hasExemptions()) {
            java.net.InetSocketAddress from = client.clientAddress();
            if (from != null && limiter.exempts(from.getAddress())) {
                return false;
            }
        }
        byte[][] captured = request.capturedHeaders;
        boolean byHeader = index >= 0 && captured != null && index < captured.length && captured[index] != null
                && captured[index].length > 0;
        byte[] key = byHeader ? captured[index] : request.clientAddress;
        // Now, not the head's arrival: a pipelined request starts when those before it let it.
        long waitNanos = key == null ? 0 : limiter.acquire(key, 0, key.length, !byHeader, System.nanoTime());
        if (waitNanos == 0) {
            return false;
        }
        poolState.stats().rateLimited.increment();
        loop.stats().rateLimited.increment();
        if (log.isDebugEnabled()) { // a flood of refusals is this path's load: no argument array for a disabled level
            log.debug("{} {} over the rate limit of pool {}: answered 429", request.method, request.routingPath,
                    poolName);
        }
        answer(429, Math.max(1, (waitNanos + 999_999_999) / 1_000_000_000));
        return true;
    }

    /**
     * Sends the request to a server of its pool: the one its sticky cookie names, or the balancer's choice among
     * those not tried yet, taking one of the server's slots. When every server that could take it is at its
     * {@code max_conn}, the request queues; when none is available at all, it is answered.
     */
    private void sendToNextServer() {
        if (!trySendToNextServer()) {
            answerNoServer();
        }
    }

    /**
     * 503: no server of the pool can take the request, and none failed it (a server that did is answered for by its
     * failure's status, and counted as its error). The pool's {@code no_server}, as HAProxy charges its 503 to the
     * backend: no server's counters say it.
     */
    private void answerNoServer() {
        poolState.stats().noServer.increment();
        answer(503);
    }

    /**
     * 503: the request's pool has no server in the table. A pool the table still shows (a route names it, or it left
     * less than its kept time ago) counts it in its {@code no_server}, as for a pool whose servers are all down, and
     * the access log names it; a name the proxy knows nothing of counts only proxy-wide.
     *
     * @param routeIndex the route the request matched ({@link BackendTable#routeIndex}), -1 for none
     */
    private void answerAbsentPool(int routeIndex) {
        String name = table.poolNameOfRoute(routeIndex);
        BackendTable.AbsentPool absent = table.absentPool(name, startNanos);
        if (absent != null) {
            poolName = name;
            poolState = absent.state();
            poolState.stats().noServer.increment();
        }
        answer(RetryPolicy.statusFor(null));
    }

    /** As {@link #sendToNextServer}, but leaves the answer to the caller when no server can take the request. */
    private boolean trySendToNextServer() {
        long now = System.nanoTime();
        Server named = affinity == null ? null : affinity.stickyServer(now, tried);
        if (named != null) {
            if (named.tryAcquireSlot()) {
                startAttempt(named, now, false);
                return true;
            }
            if (enqueue(named, now)) {
                return true;
            }
            // No room to wait for its server (queue.max 0, or the queue is full): balanced as a request without the
            // cookie, as HAProxy redispatches a persistent request whose server's queue is full (maxqueue); the
            // response names the server that answered. Refused only when no other server has room either.
        }
        List<Server> excluded = tried == null ? null : new TriedOrFailing(tried);
        for (int i = 0, n = pool.servers().size(); i <= n; i++) {
            Server s = affinity != null ? affinity.balance(loop.index(), now, excluded)
                    : pool.balancer(loop.index()).pick(now, excluded);
            if (s == null) {
                if (excluded != tried) {
                    excluded = tried; // every server left is failing too: any of them rather than none
                    continue;
                }
                break;
            }
            if (s.tryAcquireSlot()) {
                startAttempt(s, now, false);
                return true;
            }
            // another event loop took its last slot between the pick and here: it is full now, pick again
        }
        if (pool.isLimited() && someServerIsFull(now)) {
            enqueueOrAnswerBusy(now);
            return true;
        }
        return false;
    }

    /**
     * What a retry avoids: the servers already tried and those whose last request failed (passive health's failure
     * streak) though max_ejected_percent keeps them in rotation. A request that failed once goes next where nothing
     * is known to fail, as nginx's {@code proxy_next_upstream} avoids a server that has just failed: when a partition
     * takes most of a pool, the ejection limit keeps new requests spread, but a retry is not sent from one
     * unreachable server to another. Built on the retry path only, in O(1): balancers ask an exclusion list nothing
     * but {@code contains} ({@code Balancers.eligible}), so the failing servers are asked, not listed, and a pool of
     * 10,000 servers costs nothing more.
     */
    private static final class TriedOrFailing extends AbstractList<Server> {
        private final List<Server> tried;

        TriedOrFailing(List<Server> tried) {
            this.tried = tried;
        }

        @Override
        public boolean contains(Object o) {
            return tried.contains(o) || (o instanceof Server s && s.isFailing());
        }

        @Override
        public Server get(int index) {
            return tried.get(index);
        }

        @Override
        public int size() {
            return tried.size();
        }
    }

    /** Whether a server of the pool that could take the request is only busy (at its max_conn), not unavailable. */
    private boolean someServerIsFull(long now) {
        for (Server s : pool.servers()) {
            if (s.isFull() && s.isAvailable(now) && (tried == null || !tried.contains(s))) {
                return true;
            }
        }
        return false;
    }

    /**
     * Whether a retry after a failure on {@code failed} would find a server to go to: one of the pool not tried yet that
     * takes requests now, with a free slot or a queue to wait in. Only when the retry budget denied a retry, so that
     * {@code retries_denied} counts retries that would have been made, not failures with nowhere else to go (a pool of
     * one server); O(servers), on that path alone. Asked of the pool the retry would have gone over, as the table in
     * force has it ({@link #followPoolAcrossSwap}): a server that joined while the request was in flight counts.
     */
    private boolean anotherServerLeft(Server failed, long now) {
        followPoolAcrossSwap();
        boolean mayWait = poolState.queuePolicy().max() > 0;
        for (Server s : pool.servers()) {
            if (s != failed && s.isAvailable(now) && (mayWait || !s.isFull()) && (tried == null || !tried.contains(s))) {
                return true;
            }
        }
        return false;
    }

    /** @param s a server whose slot this exchange holds; the attempt takes it over */
    private void startAttempt(Server s, long now, boolean freshConnection) {
        Attempt a = new Attempt(this, s, now);
        attempt = a;
        a.start(freshConnection);
    }

    // ---------------------------------------------------------------- the pool's queue

    /** Queues the request for a slot of any server of its pool it may use; a full queue is answered 503 at once. */
    private void enqueueOrAnswerBusy(long now) {
        if (!enqueue(null, now)) {
            poolState.stats().queueFull.increment();
            log.debug("queue of pool {} is full ({} requests): {} {} answered 503", poolName,
                    poolState.queuePolicy().max(), request.method, request.routingPath);
            answerBusy(poolState.queuePolicy());
        }
    }

    /**
     * Queues the request for a slot of any server of its pool it may use, or of {@code pinned} only (its sticky
     * server).
     *
     * @return false: the queue is full (or there is none); nothing was done
     */
    private boolean enqueue(Server pinned, long now) {
        QueueTicket t = new QueueTicket(this, loop.eventLoop(), pinned, tried, now, poolState.queuePolicy());
        if (!poolState.queue().offer(t, now)) {
            return false;
        }
        ticket = t;
        state = State.QUEUED;
        t.timeout(loop.eventLoop().schedule(() -> queueTimedOut(t), t.policy().timeoutMillis(),
                TimeUnit.MILLISECONDS));
        return true;
    }

    /**
     * The queue handed this request a slot of {@code server} (on this loop, whichever loop freed it); {@code null}:
     * its pool left the table. A request that is no longer waiting gives the slot back.
     */
    void slotGranted(QueueTicket t, Server server) {
        if (t != ticket || state != State.QUEUED) {
            if (server != null) {
                server.releaseSlot();
            }
            return;
        }
        ticket = null;
        t.cancelTimeout();
        long now = System.nanoTime();
        queuedNanos += now - t.sinceNanos();
        if (server == null) {
            // The pool left the table (PoolQueue.retire): no server will come, and the wait ends as it would have
            // at its timeout. Counted here, on the exchange's loop, only if the request still waited: one whose
            // client left first is abandoned, one whose timer ran first (and found it gone) is counted now.
            // As a queue timeout, the request's end is the pool's: 503, not the answer a server that failed it
            // before it queued would have earned (a retry waiting for another server), and none of that server's
            // latency.
            leftQueueUnserved = true;
            poolState.stats().queueTimeouts.increment();
            log.debug("{} {} waited in the queue of pool {}, which left the table: answered 503", request.method,
                    request.routingPath, poolName);
            answer(503);
            return;
        }
        // The wait is counted here, as the slot is used, not by the queue as it granted it: a client that left
        // meanwhile (above) gives the slot back and counts as abandoned only.
        poolState.stats().recordWait(loop.index(), now - t.sinceNanos());
        state = State.FORWARDING;
        followPoolAcrossSwap();
        startAttempt(server, now, false);
    }

    /**
     * Before a retry, after a wait in the queue, and at a start that waited: the pool as the table in force now has
     * it, when a swap published it under the same name and state (the same queue), so that the request is sent (again)
     * over the servers there are now, those that joined included, and finds full ones among them, not over those of
     * the generation it was routed under (which may have left), as HAProxy's redispatch picks among the servers of the
     * moment. Servers keep their identity across generations, so {@link #tried} and the sticky cookie's server stay meaningful. What ties the
     * request to a server must mean the same there: the same hash key (the same hashing, or none on either side) and
     * the same sticky cookie, whatever else of the policy changed (algorithm, ramp, queue); or nothing at all in the
     * new policy, which then balances the request freely. Under a new hash or cookie the request keeps its pool, whose
     * key and cookie it read (the head was parsed for that generation). On a retry, a grant, and at the start of a
     * request, where it costs one volatile read unless a swap came since the head was read; on the exchange's loop.
     */
    private void followPoolAcrossSwap() {
        BackendTable now = loop.tables().current();
        if (now == table) {
            return;
        }
        ServerPool next = now.pools().get(poolName);
        if (next == null || next == pool || next.state() != poolState) {
            return;
        }
        PoolPolicy was = pool.policy();
        PoolPolicy is = next.policy();
        boolean sameKey = was.balance().hashes()
                ? was.balance() == is.balance() && Objects.equals(was.hashField(), is.hashField())
                : !is.balance().hashes();
        if (sameKey && Objects.equals(was.sticky(), is.sticky())) {
            pool = next;
            if (affinity != null) {
                affinity = affinity.in(next);
            }
        } else if (!is.balance().hashes() && is.sticky() == null) {
            pool = next;
            affinity = null;
        }
    }

    private void queueTimedOut(QueueTicket t) {
        if (t != ticket || state != State.QUEUED || !poolState.queue().remove(t)) {
            return; // not waiting any more, or granted just now: the slot is on its way
        }
        ticket = null;
        leftQueueUnserved = true;
        queuedNanos += System.nanoTime() - t.sinceNanos();
        poolState.stats().queueTimeouts.increment();
        log.debug("{} {} waited {} ms in the queue of pool {} in vain: answered 503", request.method,
                request.routingPath, t.policy().timeoutMillis(), poolName);
        answerBusy(t.policy());
    }

    /** Leaves the queue (the client went away, or the request became void). */
    private void leaveQueue() {
        QueueTicket t = ticket;
        if (t == null) {
            return;
        }
        ticket = null;
        leftQueueUnserved = true;
        t.cancelTimeout();
        queuedNanos += System.nanoTime() - t.sinceNanos();
        poolState.queue().remove(t); // if it was granted just now, slotGranted gives the slot back, its wait uncounted
        poolState.stats().queueAbandoned.increment();
    }

    /**
     * 503 for a full queue or a queue timeout, with the {@code Retry-After} of {@code queue}: the settings in force for
     * a full queue, those the request waited under for a timeout.
     */
    private void answerBusy(PoolPolicy.Queue queue) {
        answer(503, queue.retryAfterSeconds());
    }

    /** The attempt's connection is ready: send the head and whatever body has arrived. */
    void attemptReady(Attempt a) {
        if (a != attempt) {
            return;
        }
        ByteBuf head = request.upstreamHead;
        if (request.hasHost) {
            // The head itself, retained, not a derived buffer of it per request. A transport that writes it in parts
            // moves its reader index (and leaves it where the last part began once the whole is out), so an attempt
            // sends it from the start: an earlier attempt's connection was closed before a retry comes here, which
            // discarded whatever it had not written, so no other write holds the head now.
            a.write(head.readerIndex(0).retain());
        } else {
            // HTTP/1.0 request without Host: name the server, as nginx's default proxy_set_header Host does.
            a.write(head.retainedSlice(head.readerIndex(), head.readableBytes() - 2));
            byte[] host = ("Host: " + hostHeaderValue(a.server()) + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
            a.write(client.alloc().directBuffer(host.length).writeBytes(host));
        }
        if (pendingBody != null) {
            ByteBuf part;
            while ((part = pendingBody.poll()) != null) {
                a.write(part);
                requestCommitted = true;
            }
            pendingBytes = 0;
        }
        a.flush();
        upstreamNeedsFlush = false;
        client.resumeRequestBody();
    }

    /**
     * The response began: no retry, queue or balancing follows, so the table generation, its pool and the affinity
     * there are no longer needed (what outlives this reads {@link #poolName} and {@link #poolState}). On the
     * exchange's loop.
     */
    private void forgetRouting() {
        table = null;
        pool = null;
        affinity = null;
    }

    /** A field line the response from {@code server} gets (a sticky session's Set-Cookie), or null. */
    byte[] extraResponseField(Server server) {
        return affinity == null ? null : affinity.setCookieFor(server);
    }

    /** The sticky cookie's name, which only the proxy may set in a response, or null (not a sticky pool). */
    byte[] stickyCookieName() {
        return affinity == null ? null : affinity.stickyCookieName();
    }

    private static String hostHeaderValue(Server s) {
        return HostAndPort.format(s.spec().host(), s.spec().port());
    }

    void attemptInterim(ResponseHead head) {
        if (request.http10) {
            head.release(); // HTTP/1.0 has no 1xx (RFC 9110 section 15.2)
            return;
        }
        requestCommitted = true;
        client.interimResponse(head);
    }

    /**
     * The compression a response head may get ({@link UpstreamConnection.Listener#gzipOffer}): the pool's, when it
     * compresses, with whether the request accepts gzip and the loop's compressors behind it; otherwise null.
     */
    CompressionRule gzipOffer() {
        ServerPool p = pool;
        if (p == null || !p.policy().compression().enabled()) {
            return null;
        }
        return loop.compressors().offer(p.policy().compression(), request.acceptsGzip);
    }

    void attemptResponseHead(ResponseHead head) {
        if (head.gzip) { // offered by gzipOffer, from this pool, in the parse that just returned
            gzip = new GzipEncoder(loop.compressors(), pool.policy().compression().level(), client.alloc());
            if (gzipSink == null) {
                gzipSink = this::compressedToClient;
            }
        }
        state = head.switching ? State.TUNNEL : State.RESPONDING;
        forgetRouting(); // the sticky cookie of this response was rendered with its head, before this
        status = head.status;
        responseNanos = System.nanoTime();
        if (head.switching) {
            attempt.server().stats().tunnels.increment();
        }
        client.responseHead(head);
    }

    void attemptResponseBody(ByteBuf data) {
        GzipEncoder g = gzip;
        if (g != null) {
            g.write(data, gzipSink);
        } else {
            responseBodyBytes += data.readableBytes();
            client.responseBody(data);
        }
    }

    /** Compressed body bytes on their way to the client: counted as what the client is sent. */
    private void compressedToClient(ByteBuf data) {
        responseBodyBytes += data.readableBytes();
        client.responseBody(data);
    }

    void attemptResponseEnd(ByteBuf trailerFields) {
        state = State.DONE;
        releasePendingBody();
        GzipEncoder g = gzip;
        if (g != null) {
            gzip = null;
            try {
                g.finish(gzipSink);
            } finally {
                g.release(); // already, unless finishing failed
            }
            ProxyStats stats = loop.stats();
            stats.responsesCompressed.increment();
            stats.compressionBytesIn.add(g.inputBytes());
            stats.compressionBytesOut.add(g.outputBytes());
        }
        ended();
        client.responseEnd(trailerFields);
    }

    /** The backend's read is over: what the response has for the client goes out (zlib's pending bytes too). */
    void flushResponse() {
        GzipEncoder g = gzip;
        if (g != null) {
            g.flush(gzipSink);
        }
        client.flush();
    }

    /** The backend half-closed the tunnel: see {@link ClientStream#backendHalfClosed}. */
    boolean attemptTunnelHalfClosed() {
        return state == State.TUNNEL && client.backendHalfClosed();
    }

    void attemptWritable() {
        client.resumeRequestBody();
    }

    void attemptFailed(Attempt a, Failure failure, String detail, boolean responseStarted) {
        if (a != attempt) {
            return;
        }
        Server s = a.server();
        lastFailure = failure;
        boolean reused = a.reusedConnection();
        long now = System.nanoTime();
        RetryPolicy.Decision d = state != State.FORWARDING && state != State.RESPONDING && state != State.TUNNEL ? null
                : loop.retryPolicy().decide(new RetryPolicy.Facts(failure, reused, responseStarted,
                        request.idempotent, requestCommitted, retriesMade), loop.retryBudget(poolState, now), now);
        if (failure.beforeSending()) {
            if (failure != Failure.NO_SOCKET) { // the proxy's own shortage is no connect error of the server's
                s.stats().connectErrors.increment();
            }
        } else if (d == null || d.action() != RetryPolicy.Action.RETRY_SAME_SERVER) {
            // A stale keep-alive sent again is counted in retried (HAProxy's wretr), not as an error of the server.
            s.stats().responseErrors.increment();
        }
        if (RetryPolicy.countsAgainstServer(failure, reused)) {
            Ejection ejection = s.recordFailure(now, loop.healthCheck(), failure + ": " + detail);
            if (ejection != null) { // its return is logged when it is due
                loop.eventLoop().schedule(() -> s.poolState().ejectionOver(ejection), ejection.durationNanos(),
                        TimeUnit.NANOSECONDS);
            }
        }
        if (d == null) {
            return;
        }
        if (d.retryDenied() && anotherServerLeft(s, now)) {
            poolState.stats().retriesDenied.increment();
            loop.stats().retriesDenied.increment();
            log.debug("not retrying {} {} after {} on {}: the retry budget of pool {} is spent", request.method,
                    request.routingPath, failure, s, poolName);
        }
        switch (d.action()) {
            case RETRY_OTHER_SERVER -> {
                retriesMade++; // before the next attempt, which may fail before trySendToNextServer returns
                if (tried == null) {
                    tried = new ArrayList<>(2);
                }
                tried.add(s);
                followPoolAcrossSwap();
                if (!trySendToNextServer()) {
                    // No other server can take it: no retry was made, nor counted; the budget gets its retry back.
                    retriesMade--;
                    loop.retryBudget(poolState, now).refund(now);
                    answer(RetryPolicy.statusFor(lastFailure));
                    return;
                }
                if (attempt == a && ticket == null) {
                    // Neither a new attempt nor a place in the queue: every other server is at its max_conn and the
                    // queue is full, and the request was answered 503 as any would be. No retry was made either.
                    retriesMade--;
                    loop.retryBudget(poolState, now).refund(now);
                    return;
                }
                s.stats().retried.increment();
                s.stats().redispatched.increment();
                loop.stats().retries.increment();
                log.debug("retried {} {} after {} on {} ({})", request.method, request.routingPath, failure, s, detail);
            }
            case RETRY_SAME_SERVER -> {
                if (!s.takesStickyRequests(now)) {
                    // Put in maintenance, down or out of the table since it was picked: the request reached no
                    // server and goes to another one. Counted as retried and redispatched, as any retry elsewhere,
                    // once it went there or waits for a slot, but it spends nothing of the retry budget and counts
                    // as no failure of this server. With no other server (or every one full and no room to wait)
                    // it is answered: no retry was made, none is counted.
                    if (tried == null) {
                        tried = new ArrayList<>(2);
                    }
                    tried.add(s);
                    followPoolAcrossSwap();
                    if (!trySendToNextServer()) {
                        answerNoServer();
                        return;
                    }
                    if (attempt != a || ticket != null) {
                        staleRedispatches++;
                        s.stats().retried.increment();
                        s.stats().redispatched.increment();
                        loop.stats().retries.increment();
                        log.debug("sent {} {} elsewhere after a stale keep-alive on {}, which takes no requests now",
                                request.method, request.routingPath, s);
                    }
                    return;
                }
                s.stats().retried.increment();
                loop.stats().retries.increment();
                log.debug("retrying {} {} after {} on {} ({})", request.method, request.routingPath, failure, s, detail);
                if (a.passSlot() || s.tryAcquireSlot()) {
                    startAttempt(s, now, true);
                } else {
                    enqueueOrAnswerBusy(now);
                }
            }
            case ANSWER -> {
                if (failure == Failure.NO_SOCKET) {
                    loop.stats().status503NoSocket.increment();
                }
                answer(d.status());
            }
            case ABORT_RESPONSE -> {
                log.debug("response from {} failed after it started ({}: {})", s, failure, detail);
                state = State.DONE;
                releasePendingBody();
                ended();
                client.abortResponse(d.status());
            }
        }
    }

    /** The proxy answers {@code localStatus} itself. */
    private void answer(int localStatus) {
        answer(localStatus, 0);
    }

    /** ... with a {@code Retry-After} of {@code retryAfterSeconds} when above 0. */
    private void answer(int localStatus, long retryAfterSeconds) {
        answer(localStatus, retryAfterSeconds, null);
    }

    /** ... and a redirect's {@code location}, when not {@code null}. */
    private void answer(int localStatus, long retryAfterSeconds, String location) {
        status = localStatus;
        answeredByProxy = true;
        state = State.DONE;
        responseNanos = System.nanoTime();
        releasePendingBody();
        loop.stats().countLocalResponse(localStatus);
        ended();
        if (location != null) {
            client.localRedirect(localStatus, location);
        } else {
            client.localResponse(localStatus, retryAfterSeconds);
        }
    }

    /** Tells the observers, once, before the client side may release the request head. */
    private void ended() {
        releaseGzip(); // a response that did not complete: its zlib stream goes back to the loop
        if (!ended) {
            ended = true;
            endNanos = System.nanoTime();
            ByteBuf head = request.upstreamHead;
            if (head != null) {
                // Nothing unless leak detection tracks the head: then a leak's record says how its exchange ended.
                head.touch(this);
            }
            try {
                loop.observer().exchangeEnded(this);
            } catch (RuntimeException e) {
                // An observer (statistics, access log) must never cost the client its answer.
                if (!observerFailureLogged) {
                    observerFailureLogged = true;
                    log.error("an exchange observer failed; the exchange goes on (logged once)", e);
                }
            }
        }
    }

    // ---------------------------------------------------------------- request body, from the client

    /** Request content (without framing); framed here for the backend. Ownership passes here. */
    public void requestBody(ByteBuf data) {
        requestBodyBytes += data.readableBytes();
        if (state == State.DONE || state == State.ABORTED) {
            data.release(); // answered already (e.g. locally): the rest of the body goes nowhere
            return;
        }
        if (request.bodyKind == BodyKind.CHUNKED) {
            toUpstream(ChunkedEncoding.chunkHeader(client.alloc(), data.readableBytes()));
            toUpstream(data);
            toUpstream(ChunkedEncoding.chunkEnd());
        } else {
            toUpstream(data);
        }
    }

    /** The request is complete; {@code trailerFields} of a chunked body, or {@code null}. */
    public void requestEnd(ByteBuf trailerFields) {
        requestState = RequestState.COMPLETE;
        if (state == State.DONE || state == State.ABORTED || request.bodyKind != BodyKind.CHUNKED) {
            if (trailerFields != null) {
                trailerFields.release();
            }
        } else {
            toUpstream(ChunkedEncoding.lastChunk(client.alloc(), trailerFields));
        }
        flushRequest();
    }

    private void toUpstream(ByteBuf part) {
        Attempt a = attempt;
        if (a != null && a.isConnected()) {
            a.write(part);
            requestCommitted = true;
            upstreamNeedsFlush = true;
        } else {
            if (pendingBody == null) {
                pendingBody = new ArrayDeque<>();
            }
            pendingBody.add(part);
            pendingBytes += part.readableBytes();
        }
    }

    /**
     * Bytes from the client of a tunnel (after a {@code 101}), passed to the backend untouched; unflushed,
     * like request body parts. Ownership passes here.
     */
    public void tunnelData(ByteBuf data) {
        Attempt a = attempt;
        if (state != State.TUNNEL || a == null || !a.isConnected()) {
            data.release();
            return;
        }
        a.write(data);
        upstreamNeedsFlush = true;
    }

    /** The client half-closed a tunnel: the backend sees the end of input too. */
    public void tunnelInputEnded() {
        Attempt a = attempt;
        if (state == State.TUNNEL && a != null) {
            flushRequest();
            a.shutdownOutput();
        }
    }

    /** Flushes request bytes written since the last flush (the client side calls it after each read). */
    public void flushRequest() {
        if (upstreamNeedsFlush) {
            upstreamNeedsFlush = false;
            Attempt a = attempt;
            if (a != null && a.isConnected()) {
                a.flush();
            }
        }
    }

    /** Whether the client must stop sending request body bytes for now. */
    public boolean requestBodyBlocked() {
        Attempt a = attempt;
        return a != null && a.isConnected() ? a.isBlocked() : pendingBytes > MAX_PENDING_BODY;
    }

    /** The whole request has been handed to the backend connection. */
    boolean requestFullySent() {
        return requestState == RequestState.COMPLETE && (pendingBody == null || pendingBody.isEmpty());
    }

    /**
     * No more request bytes are to come: all were handed to the backend connection, or the client stopped sending
     * ({@link RequestState#ABANDONED}). From then on a backend that sends nothing is late (server_ms).
     */
    boolean requestOver() {
        return requestState == RequestState.ABANDONED || requestFullySent();
    }

    /** Whether the response has begun towards the client, or the proxy answered: the request's outcome is known. */
    public boolean responseBegun() {
        return state == State.RESPONDING || state == State.DONE;
    }

    /**
     * The client will send no more of the request body (it half-closed, or stalled), but the response has begun
     * ({@link #responseBegun}): RFC 9112 section 9.5 lets a client that sees a response before its body is sent cease
     * sending. The response goes on; it says {@code Connection: close} already, the request being incomplete when it
     * began. The backend connection is closed after it, never reused.
     */
    public void requestAbandoned() {
        if (requestState == RequestState.RECEIVING_BODY) {
            requestState = RequestState.ABANDONED;
        }
    }

    // ---------------------------------------------------------------- from the client side

    /** The client cannot take more response bytes now (or can again). */
    public void pauseResponse(boolean paused) {
        Attempt a = attempt;
        if (a != null) {
            a.pauseResponse(paused);
        }
    }

    /**
     * The request became void (its body was malformed, or the client stalled in it): the backend
     * connection is dropped before the request's end, so the backend never sees a complete request, and
     * the client gets {@code failStatus} if no response had started (otherwise the response is cut off).
     */
    public void fail(int failStatus) {
        switch (state) {
            case NEW, QUEUED, FORWARDING -> {
                leaveQueue();
                abandonAttempt();
                answer(failStatus);
            }
            case RESPONDING, TUNNEL -> {
                abandonAttempt();
                state = State.DONE;
                releasePendingBody();
                ended();
                client.abortResponse(failStatus);
            }
            default -> {
            }
        }
    }

    /**
     * The client sends nothing more: it half-closed its connection, which is how most clients that give up say so.
     * A request still waiting in its pool's queue gives up too (HAProxy's {@code abortonclose}): it leaves the queue
     * and is answered 503, having cost no server anything. A request already at a server goes on.
     */
    public void clientInputEnded() {
        if (state == State.QUEUED) {
            leaveQueue();
            answer(503);
        }
    }

    /** The client is gone: drop everything. Idempotent. */
    public void abort() {
        if (state == State.ABORTED) {
            return;
        }
        leaveQueue();
        abandonAttempt();
        state = State.ABORTED;
        ended();
        release();
    }

    private void abandonAttempt() {
        Attempt a = attempt;
        if (a != null) {
            a.abandon();
        }
    }

    /** For leak records and debugging: the request (its path when routing read it), where the response stands, the attempt. */
    @Override
    public String toString() {
        Attempt a = attempt;
        return "exchange " + request.method + (request.routingPath == null ? "" : " " + request.routingPath) + " "
                + state + " " + status
                + (a == null ? "" : " on " + a.server() + " (attempt " + a.state() + ")");
    }

    /** Frees what the exchange still owns; called by the client side once the response is delivered. */
    public void release() {
        releaseGzip();
        if (request.upstreamHead != null) {
            request.upstreamHead.release();
            request.upstreamHead = null;
        }
        releasePendingBody();
    }

    private void releaseGzip() {
        GzipEncoder g = gzip;
        if (g != null) {
            gzip = null;
            g.release();
        }
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
}
