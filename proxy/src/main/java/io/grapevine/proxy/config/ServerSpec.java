package io.grapevine.proxy.config;

import io.grapevine.cluster.HostAndPort;
import java.util.Locale;

/**
 * One backend server as configured ({@code servers.conf}) or rendered from gossip.
 *
 * @param name   unique within the table; defaults to {@code host:port}
 * @param host   IP literal or resolvable host name
 * @param port   1..65535
 * @param weight 0..256; 0 keeps the server in the table but sends it no new requests
 * @param backup used only when no non-backup server of its pool is available
 * @param pool   the pool (group of interchangeable servers) it belongs to; defaults to {@code "default"}
 * @param source where it came from
 * @param state  the announced administrative state (static servers are always {@link AdminState#UP})
 * @param maxConn the most requests the server is given at once (HAProxy's {@code maxconn}); 0: no limit
 */
public record ServerSpec(String name, String host, int port, int weight, boolean backup, String pool,
                         Source source, AdminState state, int maxConn) {

    public static final String DEFAULT_POOL = "default";

    /** A server without a limit on its requests in flight. */
    public ServerSpec(String name, String host, int port, int weight, boolean backup, String pool, Source source,
                      AdminState state) {
        this(name, host, port, weight, backup, pool, source, state, 0);
    }

    public enum Source {
        STATIC, GOSSIP;

        /**
         * {@code static} or {@code gossip}, as documents, metrics labels and the timeline spell it: lower case by
         * the root locale's rules, whatever the process's (Turkish ones would make {@code gossıp}, dotless).
         */
        public String word() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** What the server's owner says about it; health checks decide separately whether it answers. */
    public enum AdminState { UP, DOWN, DRAINING }

    /** Identity across table generations: same pool, host and port is the same server. */
    public String key() {
        return pool + "/" + HostAndPort.format(host, port);
    }
}
