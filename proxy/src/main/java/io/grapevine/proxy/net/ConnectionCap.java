package io.grapevine.proxy.net;

/**
 * How many client connections the open-files limit lets the proxy hold at once, against {@code max_connections}:
 * HAProxy's {@code maxconn} sized by {@code ulimit-n}.
 *
 * <p>Each client connection may hold two descriptors: its own and its backend's. Beside them the proxy needs the
 * descriptors open once it has started (the JVM's jars and libraries, the event loops, the listeners, gossip, the
 * log files), and {@link #RESERVE} more for what comes and goes: a health check's socket per server being
 * checked, admin connections (a scraper or two; the admin listener holds 256 at most), idle pooled backend
 * connections beyond the active ones, gossip's connections to its members, a log file reopened. So it serves at most
 * {@code (limit - open - RESERVE) / 2} client connections, and at least one.
 *
 * @param configured {@code limits.max_connections}
 * @param effective  the client connections served at once: {@code configured}, or fewer when the limit is too low
 * @param limit      the open-files limit (soft {@code RLIMIT_NOFILE}); -1 if unknown
 * @param needed     the limit {@code configured} needs
 */
public record ConnectionCap(int configured, int effective, long limit, long needed) {

    /**
     * Descriptors kept beside those open at the start and two per client connection. 128 covers the health checks of
     * a few dozen servers at once, a handful of admin connections, gossip with a few dozen members, and idle pooled
     * connections the active ones leave behind; more of any of these is what a limit well above the need covers.
     */
    public static final int RESERVE = 128;

    /**
     * The cap of {@code configured} client connections with {@code open} descriptors open now under {@code limit};
     * an unknown limit or count (-1) caps nothing.
     */
    public static ConnectionCap of(int configured, long limit, long open) {
        if (limit < 0 || open < 0) {
            return new ConnectionCap(configured, configured, limit, -1);
        }
        long needed = 2L * configured + open + RESERVE;
        if (needed <= limit) {
            return new ConnectionCap(configured, configured, limit, needed);
        }
        long fits = (limit - open - RESERVE) / 2;
        return new ConnectionCap(configured, (int) Math.max(1, Math.min(configured, fits)), limit, needed);
    }

    /** This process's, now: {@link Descriptors#limit()} and {@link Descriptors#open()}. Lists a directory. */
    public static ConnectionCap now(int configured) {
        return of(configured, Descriptors.limit(), Descriptors.open());
    }

    /** Whether the limit lowered {@code max_connections}. */
    public boolean lowered() {
        return effective < configured;
    }

    /** The line that says so, when it did: what is configured, the limit, what is served, what limit it needs. */
    public String warning() {
        return "limits.max_connections " + configured + " needs an open-files limit of " + needed
                + " (2 per client connection, its own and its backend's, + " + (needed - 2L * configured - RESERVE)
                + " open + " + RESERVE + " kept for health checks, admin, gossip and idle backend connections), but"
                + " the limit is " + limit + ": at most " + effective + " client connections are served at once, further"
                + " ones are closed as over max_connections. Raise the limit to " + needed
                + " (LimitNOFILE, ulimit -n) or lower limits.max_connections";
    }
}
