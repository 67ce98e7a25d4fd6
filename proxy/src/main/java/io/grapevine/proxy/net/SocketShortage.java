package io.grapevine.proxy.net;

import java.io.IOException;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;

/**
 * One kind of socket (health checks', backend connects') that the process could not open for a reason of its own
 * ({@link Descriptors#localShortage}: no descriptor, no socket memory, no local port), told to the operator once per
 * episode: one WARN line at the first such failure after sockets opened, one INFO line when they open again. Not one
 * line per failure: a flood holds the process at its limit for as long as it lasts.
 *
 * <p>An episode ends at the first socket opened {@link #quietNanos} or more after its last failure, not at the first
 * one: at the limit, each descriptor a closing connection frees is taken by the next socket, and sockets open and
 * fail by turns; ending the episode at each would log a pair of lines for each.
 *
 * <p>Any thread, lock-free. The caller classifies the failure (on its failure path only); {@link #opened} costs one
 * volatile read when there is no episode. The line that starts an episode reads the limit and counts the open
 * descriptors ({@link Descriptors#open} lists a directory): once per episode, never per failure.
 */
public final class SocketShortage {

    /** How long sockets must open without a failure for an episode to end. */
    public static final long QUIET_NANOS = TimeUnit.SECONDS.toNanos(5);

    private final Logger log;
    private final String sockets;
    private final String meanwhile;
    private final long quietNanos;
    private final AtomicBoolean short_ = new AtomicBoolean();
    /** {@link System#nanoTime} of the episode's last failure. */
    private volatile long lastFailureNanos;
    private volatile long startNanos;

    /**
     * @param log        where the lines go
     * @param sockets    what could not be opened, as the line's subject ("Health checks", "Backend connects")
     * @param meanwhile  what happens meanwhile, a sentence
     * @param quietNanos see {@link #QUIET_NANOS}
     */
    public SocketShortage(Logger log, String sockets, String meanwhile, long quietNanos) {
        this.log = log;
        this.sockets = sockets;
        this.meanwhile = meanwhile;
        this.quietNanos = quietNanos;
    }

    /**
     * A socket could not be opened for a reason of the proxy's own ({@code cause}, which
     * {@link Descriptors#localShortage} said so of). Logs the episode's line if it starts one, by the first failure's
     * kind.
     */
    public void failed(Throwable cause) {
        long now = System.nanoTime();
        lastFailureNanos = now;
        if (!short_.get() && short_.compareAndSet(false, true)) {
            startNanos = now;
            if (Descriptors.noLocalPort(cause)) {
                log.warn("{} cannot open sockets: no local port is free for the connect (cannot assign requested"
                                + " address: every port of net.ipv4.ip_local_port_range is taken towards that server,"
                                + " by open connections or ones in TIME_WAIT). {} Keep backend connections alive (the"
                                + " backends' keep-alive, limits.max_idle_per_server), widen"
                                + " net.ipv4.ip_local_port_range, or serve from more backend addresses.",
                        sockets, meanwhile);
                return;
            }
            long limit = Descriptors.limit();
            long open = Descriptors.open();
            log.warn("{} cannot open sockets: the process is out of file descriptors ({}; open-files limit {}, {}). {}"
                            + " Raise the limit (LimitNOFILE= in the systemd unit, ulimit -n) or lower"
                            + " limits.max_connections (each proxied connection holds two descriptors).",
                    sockets, reason(cause), limit > 0 ? limit : "unknown",
                    open >= 0 ? open + " open" : "no descriptor left to count those open", meanwhile);
        }
    }

    /** A socket was opened: ends the episode, if any, once its failures stopped long enough. */
    public void opened() {
        if (short_.get()) {
            long now = System.nanoTime();
            if (now - lastFailureNanos >= quietNanos && short_.compareAndSet(true, false)) {
                log.info("{} open sockets again; the shortage lasted {} s", sockets,
                        TimeUnit.NANOSECONDS.toSeconds(lastFailureNanos - startNanos));
            }
        }
    }

    /** Whether an episode is under way. */
    public boolean isShort() {
        return short_.get();
    }

    /**
     * What a failure's record says: {@code no socket: too many open files (limit 1024)}, {@code no socket: no local
     * port free (cannot assign requested address)}.
     */
    public String detail(Throwable cause) {
        if (Descriptors.noLocalPort(cause)) {
            return "no socket: " + reason(cause);
        }
        long limit = Descriptors.limit();
        return "no socket: " + reason(cause) + (limit > 0 ? " (limit " + limit + ")" : "");
    }

    /**
     * The system's words for the failure ({@code too many open files}): the text after the last colon of the first
     * I/O error of the chain (Netty's native {@code newSocketStream(..) failed: Too many open files}, the JDK's
     * {@code Too many open files}).
     */
    static String reason(Throwable cause) {
        if (Descriptors.noLocalPort(cause)) {
            return "no local port free (cannot assign requested address)"; // its text ends with the server's address
        }
        Throwable t = cause;
        for (int i = 0; t != null && i < 8; i++, t = t.getCause()) {
            if (t instanceof IOException && t.getMessage() != null) {
                String m = t.getMessage();
                return m.substring(m.lastIndexOf(':') + 1).strip().toLowerCase(Locale.ROOT);
            }
        }
        return "too many open files";
    }
}
