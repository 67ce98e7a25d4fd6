package io.grapevine.proxy.forward;

import io.grapevine.proxy.config.HealthCheckConfig;
import io.grapevine.proxy.config.Limits;
import io.grapevine.proxy.config.ProxyConfig;
import io.grapevine.proxy.config.Timeouts;
import io.grapevine.proxy.http.RequestHeadParser;
import io.grapevine.proxy.http.RequestIdGenerator;
import io.grapevine.proxy.http.ResponseHeadParser;
import io.grapevine.proxy.net.SocketShortage;
import io.grapevine.proxy.stats.ProxyStats;
import io.grapevine.proxy.table.PoolState;
import io.grapevine.proxy.table.Server;
import io.grapevine.proxy.table.TableHolder;
import io.netty.channel.Channel;
import io.netty.channel.EventLoop;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Everything one event loop owns: its idle backend connections (per server), its parsers (scratch space
 * reused by every request), its dialer, and the connections whose deadlines it sweeps; and what every
 * connection of the loop reads: the configuration, the table holder, the counters.
 *
 * <p>Thread confinement: every method runs on {@link #eventLoop()}, except {@link #serversRemoved} and
 * {@link #drain}, which hand their work to the loop. So nothing here needs a lock.
 */
public final class LoopContext {

    private static final Logger log = LoggerFactory.getLogger(LoopContext.class);

    private final int index;
    private final EventLoop eventLoop;
    private final ProxyConfig config;
    private final TableHolder tables;
    private final ProxyStats stats;
    private final Dialer dialer;
    private final SocketShortage socketShortage;
    private volatile ExchangeObserver observer = ExchangeObserver.NONE;
    private final RetryPolicy retryPolicy;
    private final RequestHeadParser requestParser;
    private final ResponseHeadParser responseParser;
    /**
     * Idle connections by {@link IdleKey}: the server itself, or a server and one client's addresses. A server's
     * shared list is also in its {@link Server#loopState} slot for this loop, where requests look it up.
     */
    private final Map<Object, IdleConnections<UpstreamConnection>> idleByKey = new HashMap<>();
    /**
     * The one-client keys of {@link #idleByKey} by client address: such connections speak for their client alone (its
     * PROXY protocol header), so they close with it, as HAProxy's private connections end with their session.
     */
    private final Map<InetSocketAddress, List<IdleKey>> clientIdleKeys = new HashMap<>();
    private final Set<ClientConnection> clients = Collections.newSetFromMap(new IdentityHashMap<>());
    /** Set on the loop by {@link #endKeepAlive}: connections registered later close after their next response. */
    private boolean keepAliveEnded;
    private final Set<UpstreamConnection> upstreams = Collections.newSetFromMap(new IdentityHashMap<>());
    /** This loop's retry budget of each pool, by {@link PoolState#id()}; grown as pools appear. */
    private RetryBudget[] retryBudgets = new RetryBudget[4];
    private final long upstreamIdleNanos;
    private final long sweepMillis;
    private final MemoryPressure memoryPressure;
    private final Compressors compressors;
    /** The HTTPS port plaintext requests are redirected to ({@code tls.redirect_http}); 0: none are. */
    private final int httpsRedirectPort;

    public LoopContext(int index, EventLoop eventLoop, ProxyConfig config, TableHolder tables, ProxyStats stats,
                       Dialer dialer) {
        this(index, eventLoop, config, tables, stats, dialer, backendShortage(SocketShortage.QUIET_NANOS));
    }

    /**
     * @param socketShortage the backend connects' shortage of descriptors, one for every loop of the proxy (see
     *                           {@link #backendShortage})
     */
    public LoopContext(int index, EventLoop eventLoop, ProxyConfig config, TableHolder tables, ProxyStats stats,
                       Dialer dialer, SocketShortage socketShortage) {
        this(index, eventLoop, config, tables, stats, dialer, socketShortage, MemoryPressure.ofThisProcess());
    }

    /**
     * @param socketShortage the backend connects' shortage of descriptors, one for every loop of the proxy (see
     *                           {@link #backendShortage})
     * @param memoryPressure the direct memory's, one for every loop of the proxy
     */
    public LoopContext(int index, EventLoop eventLoop, ProxyConfig config, TableHolder tables, ProxyStats stats,
                       Dialer dialer, SocketShortage socketShortage, MemoryPressure memoryPressure) {
        this.index = index;
        this.memoryPressure = memoryPressure;
        this.socketShortage = socketShortage;
        this.eventLoop = eventLoop;
        this.config = config;
        this.tables = tables;
        this.stats = stats;
        this.dialer = dialer;
        Limits limits = config.limits();
        Timeouts t = config.timeouts();
        this.retryPolicy = new RetryPolicy(limits.retries());
        this.requestParser = new RequestHeadParser(limits.maxHeaderCount(), false, new RequestIdGenerator());
        this.responseParser = new ResponseHeadParser(limits.maxHeaderCount());
        this.compressors = new Compressors(Compressors.shareOf(limits.maxCompressing(), tables.loopCount()), stats);
        this.httpsRedirectPort = config.tls() == null ? 0 : config.tls().redirectPort();
        this.upstreamIdleNanos = TimeUnit.MILLISECONDS.toNanos(t.upstreamIdleMillis());
        long shortest = Math.min(Math.min(t.clientHeaderMillis(), t.clientIdleMillis()),
                Math.min(t.serverMillis(), t.upstreamIdleMillis()));
        // Deadlines are enforced by a sweep, not by one timer per request: resolution is a tenth of the
        // shortest timeout, between 10 ms and 500 ms.
        this.sweepMillis = Math.max(10, Math.min(500, shortest / 10));
    }

    /** The HTTPS port requests on plaintext connections are redirected to ({@code tls.redirect_http}), or 0. */
    public int httpsRedirectPort() {
        return httpsRedirectPort;
    }

    /** This loop's gzip compressors. */
    Compressors compressors() {
        return compressors;
    }

    /** Responses this loop is compressing now (each holds one of its zlib streams). */
    public int compressorsInUse() {
        return compressors.inUse();
    }

    public int index() {
        return index;
    }

    public EventLoop eventLoop() {
        return eventLoop;
    }

    public ProxyConfig config() {
        return config;
    }

    public Limits limits() {
        return config.limits();
    }

    public Timeouts timeouts() {
        return config.timeouts();
    }

    HealthCheckConfig healthCheck() {
        return config.healthCheck();
    }

    public TableHolder tables() {
        return tables;
    }

    public ProxyStats stats() {
        return stats;
    }

    Dialer dialer() {
        return dialer;
    }

    /**
     * Backend connects that could not open a socket for a reason of the proxy's own (no descriptor, no local port), on
     * every loop of the proxy.
     */
    SocketShortage socketShortage() {
        return socketShortage;
    }

    /**
     * What a proxy's loops share of their backend connects' shortage of descriptors: logged (by this class's logger)
     * once when it starts and once when it ends, whichever loops see it.
     *
     * @param quietNanos see {@link SocketShortage#QUIET_NANOS}
     */
    public static SocketShortage backendShortage(long quietNanos) {
        return new SocketShortage(log, "Backend connects",
                "Requests that need a new backend connection are answered 503 at once, neither retried nor counted"
                        + " against their servers, until sockets can be opened again.", quietNanos);
    }

    ExchangeObserver observer() {
        return observer;
    }

    /** Adds an observer of every exchange of this loop; set up before traffic (any thread). */
    public synchronized void addObserver(ExchangeObserver o) {
        observer = observer.andThen(o);
    }

    RetryPolicy retryPolicy() {
        return retryPolicy;
    }

    /**
     * This loop's retry budget for {@code pool} (see {@link RetryBudget}): the pool's {@code retry_budget_min_per_s}
     * is shared out evenly among the event loops.
     */
    RetryBudget retryBudget(PoolState pool, long nowNanos) {
        int id = pool.id();
        if (id >= retryBudgets.length) {
            retryBudgets = Arrays.copyOf(retryBudgets, Math.max(id + 1, retryBudgets.length * 2));
        }
        RetryBudget b = retryBudgets[id];
        if (b == null) {
            Limits limits = config.limits();
            b = new RetryBudget(limits.retryBudgetPercent(),
                    limits.retryBudgetMinPerSecond() / (double) Math.max(1, tables.loopCount()), nowNanos);
            retryBudgets[id] = b;
        }
        return b;
    }

    /** The loop's request head parser; scratch state, so use it only to parse one head at a time. */
    public RequestHeadParser requestParser() {
        return requestParser;
    }

    ResponseHeadParser responseParser() {
        return responseParser;
    }

    /**
     * A connection whose deadlines could not be checked is in a state nothing foresaw: it is closed, so that it holds
     * nothing forever, and the sweep goes on with the others. The sweep is a periodic task of the loop, which one
     * exception would end for good: no connection of the loop would ever time out again.
     */
    private static void closeUnchecked(Channel channel, RuntimeException e) {
        log.error("Closing {}: its deadlines could not be checked", channel, e);
        channel.close();
    }

    /** Starts the deadline sweep. */
    void start() {
        eventLoop.scheduleWithFixedDelay(this::sweep, sweepMillis, sweepMillis, TimeUnit.MILLISECONDS);
    }

    // ---------------------------------------------------------------- idle backend connections

    /** An idle connection under {@code key} (see {@link IdleKey}) idle for less than {@code maxIdleNanos}, or null. */
    UpstreamConnection acquireIdle(Object key, long nowNanos, long maxIdleNanos) {
        IdleConnections<UpstreamConnection> idle = idleList(key);
        if (idle == null) {
            return null;
        }
        UpstreamConnection c = idle.acquire(nowNanos, maxIdleNanos);
        if (idle.size() == 0 && key instanceof IdleKey k) {
            idleByKey.remove(key); // one client's list: do not keep it around empty
            forgetClientKey(k);
        }
        return c;
    }

    /** @return false when the connection cannot be kept (its server left, or the list is full) */
    boolean releaseIdle(Object key, UpstreamConnection c) {
        IdleConnections<UpstreamConnection> idle = idleList(key);
        if (idle == null) {
            Server server = IdleKey.serverOf(key);
            if (server.isRemoved()) {
                return false;
            }
            idle = new IdleConnections<>(config.limits().maxIdlePerServer());
            idleByKey.put(key, idle);
            if (key == server) {
                server.setLoopState(index, idle);
            } else {
                IdleKey k = (IdleKey) key;
                clientIdleKeys.computeIfAbsent(k.source(), s -> new ArrayList<>(1)).add(k);
            }
        }
        return idle.release(c);
    }

    /**
     * The idle list under {@code key}, or null. A server's shared list is in the server's slot for this loop as
     * well as in {@link #idleByKey} (which the sweep and the census walk): the lookup on every request is an
     * array load, not a hash lookup.
     */
    @SuppressWarnings("unchecked")
    private IdleConnections<UpstreamConnection> idleList(Object key) {
        return key instanceof Server server ? (IdleConnections<UpstreamConnection>) server.loopState(index)
                : idleByKey.get(key);
    }

    /**
     * Forgets a connection that closed while idle. An emptied list of one client stays until the next sweep:
     * this may run while the sweep walks the lists.
     */
    void forgetIdle(Object key, UpstreamConnection c) {
        IdleConnections<UpstreamConnection> idle = idleList(key);
        if (idle != null) {
            idle.remove(c);
        }
    }

    // ---------------------------------------------------------------- registrations

    public void register(ClientConnection c) {
        clients.add(c);
        if (keepAliveEnded) {
            c.closeAfterNextResponse();
        }
    }

    public void unregister(ClientConnection c) {
        clients.remove(c);
        if (!clientIdleKeys.isEmpty()) {
            closeIdleOf(c);
        }
    }

    /** The client {@code c} closed: its own idle backend connections (see {@link IdleKey}) close too. */
    private void closeIdleOf(ClientConnection c) {
        InetSocketAddress source = c.clientInet();
        List<IdleKey> keys = source == null ? null : clientIdleKeys.remove(source);
        if (keys == null) {
            return;
        }
        InetSocketAddress destination = c.destinationInet();
        List<IdleKey> others = null;
        for (IdleKey k : keys) {
            if (java.util.Objects.equals(k.destination(), destination)) {
                IdleConnections<UpstreamConnection> idle = idleByKey.remove(k);
                if (idle != null) {
                    idle.close();
                }
            } else {
                if (others == null) {
                    others = new ArrayList<>(1);
                }
                others.add(k);
            }
        }
        if (others != null) {
            clientIdleKeys.put(source, others);
        }
    }

    /** {@code k}'s list left {@link #idleByKey}. */
    private void forgetClientKey(IdleKey k) {
        List<IdleKey> keys = clientIdleKeys.get(k.source());
        if (keys != null && keys.remove(k) && keys.isEmpty()) {
            clientIdleKeys.remove(k.source());
        }
    }

    void register(UpstreamConnection c) {
        upstreams.add(c);
    }

    void unregister(UpstreamConnection c) {
        upstreams.remove(c);
    }

    /** Any thread: servers left the table; their idle connections close, busy ones close when released. */
    void serversRemoved(List<Server> removed) {
        eventLoop.execute(() -> {
            java.util.Set<Server> gone = Collections.newSetFromMap(new IdentityHashMap<>());
            gone.addAll(removed);
            for (java.util.Iterator<Map.Entry<Object, IdleConnections<UpstreamConnection>>> it =
                    idleByKey.entrySet().iterator(); it.hasNext(); ) {
                Map.Entry<Object, IdleConnections<UpstreamConnection>> e = it.next();
                Server server = IdleKey.serverOf(e.getKey());
                if (gone.contains(server)) {
                    it.remove();
                    if (e.getKey() == server) {
                        server.setLoopState(index, null);
                    } else {
                        forgetClientKey((IdleKey) e.getKey());
                    }
                    e.getValue().close();
                }
            }
        });
    }

    /**
     * Any thread: every client connection of this loop, and every one it registers from now on, closes after its
     * next response ({@link ClientConnection#closeAfterNextResponse}).
     */
    public void endKeepAlive() {
        eventLoop.execute(() -> {
            keepAliveEnded = true;
            new ArrayList<>(clients).forEach(ClientConnection::closeAfterNextResponse);
        });
    }

    /**
     * The proxy stops: every client and backend connection of this loop closes at once, on the loop; what is in
     * flight is abandoned as when its client goes away (each exchange aborted, its buffers released). Closed here
     * rather than left to the loop's shutdown, because Netty (4.2.18) closes a loop's channels at shutdown only when
     * the loop notices the shutdown between its I/O and its tasks: a shutdown that begins while the loop runs its
     * tasks ends the loop with its channels still open, their sockets never closed and their exchanges never
     * released. The clients' channels close as Netty's own shutdown closes them, without their handlers' goodbyes
     * (a TLS close_notify, an HTTP/2 GOAWAY and the wait for open streams): the grace for those is
     * {@link DataPlane#drain}'s.
     */
    void closeAll() {
        for (ClientConnection c : clients.toArray(new ClientConnection[0])) {
            Channel ch = c.channel();
            if (ch != null) {
                ch.unsafe().close(ch.unsafe().voidPromise());
            }
        }
        for (UpstreamConnection u : upstreams.toArray(new UpstreamConnection[0])) {
            u.close();
        }
        compressors.close();
    }

    /** Any thread: starts a graceful drain of every client connection of this loop. */
    public void drain() {
        eventLoop.execute(() -> new ArrayList<>(clients).forEach(ClientConnection::beginDrain));
    }

    /** What this loop holds now; runs on the loop (see {@link DataPlane#census}). */
    DataPlane.Census census() {
        int ofRemoved = 0;
        int idleCount = 0;
        for (Map.Entry<Object, IdleConnections<UpstreamConnection>> e : idleByKey.entrySet()) {
            idleCount += e.getValue().size();
            if (IdleKey.serverOf(e.getKey()).isRemoved()) {
                ofRemoved++;
            }
        }
        int toRemoved = 0;
        for (UpstreamConnection u : upstreams) {
            if (u.server().isRemoved()) {
                toRemoved++;
            }
        }
        return new DataPlane.Census(idleByKey.size(), ofRemoved, idleCount, upstreams.size(), toRemoved,
                clients.size());
    }

    /** Idle backend connections of this loop; on the loop. */
    public int idleConnections() {
        int n = 0;
        for (IdleConnections<UpstreamConnection> idle : idleByKey.values()) {
            n += idle.size();
        }
        return n;
    }

    /**
     * Direct memory is near its limit: closes this loop's client connections that have taken too little for a while,
     * and of the others resets the HTTP/2 streams whose responses waited for a window that long (see
     * {@link MemoryPressure}); their responses are cut off, their backend connections closed and their buffers
     * released.
     */
    private void shedStalledClients(long now) {
        int connections = 0;
        int streams = 0;
        for (ClientConnection c : clients.toArray(new ClientConnection[0])) {
            if (MemoryPressure.isShed(c.stalledSinceNanos(), now)) {
                connections += c.abort() ? 1 : 0;
            } else {
                streams += c.shedStalledStreams(now);
            }
        }
        if (connections + streams > 0) {
            memoryPressure.shed(connections, streams, stats, now);
        }
    }

    /** One pass of deadline enforcement; the loop runs it every {@code sweepMillis} (tests call it directly). */
    public void sweep() {
        long now = System.nanoTime();
        if (!clients.isEmpty() && memoryPressure.isHigh()) {
            shedStalledClients(now);
        }
        if (!clients.isEmpty()) {
            for (ClientConnection c : clients.toArray(new ClientConnection[0])) {
                try {
                    c.checkDeadlines(now);
                } catch (RuntimeException e) {
                    unregister(c);
                    closeUnchecked(c.channel(), e);
                }
            }
        }
        if (!upstreams.isEmpty()) {
            for (UpstreamConnection u : upstreams.toArray(new UpstreamConnection[0])) {
                try {
                    u.checkDeadlines(now);
                } catch (RuntimeException e) {
                    unregister(u);
                    closeUnchecked(u.channel(), e);
                }
            }
        }
        for (java.util.Iterator<Map.Entry<Object, IdleConnections<UpstreamConnection>>> it =
                idleByKey.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<Object, IdleConnections<UpstreamConnection>> e = it.next();
            e.getValue().closeIdleOlderThan(now, upstreamIdleNanos);
            if (e.getValue().size() == 0 && e.getKey() instanceof IdleKey k) {
                it.remove();
                forgetClientKey(k);
            }
        }
    }
}
