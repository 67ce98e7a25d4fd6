package io.grapevine.proxy.table;

import io.grapevine.cluster.HostAndPort;
import io.grapevine.proxy.config.HostPort;
import io.grapevine.proxy.config.PoolPolicy;
import io.grapevine.proxy.config.RouteSpec;
import io.grapevine.proxy.config.ServerSpec;
import io.grapevine.proxy.stats.EventLog;
import io.grapevine.proxy.stats.History;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Function;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.util.function.UnaryOperator;
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
 *
 * <p>Each server's sticky-session id is an HMAC-SHA256 of its key under the holder's secret: opaque to clients,
 * stable for as long as the server is in the table, and the same on every proxy given the same secret.
 *
 * <p>Runtime overrides (the admin API's state and weight, {@link RuntimeOverride}) are kept here by server
 * key, outside every generation: a server gets its override back in each new generation, and when it
 * leaves the table and comes back later (a member that restarts, a line taken out of servers.conf and put
 * back), until the operator sets it back.
 */
public final class TableHolder {

    private static final Logger log = LoggerFactory.getLogger(TableHolder.class);
    /** Events the timeline keeps. */
    static final int EVENTS_KEPT = 500;
    /** Servers a swap's log line names in each of its lists (added, removed, changed); the rest are counted. */
    static final int LOGGED_PER_LIST = 20;

    private final int loopCount;
    private final SecretKeySpec stickySecret;
    /** The MAC of the sticky ids, made once; guarded by {@code this}. */
    private Mac stickyMac;
    /** Routing settings of the next generations; guarded by {@code this}. */
    private List<RouteSpec> routes;
    /**
     * The routes' own rate limiters, by route: a route that stays the same (its host, prefix, pool and limit) keeps
     * its clients' use of its limit across generations and reloads. Under this object's monitor.
     */
    private Map<RouteSpec, RateLimiter> routeLimiters = Map.of();
    private Function<String, PoolPolicy> policyOfPool;
    private final List<Consumer<List<Server>>> removalListeners = new CopyOnWriteArrayList<>();
    private final List<Runnable> findingsListeners = new CopyOnWriteArrayList<>();
    /** Runtime overrides by server key; guarded by {@code this}. Never holds {@link RuntimeOverride#NONE}. */
    private final Map<String, StoredOverride> overrides = new HashMap<>();
    /** Servers added to and removed from the table, for the stats page's timeline (and more, from others). */
    private final EventLog events = new EventLog(EVENTS_KEPT);
    /**
     * How long a pool that left the table keeps its state (queue, counters, id) for when it comes back: as long as the
     * stats page keeps its history ({@link History#KEPT_SECONDS}). Longer than a retry budget's window, so that per-loop
     * state kept at a pool's id ({@code LoopContext}'s retry budgets) is as good as new by the time a new pool gets
     * that id.
     */
    static final long RETIRED_POOL_KEPT_NANOS = TimeUnit.SECONDS.toNanos(History.KEPT_SECONDS);
    /** {@link #RETIRED_POOL_KEPT_NANOS}, shorter in tests; guarded by {@code this}. */
    long retiredPoolKeptNanos = RETIRED_POOL_KEPT_NANOS;
    /**
     * The pools of the table, those the routes name, and those out of it for less than {@link #retiredPoolKeptNanos},
     * by name; guarded by {@code this}. Pools named per deploy come and go for as long as the proxy runs: those gone
     * for long that no route names are let go.
     */
    private final Map<String, PoolState> poolStates = new LinkedHashMap<>();
    /** When each pool of {@link #poolStates} that is not in the table left it ({@link System#nanoTime()}); guarded by {@code this}. */
    private final Map<String, Long> poolsLeft = new HashMap<>();
    /** Ids of pools let go, for new pools (smallest first), so that arrays indexed by pool id stay small; guarded by {@code this}. */
    private final BitSet freePoolIds = new BitSet();
    /** A copy of {@link #poolStates} for readers on other threads. */
    private volatile List<PoolState> poolStateList = List.of();
    private volatile BackendTable current;

    /**
     * A runtime override as kept for a server key, with the name of the server it was set on.
     *
     * @param name     the server's name (the one it had when last seen in the table)
     * @param key      {@link ServerSpec#key()}
     * @param override never {@link RuntimeOverride#NONE}
     */
    public record StoredOverride(String name, String key, RuntimeOverride override) {
    }

    /**
     * What a runtime change did.
     *
     * @param server     the server, or {@code null} when it is not in the table now (its override was kept
     *                   for when it comes back)
     * @param name       the server's name
     * @param before     its override before
     * @param after      its override now
     * @param generation the table generation in force afterwards
     */
    public record RuntimeChange(Server server, String name, RuntimeOverride before, RuntimeOverride after,
                                long generation) {
    }

    /** A holder whose sticky-session ids are keyed by a secret of this process (they change with a restart). */
    public TableHolder(int loopCount, List<RouteSpec> routes, Function<String, PoolPolicy> policyOfPool) {
        this(loopCount, routes, policyOfPool, randomSecret());
    }

    /**
     * @param stickySecret the key of the sticky-session ids (at least 16 bytes): proxies given the same secret
     *                     name each server alike, so a client keeps its server across them and across restarts
     */
    public TableHolder(int loopCount, List<RouteSpec> routes, Function<String, PoolPolicy> policyOfPool,
                       byte[] stickySecret) {
        if (stickySecret.length < 16) {
            throw new IllegalArgumentException("a sticky secret needs at least 16 bytes");
        }
        this.loopCount = loopCount;
        this.stickySecret = new SecretKeySpec(stickySecret, "HmacSHA256");
        this.routes = List.copyOf(routes);
        this.policyOfPool = policyOfPool;
        this.current = build(0, List.of(), Map.of(), null);
    }

    /** The table in force. Lock-free; any thread. */
    public BackendTable current() {
        return current;
    }

    /** The recent events of the table and its servers; any thread may add to it. */
    public EventLog events() {
        return events;
    }

    /** The number of event loops the balancers are built for. */
    public int loopCount() {
        return loopCount;
    }

    /**
     * What each pool keeps across generations (its queue, its counters), in order of first appearance: the pools of the
     * table, those the routes name, and those that left it less than {@link #RETIRED_POOL_KEPT_NANOS} ago, their queues
     * empty. Lock-free; any thread.
     */
    public List<PoolState> poolStates() {
        return poolStateList;
    }

    private PoolState poolState(String pool) {
        PoolState state = poolStates.get(pool);
        if (state == null) {
            int id = freePoolIds.nextSetBit(0);
            if (id < 0) {
                id = poolStates.size(); // no id is free: ids 0 .. size - 1 are all in use
            } else {
                freePoolIds.clear(id);
            }
            state = new PoolState(pool, id, this::healthFindingsChanged, events);
            poolStates.put(pool, state);
            poolStateList = List.copyOf(poolStates.values());
        }
        return state;
    }

    /** Called with the servers removed by each new generation, on the publishing thread. */
    public void onServersRemoved(Consumer<List<Server>> listener) {
        removalListeners.add(listener);
    }

    /**
     * Called after each new generation (on the publishing thread) and after a server is ejected by a failed request
     * or its ejection is cleared early (on the event loop of the failure, or the health checker's thread, under the
     * pool's monitor): what the proxy knows of its servers' health changed. An ejection that runs out tells nothing.
     * The listener must be quick and must not block: hand the work to another thread.
     */
    public void onHealthFindingsChanged(Runnable listener) {
        findingsListeners.add(listener);
    }

    private void healthFindingsChanged() {
        for (Runnable l : findingsListeners) {
            l.run();
        }
    }

    /**
     * Makes {@code specs} the table, reusing the identity of every server whose key survives.
     *
     * @param reason a few words for the log line ("static config", "gossip: web-3 joined", ...)
     * @return the table in force afterwards (the same object when nothing changed)
     */
    public synchronized BackendTable publish(List<ServerSpec> specs, String reason) {
        return publish(specs, routes, policyOfPool, reason);
    }

    /**
     * Like {@link #publish(List, String)}, with new routes and pool policies (a reloaded servers.conf).
     * A change of routes or policies alone makes a new generation too.
     */
    public synchronized BackendTable publish(List<ServerSpec> specs, List<RouteSpec> newRoutes,
                                             Function<String, PoolPolicy> newPolicyOfPool, String reason) {
        boolean routingChanged = !routes.equals(newRoutes) || !samePoolPolicies(specs, newPolicyOfPool);
        routes = List.copyOf(newRoutes);
        policyOfPool = newPolicyOfPool;
        BackendTable old = current;
        Map<String, Server> oldByKey = old.serversByKey();
        List<Server> oldServers = old.servers();
        List<Server> added = new ArrayList<>();
        List<String> changed = new ArrayList<>();
        Map<String, Server> servers = new LinkedHashMap<>(capacity(specs.size()));
        int kept = 0;
        long now = System.nanoTime();
        for (int i = 0; i < specs.size(); i++) {
            ServerSpec spec = specs.get(i);
            // A server usually keeps its place in the list: then its key is at hand, without making the string.
            String key = i < oldServers.size() && sameKey(oldServers.get(i).spec(), spec) ? oldServers.get(i).key()
                    : spec.key();
            Server s = oldByKey.get(key);
            if (s != null) {
                if (servers.putIfAbsent(key, s) != null) {
                    continue; // the first of two specs with one key wins
                }
                kept++;
                if (!s.spec().equals(spec)) {
                    changed.add(describeChange(s.spec(), spec));
                    s.updateSpec(spec, now);
                }
            } else if (!servers.containsKey(key)) {
                s = newServer(key, spec, old, now);
                added.add(s);
                servers.put(key, s);
            }
        }
        List<Server> removed = new ArrayList<>();
        if (kept < oldServers.size()) {
            for (Server s : oldServers) { // table order, so the log line and listeners see a stable order
                if (servers.get(s.key()) != s) {
                    removed.add(s);
                }
            }
        }
        if (added.isEmpty() && changed.isEmpty() && removed.isEmpty() && !routingChanged) {
            log.debug("table generation {} unchanged ({})", old.generation(), reason);
            return old;
        }
        for (Server s : removed) {
            s.markRemoved();
        }
        BackendTable table = build(old.generation() + 1, new ArrayList<>(servers.values()), servers, old);
        current = table;
        serveQueues(table);
        if (log.isInfoEnabled()) {
            log.info("table generation {} ({}): {} servers; added {}; removed {}; changed {}{}", table.generation(),
                    reason, table.servers().size(), listed(added, TableHolder::describeAdded),
                    listed(removed, Server::name), listed(changed, c -> c),
                    routingChanged ? "; routes or pool policies changed" : "");
        }
        recordEvents(added, removed, reason);
        if (!removed.isEmpty()) {
            for (Consumer<List<Server>> l : removalListeners) {
                l.accept(removed);
            }
        }
        healthFindingsChanged();
        return table;
    }

    /** A server that joins the table, with the runtime override kept for its key, if any. */
    private Server newServer(String key, ServerSpec spec, BackendTable old, long now) {
        // Table thread: the address the host check found, not a lookup of its own that a silent DNS would hold.
        Server s = new Server(spec, HostPort.serverAddress(spec.host(), spec.port()), stickyId(key),
                poolState(spec.pool()), loopCount);
        if (old.pools().containsKey(spec.pool())) {
            s.startSlowStart(now); // joins servers that carry the load already: it warms up first
        }
        StoredOverride kept = overrides.get(key);
        if (kept != null) {
            s.setRuntimeOverride(kept.override(), now);
            overrides.put(key, new StoredOverride(spec.name(), key, kept.override()));
            log.info("server {} ({}) is back with the runtime {} set through the admin API", spec.name(),
                    HostAndPort.format(spec.host(), spec.port()), kept.override().describe());
        }
        return s;
    }

    /**
     * The timeline's events of a swap: one per server added or removed, except those the ring would drop before
     * this swap is over (a swap of thousands keeps its last {@link #EVENTS_KEPT}).
     */
    private void recordEvents(List<Server> added, List<Server> removed, String reason) {
        int skip = Math.max(0, added.size() + removed.size() - EVENTS_KEPT);
        for (int i = skip; i < added.size(); i++) {
            ServerSpec spec = added.get(i).spec();
            events.add("add", spec.name(), spec.pool(), "added to the table (" + spec.source().word()
                    + ", " + HostAndPort.format(spec.host(), spec.port()) + ", weight " + spec.weight()
                    + (spec.backup() ? ", backup" : "") + "): " + reason);
        }
        for (int i = Math.max(0, skip - added.size()); i < removed.size(); i++) {
            Server s = removed.get(i);
            events.add("remove", s.name(), s.spec().pool(), "removed from the table: " + reason);
        }
    }

    /** {@code [a, b, c]}; beyond {@link #LOGGED_PER_LIST} items, {@code [a, b, ... and 9,980 more]}. */
    private static <T> String listed(List<T> items, Function<T, String> describe) {
        StringBuilder sb = new StringBuilder("[");
        int shown = items.size() > LOGGED_PER_LIST ? LOGGED_PER_LIST - 1 : items.size();
        for (int i = 0; i < shown; i++) {
            sb.append(i == 0 ? "" : ", ").append(describe.apply(items.get(i)));
        }
        if (shown < items.size()) {
            sb.append(", ... and ").append(String.format("%,d", items.size() - shown)).append(" more");
        }
        return sb.append(']').toString();
    }

    private static String describeAdded(Server s) {
        ServerSpec spec = s.spec();
        String address = HostAndPort.format(spec.host(), spec.port());
        return spec.name() + (spec.name().contains(address) ? "" : " " + address) + describePool(spec);
    }

    /** A hash map's initial capacity for {@code n} entries without a resize. */
    private static int capacity(int n) {
        return (int) Math.min(Integer.MAX_VALUE, n * 4L / 3 + 1);
    }

    /**
     * Sets the runtime state of the server named {@code name} ({@code PUT /servers/NAME/state}). Effective at
     * once: balancers read it on every pick. {@link RuntimeState#READY} gives the decision back to the
     * configuration, gossip and health.
     *
     * @param who for the log line: the endpoint and the client
     * @return what changed, or {@code null} when no server of that name is in the table or has an override
     */
    public synchronized RuntimeChange setRuntimeState(String name, RuntimeState state, String who) {
        return change(name, o -> o.withState(state), who, false);
    }

    /**
     * Sets the weight of the server named {@code name} instead of its configured or announced one
     * ({@code PUT /servers/NAME/weight}); {@link RuntimeOverride#NO_WEIGHT} gives it back. The balancers are
     * rebuilt at once (a new generation), since some precompute their order from the weights.
     *
     * @param weight 0..256, or {@link RuntimeOverride#NO_WEIGHT}
     * @return what changed, or {@code null} when no server of that name is in the table or has an override
     */
    public synchronized RuntimeChange setRuntimeWeight(String name, int weight, String who) {
        if (weight != RuntimeOverride.NO_WEIGHT && (weight < 0 || weight > 256)) {
            throw new IllegalArgumentException("weight " + weight + " is not in 0..256");
        }
        return change(name, o -> o.withWeight(weight), who, true);
    }

    /** The server named {@code name} in the table now, or {@code null}. */
    public Server serverNamed(String name) {
        for (Server s : current.servers()) {
            if (s.name().equals(name)) {
                return s;
            }
        }
        return null;
    }

    /** The overrides kept for servers that are not in the table now (they apply when those come back). */
    public synchronized List<StoredOverride> overridesOfAbsentServers() {
        Map<String, Server> present = current.serversByKey();
        return overrides.values().stream().filter(o -> !present.containsKey(o.key())).toList();
    }

    /** The override kept for an absent server named {@code name}, or {@code null}. */
    public synchronized StoredOverride absentOverride(String name) {
        for (StoredOverride o : overridesOfAbsentServers()) {
            if (o.name().equals(name)) {
                return o;
            }
        }
        return null;
    }

    private RuntimeChange change(String name, UnaryOperator<RuntimeOverride> update, String who, boolean weight) {
        Server server = serverNamed(name);
        String key;
        RuntimeOverride before;
        if (server != null) {
            key = server.key();
            before = server.runtimeOverride();
        } else {
            StoredOverride kept = absentOverride(name);
            if (kept == null) {
                return null;
            }
            key = kept.key();
            before = kept.override();
        }
        RuntimeOverride after = update.apply(before);
        if (after.isNone()) {
            overrides.remove(key);
        } else {
            overrides.put(key, new StoredOverride(name, key, after));
        }
        String what = weight ? "weight " + describeWeight(server, before) + " -> " + describeWeight(server, after)
                : "state " + before.state().word() + " -> " + after.state().word();
        if (server == null) {
            log.info("{}: server {} (not in the table now) {}; applies when it comes back", who, name, what);
            return new RuntimeChange(null, name, before, after, current.generation());
        }
        server.setRuntimeOverride(after, System.nanoTime());
        server.poolState().queue().dispatch(); // a server back in service serves the requests waiting for one
        log.info("{}: server {} ({}) {}", who, name, HostAndPort.format(server.spec().host(), server.spec().port()),
                what + (before.equals(after) ? " (unchanged)" : ""));
        if (weight && !before.equals(after)) {
            BackendTable old = current;
            current = build(old.generation() + 1, old.servers(), old.serversByKey(), old);
            serveQueues(current);
            log.info("table generation {} ({}): {} servers; weight of {} set at run time", current.generation(), who,
                    current.servers().size(), name);
        }
        return new RuntimeChange(server, name, before, after, current.generation());
    }

    /** {@code "3"}, or {@code "1 (configured)"} without an override. */
    private static String describeWeight(Server server, RuntimeOverride o) {
        if (o.hasWeight()) {
            return Integer.toString(o.weight());
        }
        return server == null ? "(configured)" : server.spec().weight() + " (configured)";
    }

    /**
     * A generation of {@code servers} (which it keeps, as it keeps {@code byKey}: the caller lets go of both). A pool
     * of {@code previous} whose policy, servers and their weights are unchanged is taken over whole, balancers
     * included; the others are built anew.
     */
    private BackendTable build(long generation, List<Server> servers, Map<String, Server> byKey,
                               BackendTable previous) {
        Map<String, List<Server>> byPool = new LinkedHashMap<>();
        for (Server s : servers) {
            byPool.computeIfAbsent(s.spec().pool(), k -> new ArrayList<>()).add(s);
        }
        Map<String, PoolPolicy> policies = new LinkedHashMap<>();
        byPool.keySet().forEach(name -> policies.put(name, policyOfPool.apply(name)));
        RequestKeys keys = RequestKeys.of(policies.values(), routes);
        Map<String, ServerPool> pools = new LinkedHashMap<>();
        byPool.forEach((name, list) -> {
            PoolPolicy policy = policies.get(name);
            PoolState state = poolState(name);
            ServerPool pool = previous == null ? null : previous.pools().get(name);
            if (pool == null || !pool.isBuiltFor(policy, list, keys)) {
                list.forEach(s -> s.setSlowStart(policy.slowStartMillis()));
                pool = new ServerPool(name, policy, list, loopCount, keys, state);
            }
            state.update(pool.servers(), policy.queue(), policy.rateLimit());
            pools.put(name, pool);
        });
        return new BackendTable(generation, servers, byKey, pools, absentPools(pools), routes, keys,
                routeLimits(keys));
    }

    /** The routes' own rate limits for a generation under {@code keys}, their limiters kept from the last one's. */
    private BackendTable.RouteLimit[] routeLimits(RequestKeys keys) {
        BackendTable.RouteLimit[] limits = new BackendTable.RouteLimit[routes.size()];
        Map<RouteSpec, RateLimiter> kept = new HashMap<>();
        for (int i = 0; i < routes.size(); i++) {
            RouteSpec r = routes.get(i);
            if (r.rateLimit().enabled()) {
                RateLimiter limiter = kept.computeIfAbsent(r, spec -> {
                    RateLimiter before = routeLimiters.get(spec);
                    return before != null ? before : new RateLimiter(spec.rateLimit());
                });
                limits[i] = new BackendTable.RouteLimit(limiter, keys.rateKeyIndex(r.rateLimit()));
            }
        }
        routeLimiters = kept;
        return limits;
    }

    /**
     * The pools a generation of {@code pools} has no server of but still shows and counts for: those the routes send
     * requests to (for as long as they do), then those that left the table less than {@link #retiredPoolKeptNanos} ago
     * (their state is let go after that, and so are they). Bounded: by the routes, and by the pools of the last
     * minutes.
     */
    private Map<String, BackendTable.AbsentPool> absentPools(Map<String, ServerPool> pools) {
        Map<String, BackendTable.AbsentPool> absent = new LinkedHashMap<>();
        for (String name : routedPools()) {
            if (!pools.containsKey(name) && !absent.containsKey(name)) {
                absent.put(name, new BackendTable.AbsentPool(name, policyOfPool.apply(name), poolState(name),
                        Long.MAX_VALUE));
            }
        }
        long now = System.nanoTime();
        for (PoolState state : poolStates.values()) {
            String name = state.name();
            if (!pools.containsKey(name) && !absent.containsKey(name)) {
                long left = poolsLeft.computeIfAbsent(name, n -> now);
                if (now - left < retiredPoolKeptNanos) {
                    absent.put(name, new BackendTable.AbsentPool(name, policyOfPool.apply(name), state,
                            left + retiredPoolKeptNanos));
                }
            }
        }
        return absent;
    }

    /**
     * The pools requests are routed to: those the routes name, and {@link ServerSpec#DEFAULT_POOL}, where every
     * request no route matches goes (all of them, without routes), unless a route matches every request (no host,
     * and no path prefix or {@code /}). Under this holder's monitor.
     */
    private List<String> routedPools() {
        List<String> names = new ArrayList<>(routes.size() + 1);
        boolean catchAll = false;
        for (RouteSpec r : routes) {
            names.add(r.pool());
            catchAll |= r.host() == null && (r.pathPrefix() == null || r.pathPrefix().equals("/"));
        }
        if (!catchAll) {
            names.add(ServerSpec.DEFAULT_POOL);
        }
        return names;
    }

    /**
     * After a swap: the queue of a pool that left the table empties (its requests are answered at once), and the
     * others get the slots of servers that joined, came back or had their limit raised.
     */
    private void serveQueues(BackendTable table) {
        long now = System.nanoTime();
        boolean letGo = false;
        for (var it = poolStates.values().iterator(); it.hasNext(); ) {
            PoolState state = it.next();
            if (table.pools().containsKey(state.name())) {
                poolsLeft.remove(state.name());
                state.queue().dispatch();
                continue;
            }
            state.update(List.of(), state.queuePolicy(), state.rateLimit());
            // Idempotent, so repeated at each swap rather than tracked: once the servers are emptied, PoolQueue.offer
            // turns a late waiter away itself, and none joins after the first retire.
            state.queue().retire();
            long left = poolsLeft.computeIfAbsent(state.name(), name -> now);
            if (now - left >= retiredPoolKeptNanos && !table.absentPools().containsKey(state.name())) {
                // Not a pool a route names (the table shows those for as long as it does), nor one shown still.
                // Requests still on its servers hold the state itself; they finish with it, uncounted here.
                it.remove();
                poolsLeft.remove(state.name());
                freePoolIds.set(state.id());
                letGo = true;
            }
        }
        if (letGo) {
            poolStateList = List.copyOf(poolStates.values());
        }
    }

    private boolean samePoolPolicies(List<ServerSpec> specs, Function<String, PoolPolicy> newPolicyOfPool) {
        for (ServerPool pool : current.pools().values()) {
            if (!pool.policy().equals(newPolicyOfPool.apply(pool.name()))) {
                return false;
            }
        }
        Set<String> seen = new HashSet<>();
        String last = null;
        for (ServerSpec spec : specs) {
            String pool = spec.pool();
            if (!pool.equals(last) && seen.add(pool)
                    && !policyOfPool.apply(pool).equals(newPolicyOfPool.apply(pool))) {
                return false;
            }
            last = pool;
        }
        return true;
    }

    /** Whether two specs have the same {@link ServerSpec#key()}: the same pool, host and port. */
    private static boolean sameKey(ServerSpec a, ServerSpec b) {
        return a == b || a.port() == b.port() && a.host().equals(b.host()) && a.pool().equals(b.pool());
    }

    /** The first 64 bits of HMAC-SHA256(secret, key). Under this holder's monitor (the MAC is reused). */
    private long stickyId(String key) {
        try {
            if (stickyMac == null) {
                stickyMac = Mac.getInstance("HmacSHA256");
                stickyMac.init(stickySecret);
            }
            return ByteBuffer.wrap(stickyMac.doFinal(key.getBytes(StandardCharsets.UTF_8))).getLong();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is part of every JDK", e);
        }
    }

    private static byte[] randomSecret() {
        byte[] secret = new byte[32];
        new SecureRandom().nextBytes(secret);
        return secret;
    }

    private static String describePool(ServerSpec spec) {
        return ServerSpec.DEFAULT_POOL.equals(spec.pool()) ? "" : " pool " + spec.pool();
    }

    private static String describeChange(ServerSpec before, ServerSpec after) {
        StringBuilder sb = new StringBuilder(after.name());
        if (before.state() != after.state()) {
            sb.append(" state ").append(before.state().name().toLowerCase(Locale.ROOT)).append("->")
                    .append(after.state().name().toLowerCase(Locale.ROOT));
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
            sb.append(" source ").append(after.source().word());
        }
        return sb.toString();
    }
}
