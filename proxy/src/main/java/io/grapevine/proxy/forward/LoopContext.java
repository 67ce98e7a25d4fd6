package io.grapevine.proxy.forward;

import io.grapevine.proxy.config.Limits;
import io.grapevine.proxy.config.Timeouts;
import io.grapevine.proxy.http.RequestHeadParser;
import io.grapevine.proxy.http.RequestIdGenerator;
import io.grapevine.proxy.http.ResponseHeadParser;
import io.grapevine.proxy.pool.UpstreamPool;
import io.grapevine.proxy.table.Server;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * Everything one event loop owns: its upstream pools (per server), its parsers (scratch space reused by
 * every request), its upstream bootstrap, and the connections whose deadlines it sweeps.
 *
 * <p>Thread confinement: every method runs on {@link #eventLoop()}, except {@link #serversRemoved},
 * which hands its work to the loop. So nothing here needs a lock.
 */
public final class LoopContext {

    private final int index;
    private final EventLoop eventLoop;
    private final ProxyRuntime runtime;
    final RequestHeadParser requestParser;
    final ResponseHeadParser responseParser;
    final Bootstrap bootstrap;
    private final Map<Server, UpstreamPool<UpstreamConnection>> pools = new IdentityHashMap<>();
    private final Set<FrontendHandler> frontends = Collections.newSetFromMap(new IdentityHashMap<>());
    private final Set<UpstreamConnection> upstreams = Collections.newSetFromMap(new IdentityHashMap<>());
    private final int maxIdlePerServer;
    private final long upstreamIdleNanos;
    private final long sweepMillis;

    LoopContext(int index, EventLoop eventLoop, ProxyRuntime runtime) {
        this.index = index;
        this.eventLoop = eventLoop;
        this.runtime = runtime;
        Limits limits = runtime.config().limits();
        Timeouts t = runtime.config().timeouts();
        this.requestParser = new RequestHeadParser(limits.maxHeaderCount(), false, new RequestIdGenerator());
        this.responseParser = new ResponseHeadParser(limits.maxHeaderCount());
        this.maxIdlePerServer = limits.maxIdlePerServer();
        this.upstreamIdleNanos = TimeUnit.MILLISECONDS.toNanos(t.upstreamIdleMillis());
        long shortest = Math.min(Math.min(t.clientHeaderMillis(), t.clientIdleMillis()),
                Math.min(t.serverMillis(), t.upstreamIdleMillis()));
        // Deadlines are enforced by a sweep, not by one timer per request: resolution is a tenth of the
        // shortest timeout, between 10 ms and 500 ms.
        this.sweepMillis = Math.max(10, Math.min(500, shortest / 10));
        this.bootstrap = new Bootstrap().group(eventLoop).channel(runtime.transport().socketChannel())
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.SO_KEEPALIVE, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, t.connectMillis()));
    }

    public int index() {
        return index;
    }

    public EventLoop eventLoop() {
        return eventLoop;
    }

    ProxyRuntime runtime() {
        return runtime;
    }

    void start() {
        eventLoop.scheduleWithFixedDelay(this::sweep, sweepMillis, sweepMillis, TimeUnit.MILLISECONDS);
    }

    /** The pool of {@code server} on this loop, or {@code null} when the server has left the table. */
    UpstreamPool<UpstreamConnection> pool(Server server) {
        UpstreamPool<UpstreamConnection> pool = pools.get(server);
        if (pool == null && !server.isRemoved()) {
            pool = new UpstreamPool<>(maxIdlePerServer);
            pools.put(server, pool);
        }
        return pool;
    }

    UpstreamPool<UpstreamConnection> existingPool(Server server) {
        return pools.get(server);
    }

    void register(FrontendHandler frontend) {
        frontends.add(frontend);
    }

    void unregister(FrontendHandler frontend) {
        frontends.remove(frontend);
    }

    void register(UpstreamConnection upstream) {
        upstreams.add(upstream);
    }

    void unregister(UpstreamConnection upstream) {
        upstreams.remove(upstream);
    }

    /** Any thread: servers left the table; their idle connections close, busy ones close when released. */
    void serversRemoved(List<Server> removed) {
        eventLoop.execute(() -> {
            for (Server s : removed) {
                UpstreamPool<UpstreamConnection> pool = pools.remove(s);
                if (pool != null) {
                    pool.close();
                }
            }
        });
    }

    /** Any thread: start a graceful drain of every client connection of this loop. */
    public void drain() {
        eventLoop.execute(() -> new ArrayList<>(frontends).forEach(FrontendHandler::beginDrain));
    }

    int clientConnections() {
        return frontends.size();
    }

    /** What this loop holds now; runs on the loop (see {@link ProxyRuntime#census}). */
    ProxyRuntime.Census census() {
        int poolsOfRemoved = 0;
        for (Server s : pools.keySet()) {
            if (s.isRemoved()) {
                poolsOfRemoved++;
            }
        }
        int toRemoved = 0;
        for (UpstreamConnection u : upstreams) {
            if (u.server().isRemoved()) {
                toRemoved++;
            }
        }
        return new ProxyRuntime.Census(pools.size(), poolsOfRemoved, idleUpstreamConnections(), upstreams.size(),
                toRemoved, frontends.size());
    }

    int upstreamConnections() {
        return upstreams.size();
    }

    int idleUpstreamConnections() {
        int n = 0;
        for (UpstreamPool<UpstreamConnection> p : pools.values()) {
            n += p.idleCount();
        }
        return n;
    }

    private void sweep() {
        long now = System.nanoTime();
        if (!frontends.isEmpty()) {
            for (FrontendHandler f : frontends.toArray(new FrontendHandler[0])) {
                f.checkDeadlines(now);
            }
        }
        if (!upstreams.isEmpty()) {
            for (UpstreamConnection u : upstreams.toArray(new UpstreamConnection[0])) {
                u.checkDeadlines(now);
            }
        }
        for (UpstreamPool<UpstreamConnection> p : pools.values()) {
            p.closeIdleOlderThan(now, upstreamIdleNanos);
        }
    }
}
