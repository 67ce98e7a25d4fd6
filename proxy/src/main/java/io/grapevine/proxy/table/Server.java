package io.grapevine.proxy.table;

import io.grapevine.proxy.config.ServerSpec;
import io.grapevine.proxy.lb.Endpoint;
import io.grapevine.proxy.stats.ServerStats;
import java.net.InetSocketAddress;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One backend server with its identity: the same object lives on from table generation to generation
 * for as long as a server with the same {@link ServerSpec#key()} stays in the table, so its counters,
 * health and pooled connections survive swaps.
 *
 * <p>Threading: {@link #spec} is replaced by the table publisher; health fields are written by the
 * health checker (active) and by event loops (passive) and read by every event loop when picking.
 */
public final class Server implements Endpoint {

    private static final Logger log = LoggerFactory.getLogger(Server.class);

    private final String key;
    private final InetSocketAddress address;
    private final ServerStats stats = new ServerStats();

    private volatile ServerSpec spec;
    private volatile boolean removed;

    /** Active health: the last rise/fall verdict of the health checker. Starts up, as in HAProxy. */
    private volatile boolean activeUp = true;
    /** Passive health: no requests until this {@link System#nanoTime()}; 0 when not marked down. */
    private volatile long passiveDownUntil;
    private final AtomicInteger consecutiveFailures = new AtomicInteger();

    Server(ServerSpec spec, InetSocketAddress address) {
        this.key = spec.key();
        this.spec = spec;
        this.address = address;
    }

    public String key() {
        return key;
    }

    public ServerSpec spec() {
        return spec;
    }

    void updateSpec(ServerSpec newSpec) {
        this.spec = newSpec;
    }

    public String name() {
        return spec.name();
    }

    public InetSocketAddress address() {
        return address;
    }

    public ServerStats stats() {
        return stats;
    }

    @Override
    public int weight() {
        return spec.weight();
    }

    @Override
    public int inFlight() {
        return stats.inFlight.get();
    }

    /** Whether a new request may be sent here now. Called on every pick. */
    @Override
    public boolean isAvailable(long nowNanos) {
        ServerSpec s = spec;
        if (s.state() != ServerSpec.AdminState.UP || s.weight() == 0 || !activeUp || removed) {
            return false;
        }
        long until = passiveDownUntil;
        return until == 0 || nowNanos - until >= 0;
    }

    /** The state shown on the admin pages: up, down, draining, maint (weight 0), removed. */
    public String stateName(long nowNanos) {
        if (removed) {
            return "removed";
        }
        ServerSpec s = spec;
        if (s.state() == ServerSpec.AdminState.DRAINING) {
            return "draining";
        }
        if (s.state() == ServerSpec.AdminState.DOWN) {
            return "down";
        }
        if (!activeUp) {
            return "down";
        }
        long until = passiveDownUntil;
        if (until != 0 && nowNanos - until < 0) {
            return "down";
        }
        return s.weight() == 0 ? "maint" : "up";
    }

    public boolean isRemoved() {
        return removed;
    }

    void markRemoved() {
        removed = true;
    }

    public boolean isActiveUp() {
        return activeUp;
    }

    /** Called by the health checker when rise/fall flips the verdict. */
    public void setActiveUp(boolean up, String reason) {
        if (activeUp != up) {
            activeUp = up;
            log.info("server {} ({}) is {} by health check: {}", spec.name(), address, up ? "UP" : "DOWN", reason);
        }
    }

    /**
     * A request to this server failed in a way that says the server is unwell (connect refused, reset, timeout).
     * After {@code maxFails} consecutive failures it gets no requests for {@code failTimeoutNanos};
     * {@code maxFails} 0 turns passive marking off.
     */
    public void recordFailure(long nowNanos, int maxFails, long failTimeoutNanos, String reason) {
        if (maxFails <= 0) {
            return; // passive marking off
        }
        if (consecutiveFailures.incrementAndGet() >= maxFails) {
            consecutiveFailures.set(0);
            long until = nowNanos + failTimeoutNanos;
            boolean wasUp = passiveDownUntil == 0 || nowNanos - passiveDownUntil >= 0;
            passiveDownUntil = until == 0 ? 1 : until;
            if (wasUp) {
                stats.recordPassiveDown(reason);
                log.warn("server {} ({}) marked DOWN for {} ms after a failed request: {}", spec.name(), address,
                        failTimeoutNanos / 1_000_000, reason);
            }
        }
    }

    /** A response arrived: the failure streak ends. Cheap when there was none (no write). */
    public void recordSuccess() {
        if (consecutiveFailures.get() != 0) {
            consecutiveFailures.set(0);
        }
    }

    /** Clears a passive mark-down early, e.g. when an active check proves the server answers again. */
    public void clearPassiveDown() {
        passiveDownUntil = 0;
    }

    @Override
    public String toString() {
        return spec.name() + "(" + address + ")";
    }
}
