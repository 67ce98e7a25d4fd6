package io.grapevine.proxy.forward;

import io.grapevine.proxy.http.RequestHead;
import io.grapevine.proxy.lb.Balancer;
import io.grapevine.proxy.table.Server;
import io.grapevine.proxy.table.ServerPool;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * What ties one request to a server of its pool: the hash of its key, for a pool that hashes ({@code source},
 * {@code uri}, {@code header:NAME}, {@code cookie:NAME}), and the server its sticky cookie names, for a sticky pool.
 * Worked out once, when the exchange knows its pool; a pool that does neither gets none, so its requests pay
 * nothing for either.
 *
 * <p>Thread: the exchange's event loop.
 */
final class Affinity {

    private final ServerPool pool;
    private final boolean hasKey;
    private final long key;
    /** The server the request's sticky cookie names, or null (no cookie, or none of this pool's servers). */
    private final Server cookieServer;
    private final boolean secure;

    private Affinity(ServerPool pool, boolean hasKey, long key, Server cookieServer, boolean secure) {
        this.pool = pool;
        this.hasKey = hasKey;
        this.key = key;
        this.cookieServer = cookieServer;
        this.secure = secure;
    }

    /** The affinity of {@code request} in {@code pool}, or {@code null} when the pool neither hashes nor sticks. */
    static Affinity of(ServerPool pool, RequestHead request) {
        boolean hashes = pool.balance().hashes();
        if (!hashes && !pool.isSticky()) {
            return null;
        }
        byte[] keyBytes = hashes ? keyOf(pool, request) : null;
        Server named = pool.isSticky() ? pool.stickyServer(captured(request.capturedCookies, pool.stickyIndex())) : null;
        return new Affinity(pool, keyBytes != null, keyBytes == null ? 0 : pool.hashKey(keyBytes), named,
                request.secure);
    }

    /**
     * The bytes a hashing pool hashes, or {@code null} when the request has no such key. A header or cookie with an
     * empty value is no key (HAProxy's {@code balance hdr()}): hashed, every such request would land on one server.
     */
    private static byte[] keyOf(ServerPool pool, RequestHead request) {
        return switch (pool.balance()) {
            case SOURCE -> request.clientAddress;
            case URI -> request.routingPath == null ? null : request.routingPath.getBytes(StandardCharsets.ISO_8859_1);
            case HEADER -> nonEmpty(captured(request.capturedHeaders, pool.keyIndex()));
            case COOKIE -> nonEmpty(captured(request.capturedCookies, pool.keyIndex()));
            default -> null;
        };
    }

    private static byte[] nonEmpty(byte[] value) {
        return value == null || value.length == 0 ? null : value;
    }

    private static byte[] captured(byte[][] values, int index) {
        return values == null || index < 0 || index >= values.length ? null : values[index];
    }

    /** The same key and sticky server in {@code next}, a later generation of the pool under the same policy. */
    Affinity in(ServerPool next) {
        return new Affinity(next, hasKey, key, cookieServer, secure);
    }

    /**
     * The server the request's sticky cookie names, while that one takes sticky requests (even draining) and was not
     * tried already; otherwise {@code null}, and the balancer decides ({@link #balance}). The server may be at its
     * {@code max_conn}: a sticky request then waits for that server.
     */
    Server stickyServer(long nowNanos, List<Server> tried) {
        Server named = cookieServer;
        if (named != null && named.takesStickyRequests(nowNanos) && (tried == null || !tried.contains(named))) {
            return named;
        }
        return null;
    }

    /** The pool's balancer's choice, by the request's key when it has one (round robin when it has none). */
    Server balance(int loopIndex, long nowNanos, List<Server> tried) {
        Balancer<Server> balancer = pool.balancer(loopIndex);
        return hasKey ? balancer.pick(nowNanos, key, tried) : balancer.pick(nowNanos, tried);
    }

    /** The name of the pool's sticky cookie, whose backend-made {@code Set-Cookie} lines are removed, or null. */
    byte[] stickyCookieName() {
        return pool.stickyCookieName();
    }

    /**
     * The {@code Set-Cookie} line for a response from {@code server}, or {@code null}: not sticky, or the client
     * presented the cookie that names this server already.
     */
    byte[] setCookieFor(Server server) {
        if (!pool.isSticky() || server == cookieServer) {
            return null;
        }
        return pool.setCookie(server, secure);
    }
}
