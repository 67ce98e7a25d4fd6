package io.grapevine.proxy.table;

import io.grapevine.cluster.HostAndPort;
import io.grapevine.proxy.config.Balance;
import io.grapevine.proxy.config.RouteSpec;
import io.grapevine.proxy.config.ServerSpec;
import io.grapevine.proxy.stats.EventLog;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Holds the current {@link BackendTable} and publishes new generations.
 *
 * <p>Event loops call {@link #current()} (one volatile read) per request. {@link #publish} runs on
 * whichever thread has a new server list (start-up, config reload, membership view); publications are
 * serialized by a lock that the data path never takes. A publication that changes nothing creates no
 * generation. Servers present before and after keep their {@link Server} object; removed servers are
 * marked removed (so no new request picks them and their pooled connections close when released) and
 * handed to the removal listeners.
 */
public final class TableHolder {

    private static final Logger log = LoggerFactory.getLogger(TableHolder.class);
    /** Events the timeline keeps. */
    static final int EVENTS_KEPT = 500;

    private final int loopCount;
    /** Routing settings of the next generations; guarded by {@code this}. */
    private List<RouteSpec> routes;
    private Function<String, Balance> balanceOfPool;
    private final List<Consumer<List<Server>>> removalListeners = new CopyOnWriteArrayList<>();
    /** Servers added to and removed from the table, for the stats page's timeline (and more, from others). */
    private final EventLog events = new EventLog(EVENTS_KEPT);
    private volatile BackendTable current;

    public TableHolder(int loopCount, List<RouteSpec> routes, Function<String, Balance> balanceOfPool) {
        this.loopCount = loopCount;
        this.routes = List.copyOf(routes);
        this.balanceOfPool = balanceOfPool;
        this.current = build(0, List.of(), Map.of());
    }

    /** The table in force. Lock-free; any thread. */
    public BackendTable current() {
        return current;
    }

    /** The recent events of the table and its servers; any thread may add to it. */
    public EventLog events() {
        return events;
    }

    /** Called with the servers removed by each new generation, on the publishing thread. */
    public void onServersRemoved(Consumer<List<Server>> listener) {
        removalListeners.add(listener);
    }

    /**
     * Makes {@code specs} the table, reusing the identity of every server whose key survives.
     *
     * @param reason a few words for the log line ("static config", "gossip: web-3 joined", ...)
     * @return the table in force afterwards (the same object when nothing changed)
     */
    public synchronized BackendTable publish(List<ServerSpec> specs, String reason) {
        return publish(specs, routes, balanceOfPool, reason);
    }

    /**
     * Like {@link #publish(List, String)}, with new routes and pool algorithms (a reloaded servers.conf).
     * A change of routes alone makes a new generation too.
     */
    public synchronized BackendTable publish(List<ServerSpec> specs, List<RouteSpec> newRoutes,
                                             Function<String, Balance> newBalanceOfPool, String reason) {
        boolean routingChanged = !routes.equals(newRoutes) || !samePoolBalances(specs, newBalanceOfPool);
        routes = List.copyOf(newRoutes);
        balanceOfPool = newBalanceOfPool;
        BackendTable old = current;
        Map<String, Server> oldByKey = old.serversByKey();
        Map<String, ServerSpec> wanted = new LinkedHashMap<>();
        for (ServerSpec spec : specs) {
            wanted.putIfAbsent(spec.key(), spec); // the first of two specs with one key wins
        }
        List<String> added = new ArrayList<>();
        List<String> changed = new ArrayList<>();
        for (ServerSpec spec : wanted.values()) {
            Server existing = oldByKey.get(spec.key());
            if (existing == null) {
                String address = HostAndPort.format(spec.host(), spec.port());
                added.add(spec.name() + (spec.name().contains(address) ? "" : " " + address) + describePool(spec));
            } else if (!existing.spec().equals(spec)) {
                changed.add(describeChange(existing.spec(), spec));
            }
        }
        List<Server> removed = new ArrayList<>();
        for (Server s : old.servers()) { // table order, so the log line and listeners see a stable order
            if (!wanted.containsKey(s.key())) {
                removed.add(s);
            }
        }
        if (added.isEmpty() && changed.isEmpty() && removed.isEmpty() && !routingChanged) {
            log.debug("table generation {} unchanged ({})", old.generation(), reason);
            return old;
        }
        Map<String, Server> servers = new LinkedHashMap<>();
        for (ServerSpec spec : wanted.values()) {
            Server s = oldByKey.get(spec.key());
            if (s == null) {
                s = new Server(spec, new InetSocketAddress(spec.host(), spec.port()));
            } else {
                s.updateSpec(spec);
            }
            servers.put(spec.key(), s);
        }
        for (Server s : removed) {
            s.markRemoved();
        }
        BackendTable table = build(old.generation() + 1, new ArrayList<>(servers.values()), servers);
        current = table;
        log.info("table generation {} ({}): {} servers; added {}; removed {}; changed {}{}", table.generation(),
                reason, table.servers().size(), added, removed.stream().map(Server::name).toList(), changed,
                routingChanged ? "; routes or pool algorithms changed" : "");
        for (ServerSpec spec : wanted.values()) {
            if (!oldByKey.containsKey(spec.key())) {
                events.add("add", spec.name(), spec.pool(), "added to the table (" + spec.source().name().toLowerCase()
                        + ", " + HostAndPort.format(spec.host(), spec.port()) + ", weight " + spec.weight()
                        + (spec.backup() ? ", backup" : "") + "): " + reason);
            }
        }
        for (Server s : removed) {
            events.add("remove", s.name(), s.spec().pool(), "removed from the table: " + reason);
        }
        if (!removed.isEmpty()) {
            for (Consumer<List<Server>> l : removalListeners) {
                l.accept(removed);
            }
        }
        return table;
    }

    private BackendTable build(long generation, List<Server> servers, Map<String, Server> byKey) {
        Map<String, List<Server>> byPool = new LinkedHashMap<>();
        for (Server s : servers) {
            byPool.computeIfAbsent(s.spec().pool(), k -> new ArrayList<>()).add(s);
        }
        Map<String, ServerPool> pools = new LinkedHashMap<>();
        byPool.forEach((name, list) -> pools.put(name, new ServerPool(name, balanceOfPool.apply(name), list, loopCount)));
        return new BackendTable(generation, servers, byKey, pools, routes);
    }

    private boolean samePoolBalances(List<ServerSpec> specs, Function<String, Balance> newBalanceOfPool) {
        for (ServerPool pool : current.pools().values()) {
            if (pool.balance() != newBalanceOfPool.apply(pool.name())) {
                return false;
            }
        }
        for (ServerSpec spec : specs) {
            if (balanceOfPool.apply(spec.pool()) != newBalanceOfPool.apply(spec.pool())) {
                return false;
            }
        }
        return true;
    }

    private static String describePool(ServerSpec spec) {
        return ServerSpec.DEFAULT_POOL.equals(spec.pool()) ? "" : " pool " + spec.pool();
    }

    private static String describeChange(ServerSpec before, ServerSpec after) {
        StringBuilder sb = new StringBuilder(after.name());
        if (before.state() != after.state()) {
            sb.append(" state ").append(before.state().name().toLowerCase()).append("->")
                    .append(after.state().name().toLowerCase());
        }
        if (before.weight() != after.weight()) {
            sb.append(" weight ").append(before.weight()).append("->").append(after.weight());
        }
        if (before.backup() != after.backup()) {
            sb.append(" backup ").append(after.backup());
        }
        if (!before.name().equals(after.name())) {
            sb.append(" renamed from ").append(before.name());
        }
        if (before.source() != after.source()) {
            sb.append(" source ").append(after.source().name().toLowerCase());
        }
        return sb.toString();
    }
}
