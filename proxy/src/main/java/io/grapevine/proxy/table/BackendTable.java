package io.grapevine.proxy.table;

import io.grapevine.proxy.config.PoolPolicy;
import io.grapevine.proxy.config.RouteSpec;
import io.grapevine.proxy.config.ServerSpec;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * One generation of the backend table: every server, grouped into pools, and the routes. Immutable;
 * published through one volatile reference ({@link TableHolder}) and read by event loops once per request.
 */
public final class BackendTable {

    private final long generation;
    private final List<Server> servers;
    private final Map<String, Server> serversByKey;
    private final Map<String, ServerPool> pools;
    private final List<RouteSpec> routes;
    /** The routes' own rate limits, by route index; an entry {@code null} for a route without one. */
    private final RouteLimit[] routeLimits;

    /**
     * A route's own rate limit: its limiter (kept across generations while the route is the same) and where a request
     * finds the header it is keyed by among the captured values (-1: keyed by the client's address).
     */
    public record RouteLimit(RateLimiter limiter, int keyIndex) {
    }
    private final ServerPool defaultPool;
    private final RequestKeys requestKeys;
    private final Map<String, AbsentPool> absentPools;

    /**
     * A pool with no server in this generation that the proxy still shows and counts for: one a route names (for as
     * long as it does), or one that left the table less than its kept time ago ({@code TableHolder}). Its requests are
     * answered 503 and counted in its {@code no_server}; the stats show it down, as HAProxy shows a backend without
     * servers.
     *
     * @param untilNanos until when ({@link System#nanoTime()}) it is shown; {@link Long#MAX_VALUE} while a route names it
     */
    public record AbsentPool(String name, PoolPolicy policy, PoolState state, long untilNanos) {
        /** Whether it is still shown and counted at {@code nowNanos}. */
        public boolean shownAt(long nowNanos) {
            return untilNanos == Long.MAX_VALUE || nowNanos - untilNanos < 0;
        }
    }

    /**
     * Takes {@code servers}, {@code serversByKey} and {@code pools} as they are, without a copy (a table of 10,000
     * servers is built in milliseconds): the caller must not change them afterwards.
     */
    /** @param routeLimits the routes' own rate limits by route index (an entry {@code null}: none) */
    BackendTable(long generation, List<Server> servers, Map<String, Server> serversByKey,
                 Map<String, ServerPool> pools, Map<String, AbsentPool> absentPools, List<RouteSpec> routes,
                 RequestKeys requestKeys, RouteLimit[] routeLimits) {
        this.routeLimits = routeLimits;
        this.generation = generation;
        this.servers = Collections.unmodifiableList(servers);
        this.serversByKey = Collections.unmodifiableMap(serversByKey);
        this.pools = Collections.unmodifiableMap(pools);
        this.absentPools = Collections.unmodifiableMap(absentPools);
        this.routes = List.copyOf(routes);
        this.defaultPool = pools.get(ServerSpec.DEFAULT_POOL);
        this.requestKeys = requestKeys;
    }

    public long generation() {
        return generation;
    }

    public List<Server> servers() {
        return servers;
    }

    Map<String, Server> serversByKey() {
        return serversByKey;
    }

    public Map<String, ServerPool> pools() {
        return pools;
    }

    /** The pools without a server in this generation that are shown and counted for ({@link AbsentPool}), by name. */
    public Map<String, AbsentPool> absentPools() {
        return absentPools;
    }

    /** The absent pool named {@code name}, if it is still shown at {@code nowNanos}; otherwise {@code null}. */
    public AbsentPool absentPool(String name, long nowNanos) {
        AbsentPool a = absentPools.get(name);
        return a != null && a.shownAt(nowNanos) ? a : null;
    }

    public boolean hasRoutes() {
        return !routes.isEmpty();
    }

    /** What request heads read under this generation capture for its pools' hashes and sticky cookies. */
    public RequestKeys requestKeys() {
        return requestKeys;
    }

    /** Whether request heads read under this generation need their host and path (routes, {@code uri} hashing). */
    public boolean needsPath() {
        return !routes.isEmpty() || requestKeys.path();
    }

    /** The pool for a request without routing information (no routes configured). */
    public ServerPool defaultPool() {
        return defaultPool;
    }

    /** The routes of this generation, in the order they are tried. */
    public List<RouteSpec> routes() {
        return routes;
    }

    /** The index of the first route matching {@code host} (lower case, no port) and {@code path}, or -1. */
    public int routeIndex(String host, String path) {
        for (int i = 0, n = routes.size(); i < n; i++) {
            RouteSpec r = routes.get(i);
            if (r.host() != null && !r.host().toLowerCase(Locale.ROOT).equals(host)) {
                continue;
            }
            if (r.pathPrefix() != null && !path.startsWith(r.pathPrefix())) {
                continue;
            }
            return i;
        }
        return -1;
    }

    /** The pool of route {@code index} ({@link #routeIndex}; -1: pool default), or {@code null} without servers. */
    public ServerPool poolOfRoute(int index) {
        return index < 0 ? defaultPool : pools.get(routes.get(index).pool());
    }

    /** The name of the pool of route {@code index} ({@link #routeIndex}; -1: pool default). */
    public String poolNameOfRoute(int index) {
        return index < 0 ? ServerSpec.DEFAULT_POOL : routes.get(index).pool();
    }

    /** Route {@code index}'s own rate limit, or {@code null} (none, or -1: no route matched). */
    public RouteLimit routeLimit(int index) {
        return index < 0 ? null : routeLimits[index];
    }
}
