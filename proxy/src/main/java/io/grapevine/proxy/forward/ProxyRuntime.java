package io.grapevine.proxy.forward;

import io.grapevine.proxy.config.ProxyConfig;
import io.grapevine.proxy.net.Transport;
import io.grapevine.proxy.stats.ProxyStats;
import io.grapevine.proxy.table.TableHolder;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.EventExecutor;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * What every connection handler shares: configuration, the table, counters, and the per-event-loop
 * resources. Built once at start; the loop map is read-only afterwards, so lookups need no lock.
 */
public final class ProxyRuntime {

    /**
     * What the event loops hold at one moment, summed over all loops (admin pages, tests).
     *
     * @param pools                   upstream pools (one per server per loop that has talked to it)
     * @param poolsOfRemovedServers   pools still kept for servers that left the table (briefly, until the
     *                                loop has run the removal)
     * @param idleConnections         pooled idle backend connections
     * @param upstreamConnections     open backend connections, idle or busy
     * @param connectionsToRemoved    open backend connections to servers that left the table (busy ones
     *                                finishing their exchange)
     * @param clientConnections       open client connections
     */
    public record Census(int pools, int poolsOfRemovedServers, int idleConnections, int upstreamConnections,
                         int connectionsToRemoved, int clientConnections) {

        Census plus(Census o) {
            return new Census(pools + o.pools, poolsOfRemovedServers + o.poolsOfRemovedServers,
                    idleConnections + o.idleConnections, upstreamConnections + o.upstreamConnections,
                    connectionsToRemoved + o.connectionsToRemoved, clientConnections + o.clientConnections);
        }
    }

    private final ProxyConfig config;
    private final TableHolder tables;
    private final ProxyStats stats = new ProxyStats();
    private final Transport transport;
    private final Map<EventExecutor, LoopContext> loops;
    private final List<LoopContext> loopList;

    public ProxyRuntime(ProxyConfig config, TableHolder tables, Transport transport, EventLoopGroup workers) {
        this.config = config;
        this.tables = tables;
        this.transport = transport;
        Map<EventExecutor, LoopContext> map = new IdentityHashMap<>();
        List<LoopContext> list = new ArrayList<>();
        int index = 0;
        for (EventExecutor executor : workers) {
            LoopContext loop = new LoopContext(index++, (EventLoop) executor, this);
            map.put(executor, loop);
            list.add(loop);
        }
        this.loops = Collections.unmodifiableMap(map);
        this.loopList = List.copyOf(list);
        tables.onServersRemoved(removed -> loopList.forEach(l -> l.serversRemoved(removed)));
        loopList.forEach(LoopContext::start);
    }

    public ProxyConfig config() {
        return config;
    }

    public TableHolder tables() {
        return tables;
    }

    public ProxyStats stats() {
        return stats;
    }

    public Transport transport() {
        return transport;
    }

    LoopContext loopOf(EventLoop eventLoop) {
        return loops.get(eventLoop);
    }

    public List<LoopContext> loops() {
        return loopList;
    }

    /**
     * Counts pools and connections by asking each event loop on its own thread (their state is
     * loop-confined) and summing. Off the data path; blocks the caller, so never call it from an event loop.
     *
     * @throws IllegalStateException when a loop does not answer within {@code timeoutMillis}
     */
    public Census census(long timeoutMillis) throws InterruptedException {
        Census total = new Census(0, 0, 0, 0, 0, 0);
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        for (LoopContext loop : loopList) {
            try {
                total = total.plus(loop.eventLoop().submit(loop::census)
                        .get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS));
            } catch (ExecutionException | TimeoutException e) {
                throw new IllegalStateException("event loop " + loop.index() + " did not report its census", e);
            }
        }
        return total;
    }

    /** Number of event loops: balancers are created per loop. */
    public static int loopCount(EventLoopGroup workers) {
        int n = 0;
        for (EventExecutor ignored : workers) {
            n++;
        }
        return n;
    }
}
