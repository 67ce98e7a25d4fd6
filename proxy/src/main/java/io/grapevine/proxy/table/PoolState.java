package io.grapevine.proxy.table;

import io.grapevine.proxy.config.HealthCheckConfig;
import io.grapevine.proxy.config.PoolPolicy;
import io.grapevine.proxy.config.RateLimit;
import io.grapevine.proxy.stats.EventLog;
import io.grapevine.proxy.stats.PoolStats;
import io.grapevine.proxy.stats.StateHistory;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * What a pool keeps across table generations, by its name, as a {@link Server} keeps its identity by its key: the
 * queue of requests waiting for a server ({@link PoolQueue}), the pool's counters, and the decision to eject one of
 * its servers (which must see the pool's other servers). {@link TableHolder} creates one per pool name it
 * publishes and keeps it while the pool is in the table and for a while after it left (a pool back soon finds its
 * queue and counters again); each generation hands it the pool's current servers and policy.
 *
 * <p>Threading: the servers and policy are written by the table publisher and read by every event loop; ejections
 * (the failure path, on event loops) and the marks of other proxies' findings (the table thread) are decided under
 * this object's monitor, so that together they keep to {@code max_ejected_percent}; the pick path takes no lock.
 */
public final class PoolState {

    private final String name;
    private final int id;
    private final PoolStats stats = new PoolStats();
    private final PoolQueue queue;
    /** Walks the round robin of the pool's balancers, generation after generation (see {@link ServerPool}). */
    private final AtomicInteger roundRobinTurns = new AtomicInteger();
    /**
     * The servers {@link #markDownByPeers} marked down on other proxies' word at its last pass, most preferred first
     * (whose marks give way last to an ejection of this proxy's own); guarded by this object's monitor.
     */
    private List<Server> peerMarked = List.of();
    private volatile List<Server> servers = List.of();
    private volatile PoolPolicy.Queue queuePolicy = PoolPolicy.Queue.DEFAULT;
    /**
     * The pool's clients and their use of its rate limit, or {@code null} when it has none. Kept across generations
     * while the limit stays the same, so that a reload forgets no client's use; a changed limit starts afresh.
     */
    private volatile RateLimiter rateLimiter;
    /** Told of every ejection made or cleared here (see {@link TableHolder#onHealthFindingsChanged}). */
    private final Runnable findingsChanged;
    /** The timeline, where its servers' changes of state are told (any thread, lock-free). */
    private final EventLog events;
    /** When the pool's state (up while a server of it is available) last changed, how often to down, how long. */
    private final StateHistory history = new StateHistory();
    private final StateRecorder stateRecorder = new StateRecorder();

    PoolState(String name, int id, Runnable findingsChanged, EventLog events) {
        this.name = name;
        this.id = id;
        this.queue = new PoolQueue(this, stats);
        this.findingsChanged = findingsChanged;
        this.events = events;
    }

    /** The stats page's timeline. */
    EventLog events() {
        return events;
    }

    /** The pool's {@code lastchg}, {@code chkdown} and {@code downtime}. */
    public StateHistory history() {
        return history;
    }

    /**
     * Records the pool's state now: called after one of its servers' changed (by the thread that changed it) and every
     * second by the admin thread's collector; a change goes to the timeline. Any thread; takes the history's monitor,
     * never a server's.
     */
    public void noteState(long nowNanos, long nowMillis) {
        history.record(stateRecorder, nowNanos, nowMillis, stateRecorder);
    }

    /** The pool's state for its history: up while a server is available; under the history's monitor. */
    private final class StateRecorder implements StateHistory.Source, StateHistory.Changes {
        @Override
        public String stateAt(long nowNanos) {
            for (Server s : servers) {
                if (s.isAvailable(nowNanos)) {
                    return "up";
                }
            }
            return "down";
        }

        /** While down: the first end of a mark-down of one of its servers. */
        @Override
        public long changesAt(long nowNanos) {
            long first = 0;
            for (Server s : servers) {
                long at = s.stateChangesAt(nowNanos);
                if (at != 0 && (first == 0 || at - first < 0)) {
                    first = at;
                }
            }
            return first;
        }

        @Override
        public void changed(String before, String after, long atMillis) {
            events.add(atMillis, after, "pool " + name, name, after.equals("up") ? "a server is available again"
                    : "no server of the pool is available: requests get 503");
        }
    }

    public String name() {
        return name;
    }

    /**
     * A small number, unique among the pools of this proxy and stable for its life (0, 1, 2, ... in order of first
     * appearance): per-loop state of a pool is kept in arrays at this index.
     */
    public int id() {
        return id;
    }

    public PoolStats stats() {
        return stats;
    }

    public PoolQueue queue() {
        return queue;
    }

    /** The round-robin counter of the pool's balancers, kept across generations. */
    AtomicInteger roundRobinTurns() {
        return roundRobinTurns;
    }

    /** The pool's servers in the table in force (empty once the pool left it). */
    public List<Server> servers() {
        return servers;
    }

    public PoolPolicy.Queue queuePolicy() {
        return queuePolicy;
    }

    /** The pool's rate limiter, or {@code null} when the pool limits no client's rate. */
    public RateLimiter rateLimiter() {
        return rateLimiter;
    }

    /**
     * A new generation: the pool's servers, queue settings and rate limit now, and its state with them (its last
     * server gone, or a first one come). On the publishing thread.
     */
    void update(List<Server> newServers, PoolPolicy.Queue newQueuePolicy, RateLimit newRateLimit) {
        servers = List.copyOf(newServers);
        queuePolicy = newQueuePolicy;
        RateLimiter limiter = rateLimiter;
        if (!newRateLimit.enabled()) {
            rateLimiter = null;
        } else if (limiter == null || !limiter.limit().equals(newRateLimit)) {
            rateLimiter = new RateLimiter(newRateLimit);
        }
        noteState(System.nanoTime(), System.currentTimeMillis());
    }

    /** The pool's rate limit in force ({@link RateLimit#OFF} when none). */
    RateLimit rateLimit() {
        RateLimiter limiter = rateLimiter;
        return limiter == null ? RateLimit.OFF : limiter.limit();
    }

    /**
     * Ejects {@code server} for its ejection count times the base time, if {@code max_ejected_percent} allows it
     * (see {@link Ejection}). The servers other proxies found failing count as ejected: they are out of rotation
     * here as much as those this proxy ejected, and without them each proxy of a cluster could eject its own share
     * of the pool, and every proxy hear of all of them. But this proxy's own ejections count first, as in
     * {@link #markDownByPeers}: when the findings of other proxies fill the limit and this proxy's own ejections
     * alone would allow this one, peer marks give way, the one {@link #markDownByPeers} preferred least first, so
     * that this proxy stops sending requests to a server it saw fail itself, while the pool stays within the limit.
     *
     * @return the ejection, or {@code null} when none was made (not allowed, or ejected already)
     */
    Ejection eject(Server server, long nowNanos, HealthCheckConfig passive, String reason) {
        List<Server> gaveWay = null;
        Ejection ejection;
        synchronized (this) {
            if (server.isEjected(nowNanos)) {
                return null; // another event loop ejected it a moment ago
            }
            int ejected = 0;
            int own = 0;
            List<Server> all = servers;
            for (Server s : all) {
                if (s != server && s.isPassivelyDown(nowNanos)) {
                    ejected++;
                    if (s.isEjected(nowNanos)) {
                        own++;
                    }
                }
            }
            int size = Math.max(all.size(), 1);
            int maxPercent = passive.passiveMaxEjectedPercent();
            if (!Ejection.allowed(ejected, size, maxPercent) && Ejection.allowed(own, size, maxPercent)) {
                int left = ejected;
                List<Server> giving = new ArrayList<>(2);
                for (int i = peerMarked.size() - 1; i >= 0 && !Ejection.allowed(left, size, maxPercent); i--) {
                    Server s = peerMarked.get(i);
                    if (s != server && !s.isRemoved() && !s.isEjected(nowNanos) && s.isPeerDown(nowNanos)) {
                        giving.add(s);
                        left--;
                    }
                }
                if (Ejection.allowed(left, size, maxPercent)) {
                    for (Server s : giving) {
                        s.putPeerDownUntil(0);
                    }
                    ejected = left;
                    gaveWay = giving;
                }
            }
            if (!Ejection.allowed(ejected, size, maxPercent)) {
                stats.ejectionsPrevented.increment();
                server.ejectionPrevented(ejected, size, maxPercent, reason);
                return null;
            }
            ejection = server.eject(nowNanos, TimeUnit.MILLISECONDS.toNanos(passive.passiveFailTimeoutMillis()),
                    TimeUnit.MILLISECONDS.toNanos(passive.passiveMaxEjectionMillis()),
                    "(" + (ejected + 1) + " of " + size + " servers of pool " + name + " ejected now)", reason);
        }
        if (gaveWay != null) {
            for (Server s : gaveWay) {
                s.peerDownChanged();
            }
        }
        findingsChanged.run();
        return ejection;
    }

    /**
     * Takes the pool's servers other proxies found failing out of rotation (their passive health, shared by gossip),
     * as far as {@code max_ejected_percent} allows: a finding is applied only while it keeps the servers passively
     * down here within the limit, as {@link #eject} allows an ejection ({@link Ejection#allowed}). This proxy's own
     * ejections count first and are never undone; then the servers marked down on a peer's word already, so that a
     * finding heard again on every gossip update does not change which server is kept in; then the others in the
     * order of {@code findings}. A server this proxy ejected itself takes the finding too and counts once. Every
     * other server of the pool loses any peer mark. Decided under this object's monitor, as {@link #eject} is, so
     * that an ejection made meanwhile on an event loop and a finding applied here never together pass the limit; the
     * balancers and the queue are told outside it.
     *
     * <p>Table thread only ({@code PassiveHealthSharing}), never on the pick path.
     *
     * @param findings   the pool's servers found failing, each to when ({@link System#nanoTime()}), preferred first
     * @param maxPercent {@code passive_health.max_ejected_percent}
     * @return the servers of {@code findings} not marked down because the pool reached its limit, in its order
     */
    public List<Server> markDownByPeers(Map<Server, Long> findings, int maxPercent, long nowNanos) {
        List<Server> heldBack = new ArrayList<>();
        List<Server> changed = new ArrayList<>();
        synchronized (this) {
            List<Server> all = servers;
            int size = Math.max(all.size(), 1);
            int down = 0;
            for (Server s : all) {
                if (s.isEjected(nowNanos)) {
                    down++;
                }
            }
            List<Server> order = new ArrayList<>(findings.size());
            List<Server> marked = new ArrayList<>(findings.size());
            for (Server s : findings.keySet()) {
                if (s.isEjected(nowNanos)) {
                    peerMark(s, findings.get(s), changed);
                } else if (s.isPeerDown(nowNanos)) {
                    order.add(s);
                }
            }
            for (Server s : findings.keySet()) {
                if (!s.isEjected(nowNanos) && !s.isPeerDown(nowNanos)) {
                    order.add(s);
                }
            }
            for (Server s : order) {
                if (Ejection.allowed(down, size, maxPercent)) {
                    down++;
                    peerMark(s, findings.get(s), changed);
                    marked.add(s);
                } else {
                    heldBack.add(s);
                    peerMark(s, 0, changed);
                }
            }
            for (Server s : all) {
                if (!findings.containsKey(s)) {
                    peerMark(s, 0, changed);
                }
            }
            peerMarked = marked;
        }
        for (Server s : changed) {
            s.peerDownChanged();
        }
        return heldBack;
    }

    private static void peerMark(Server s, long untilNanos, List<Server> changed) {
        if (s.putPeerDownUntil(untilNanos)) {
            changed.add(s);
        }
    }

    /**
     * An ejection's time is up: logs the server's return, unless it came back earlier or was ejected again, and lets
     * the server serve the requests waiting in the queue (outside the monitor: the queue takes its own lock).
     */
    public void ejectionOver(Ejection ejection) {
        synchronized (this) {
            ejection.server().ejectionOver(ejection);
        }
        queue.dispatch();
    }

    /** An active health check passes again: the server comes back now if it was ejected, and serves the queue. */
    void clearEjection(Server server, String why) {
        synchronized (this) {
            boolean wasEjected = server.isEjected(System.nanoTime());
            server.clearEjection(why);
            if (wasEjected) {
                findingsChanged.run();
            }
        }
        queue.dispatch();
    }
}
