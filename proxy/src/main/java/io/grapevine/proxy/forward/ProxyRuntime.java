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

/**
 * What every connection handler shares: configuration, the table, counters, and the per-event-loop
 * resources. Built once at start; the loop map is read-only afterwards, so lookups need no lock.
 */
public final class ProxyRuntime {

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

    /** Number of event loops: balancers are created per loop. */
    public static int loopCount(EventLoopGroup workers) {
        int n = 0;
        for (EventExecutor ignored : workers) {
            n++;
        }
        return n;
    }
}
