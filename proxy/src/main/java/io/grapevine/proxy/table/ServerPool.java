package io.grapevine.proxy.table;

import io.grapevine.proxy.config.Balance;
import io.grapevine.proxy.config.PoolPolicy;
import io.grapevine.proxy.lb.Balancer;
import io.grapevine.proxy.lb.Balancers;
import io.grapevine.proxy.lb.XxHash64;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * The servers of one pool (a group of interchangeable servers, {@code "pool"} in servers.conf) in one table
 * generation, with its policy and one balancer per event loop, built with the table off the event loops, so
 * picking needs no lock and no shared mutable state. Immutable apart from the balancers' own per-loop state.
 *
 * <p>For a sticky pool it also maps cookie values to servers and holds each server's {@code Set-Cookie} field,
 * rendered once here rather than per response.
 */
public final class ServerPool {

    private static final char[] HEX = "0123456789abcdef".toCharArray();

    private final String name;
    private final PoolPolicy policy;
    private final PoolState state;
    /** Some server of the pool has a max_conn: requests may have to queue. */
    private final boolean limited;
    private final List<Server> servers;
    private final Balancer<Server>[] balancerPerLoop;
    /** What the balancers were built from, per server: its weight, doubled, plus one for a backup. */
    private final int[] balancedAs;
    private final int keyIndex;
    private final int stickyIndex;
    private final int rateKeyIndex;
    /** Sticky pools: the servers by {@link Server#stickyId()}, ascending, and their Set-Cookie lines. */
    private final long[] stickyIds;
    private final Server[] stickyServers;
    private final byte[][] setCookie;
    private final byte[][] setCookieSecure;
    /** Sticky pools: the cookie's name in ASCII; null otherwise. */
    private final byte[] stickyCookieName;

    ServerPool(String name, PoolPolicy policy, List<Server> servers, int loopCount, RequestKeys keys,
               PoolState state) {
        this.name = name;
        this.policy = policy;
        this.state = state;
        this.servers = List.copyOf(servers);
        this.limited = limited(servers);
        this.balancedAs = balancedAs(servers);
        List<Server> primaries = new ArrayList<>(servers.size());
        List<Server> backups = new ArrayList<>();
        for (Server s : servers) {
            (s.spec().backup() ? backups : primaries).add(s);
        }
        this.balancerPerLoop = Balancers.forLoops(policy.balance(), primaries, backups, loopCount,
                state.roundRobinTurns());
        this.keyIndex = keys.keyIndex(policy);
        this.stickyIndex = keys.stickyIndex(policy);
        this.rateKeyIndex = keys.rateKeyIndex(policy);
        Server[] byId = policy.sticky() == null ? new Server[0] : servers.toArray(new Server[0]);
        Arrays.sort(byId, Comparator.comparingLong(Server::stickyId));
        this.stickyServers = byId;
        this.stickyIds = new long[byId.length];
        this.setCookie = new byte[byId.length][];
        this.setCookieSecure = new byte[byId.length][];
        this.stickyCookieName = policy.sticky() == null ? null
                : policy.sticky().cookie().getBytes(StandardCharsets.US_ASCII);
        for (int i = 0; i < byId.length; i++) {
            stickyIds[i] = byId[i].stickyId();
            byte[][] lines = byId[i].setCookieLines(policy.sticky());
            setCookie[i] = lines[0];
            setCookieSecure[i] = lines[1];
        }
    }

    /**
     * Whether this pool, built for an earlier generation, serves as it is for {@code newServers} under
     * {@code newPolicy} and {@code keys}: the same servers in the same order, with the weights and backup flags its
     * balancers were built from, the same limits, policy and captured-key positions. Then the new generation takes
     * it over whole, its balancers' state (round robin's place, leastconn's order) included.
     */
    boolean isBuiltFor(PoolPolicy newPolicy, List<Server> newServers, RequestKeys keys) {
        if (!policy.equals(newPolicy) || newServers.size() != servers.size()
                || keys.keyIndex(newPolicy) != keyIndex || keys.stickyIndex(newPolicy) != stickyIndex
                || keys.rateKeyIndex(newPolicy) != rateKeyIndex) {
            return false;
        }
        for (int i = 0; i < servers.size(); i++) {
            Server s = newServers.get(i);
            if (s != servers.get(i) || balancedAs(s) != balancedAs[i]) {
                return false;
            }
        }
        return limited(newServers) == limited;
    }

    private static boolean limited(List<Server> servers) {
        for (Server s : servers) {
            if (s.spec().maxConn() > 0) {
                return true;
            }
        }
        return false;
    }

    private static int[] balancedAs(List<Server> servers) {
        int[] as = new int[servers.size()];
        for (int i = 0; i < as.length; i++) {
            as[i] = balancedAs(servers.get(i));
        }
        return as;
    }

    private static int balancedAs(Server s) {
        return s.weight() * 2 + (s.spec().backup() ? 1 : 0);
    }

    public String name() {
        return name;
    }

    public PoolPolicy policy() {
        return policy;
    }

    public Balance balance() {
        return policy.balance();
    }

    public List<Server> servers() {
        return servers;
    }

    /** What the pool keeps across generations: its queue, its counters. */
    public PoolState state() {
        return state;
    }

    /** Whether some server of the pool has a {@code max_conn}, so that requests may have to wait in its queue. */
    public boolean isLimited() {
        return limited;
    }

    /** The balancer of event loop {@code loopIndex}; call it only from that loop. */
    public Balancer<Server> balancer(int loopIndex) {
        return balancerPerLoop[loopIndex];
    }

    // ---------------------------------------------------------------- hashing

    /**
     * For {@code header:NAME} and {@code cookie:NAME} pools, the index of the key among the values the request head
     * captured ({@link RequestKeys#headers()} or {@link RequestKeys#cookies()}); -1 otherwise.
     */
    public int keyIndex() {
        return keyIndex;
    }

    /**
     * For a pool whose rate limit tells clients apart by a header, the index of its value among the header values
     * the request head captured ({@link RequestKeys#headers()}); -1 otherwise.
     */
    public int rateKeyIndex() {
        return rateKeyIndex;
    }

    /** The 64-bit hash of a request's key, as the pool's balancers take it. */
    public long hashKey(byte[] key) {
        return XxHash64.hash(key);
    }

    // ---------------------------------------------------------------- sticky sessions

    /** Whether responses name their server in a cookie. */
    public boolean isSticky() {
        return policy.sticky() != null;
    }

    /**
     * The name of the pool's sticky cookie in ASCII, or {@code null} when not sticky: only the proxy sets it, a
     * backend's {@code Set-Cookie} of it is removed. The array is shared: do not modify it.
     */
    public byte[] stickyCookieName() {
        return stickyCookieName;
    }

    /** The index of the sticky cookie among the cookies the request head captured, or -1 when not sticky. */
    public int stickyIndex() {
        return stickyIndex;
    }

    /** The server of this pool a sticky cookie's value names, or {@code null} (none, or not a value of ours). */
    public Server stickyServer(byte[] cookieValue) {
        if (cookieValue == null || cookieValue.length != 16 || stickyIds.length == 0) {
            return null;
        }
        long id = 0;
        for (byte c : cookieValue) {
            int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (digit < 0) {
                return null;
            }
            id = id << 4 | digit;
        }
        int i = Arrays.binarySearch(stickyIds, id);
        return i < 0 ? null : stickyServers[i];
    }

    /**
     * The {@code Set-Cookie} field line (with its CRLF) naming {@code server}, for a client that came over TLS
     * ({@code secure}: with the {@code Secure} attribute) or not; {@code null} if the server is not of this pool.
     * A server that joined the pool in a later generation (one a request got after waiting in the queue across a
     * table swap) is named too, as that generation rendered it, if the cookie is still this generation's. The array
     * is shared: do not modify it.
     */
    public byte[] setCookie(Server server, boolean secure) {
        int i = Arrays.binarySearch(stickyIds, server.stickyId());
        if (i >= 0 && stickyServers[i] == server) {
            return secure ? setCookieSecure[i] : setCookie[i];
        }
        return policy.sticky() != null && server.poolState() == state
                ? server.renderedSetCookie(policy.sticky(), secure) : null;
    }

    /** The cookie value that names a server: its id as 16 lower-case hex digits. */
    static String stickyValue(long id) {
        char[] c = new char[16];
        for (int i = 15; i >= 0; i--) {
            c[i] = HEX[(int) (id & 0xF)];
            id >>>= 4;
        }
        return new String(c);
    }

    /**
     * {@code Set-Cookie: NAME=VALUE; Path=/[; Max-Age=N]; HttpOnly; SameSite=Lax[; Secure]}: for the whole site (the
     * proxy routes by path, so one client's requests may reach the pool under any path), not readable by scripts,
     * not sent on cross-site subrequests (RFC 6265bis).
     */
    static byte[] setCookieLine(PoolPolicy.Sticky sticky, long id, boolean secure) {
        StringBuilder sb = new StringBuilder("Set-Cookie: ").append(sticky.cookie()).append('=')
                .append(stickyValue(id)).append("; Path=/");
        if (sticky.maxAgeSeconds() > 0) {
            sb.append("; Max-Age=").append(sticky.maxAgeSeconds());
        }
        sb.append("; HttpOnly; SameSite=Lax");
        if (secure) {
            sb.append("; Secure");
        }
        return sb.append("\r\n").toString().getBytes(StandardCharsets.US_ASCII);
    }
}
