package io.grapevine.proxy.table;

import io.grapevine.cluster.HostAndPort;
import io.grapevine.proxy.config.PoolPolicy;
import io.grapevine.proxy.config.RouteSpec;
import io.grapevine.proxy.config.ServerSpec;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.function.Function;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
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
 */
public final class TableHolder {

    private static final Logger log = LoggerFactory.getLogger(TableHolder.class);

    private final int loopCount;
    private final SecretKeySpec stickySecret;
    /** Routing settings of the next generations; guarded by {@code this}. */
    private List<RouteSpec> routes;
    private Function<String, PoolPolicy> policyOfPool;
    private final List<Consumer<List<Server>>> removalListeners = new CopyOnWriteArrayList<>();
    private volatile BackendTable current;

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
        this.current = build(0, List.of(), Map.of());
    }

    /** The table in force. Lock-free; any thread. */
    public BackendTable current() {
        return current;
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
        long now = System.nanoTime();
        for (ServerSpec spec : wanted.values()) {
            Server s = oldByKey.get(spec.key());
            if (s == null) {
                s = new Server(spec, new InetSocketAddress(spec.host(), spec.port()), stickyId(spec.key()));
                if (old.pools().containsKey(spec.pool())) {
                    s.startSlowStart(now); // joins servers that carry the load already: it warms up first
                }
            } else {
                s.updateSpec(spec, now);
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
                routingChanged ? "; routes or pool policies changed" : "");
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
        Map<String, PoolPolicy> policies = new LinkedHashMap<>();
        byPool.keySet().forEach(name -> policies.put(name, policyOfPool.apply(name)));
        RequestKeys keys = RequestKeys.of(policies.values());
        Map<String, ServerPool> pools = new LinkedHashMap<>();
        byPool.forEach((name, list) -> {
            PoolPolicy policy = policies.get(name);
            list.forEach(s -> s.setSlowStart(policy.slowStartMillis()));
            pools.put(name, new ServerPool(name, policy, list, loopCount, keys));
        });
        return new BackendTable(generation, servers, byKey, pools, routes, keys);
    }

    private boolean samePoolPolicies(List<ServerSpec> specs, Function<String, PoolPolicy> newPolicyOfPool) {
        for (ServerPool pool : current.pools().values()) {
            if (!pool.policy().equals(newPolicyOfPool.apply(pool.name()))) {
                return false;
            }
        }
        for (ServerSpec spec : specs) {
            if (!policyOfPool.apply(spec.pool()).equals(newPolicyOfPool.apply(spec.pool()))) {
                return false;
            }
        }
        return true;
    }

    /** The first 64 bits of HMAC-SHA256(secret, key). */
    private long stickyId(String key) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(stickySecret);
            return ByteBuffer.wrap(mac.doFinal(key.getBytes(StandardCharsets.UTF_8))).getLong();
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
