package io.grapevine.proxy.table;

import io.grapevine.proxy.config.HealthCheckConfig;
import io.grapevine.proxy.config.PoolPolicy;
import io.grapevine.proxy.config.ServerSpec;
import io.grapevine.proxy.lb.Endpoint;
import io.grapevine.proxy.lb.LoadWatch;
import io.grapevine.proxy.lb.XxHash64;
import io.grapevine.proxy.stats.HealthCheckResult;
import io.grapevine.proxy.stats.ServerStats;
import io.grapevine.proxy.stats.StateHistory;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One backend server with its identity: the same object lives on from table generation to generation
 * for as long as a server with the same {@link ServerSpec#key()} stays in the table, so its counters,
 * health and pooled connections survive swaps.
 *
 * <p>Slow start: a server that joins a pool which had servers, or comes back (health check up, passive mark-down
 * over, admin state back to up), warms up: its effective weight grows linearly from a sixteenth of its weight to
 * all of it over its pool's {@code slow_start_ms}.
 *
 * <p>Connection limit: with a {@code max_conn}, a request needs one of the server's slots (its in-flight count
 * below the limit, taken by a compare-and-set, so no race lets one more in); a slot given back while requests wait
 * in the pool's {@link PoolQueue} goes to the oldest of them.
 *
 * <p>Passive health: after {@code max_fails} failed requests in a row the server is ejected, for longer each time it
 * happens again, and only while few enough servers of its pool are (see {@link Ejection}).
 *
 * <p>Threading: {@link #spec} is replaced by the table publisher; health fields are written by the
 * health checker (active) and by event loops (passive) and read by every event loop when picking; the
 * {@link RuntimeOverride} is set by {@link TableHolder} (admin API) and read on every pick. The slot count is an
 * atomic shared by every event loop; the ejection bookkeeping is guarded by the monitor of its {@link PoolState}.
 */
public final class Server implements Endpoint {

    private static final Logger log = LoggerFactory.getLogger(Server.class);

    private final String key;
    /** {@link Endpoint#keyHash()}, computed when first asked for (hashing pools only); 0: not yet. */
    private volatile long keyHash;
    private final long stickyId;
    private final InetSocketAddress address;
    private final ServerStats stats = new ServerStats();
    /** The pool's state across generations; a server never changes pools (the pool is part of its key). */
    private final PoolState pool;
    /** Reads the state for the server's history, and tells its changes to the timeline. */
    private final StateRecorder stateRecorder = new StateRecorder();

    private volatile ServerSpec spec;
    /** {@code spec.maxConn()}, read on every pick: 0 is no limit. */
    private volatile int maxConn;
    private volatile boolean removed;
    /** The operator's runtime state and weight; kept by {@link TableHolder} across generations. */
    private volatile RuntimeOverride override = RuntimeOverride.NONE;

    /** Active health: the last rise/fall verdict of the health checker. Starts up, as in HAProxy. */
    private volatile boolean activeUp = true;
    /** Passive health: no requests until this {@link System#nanoTime()}; 0 when not marked down. */
    private volatile long passiveDownUntil;
    private final AtomicInteger consecutiveFailures = new AtomicInteger();
    /** Ejections in a row, decayed while the server behaves (see {@link Ejection}); guarded by the pool's monitor. */
    private volatile int ejectionCount;
    /** When the last ejection ended or will end; guarded by the pool's monitor. */
    private long returnedNanos;
    /** Ejected, and its return not logged yet; guarded by the pool's monitor. */
    private boolean ejected;
    /** How long the last ejection lasted; guarded by the pool's monitor. */
    private long ejectionNanos;
    /**
     * An ejection max_ejected_percent prevented was logged, and the server was neither ejected nor answered since.
     * Set under the pool's monitor; cleared there, or by the event loop of a response that ends the failure streak.
     */
    private volatile boolean preventionLogged;
    /**
     * Passive health of other proxies of the cluster: no requests until this {@link System#nanoTime()}; 0: none.
     * Written under the pool's monitor: on the table thread ({@link PoolState#markDownByPeers}), or cleared on an event
     * loop by an ejection of this proxy's own that takes its place ({@link PoolState#eject}); read on every pick.
     */
    private volatile long peerDownUntil;

    /** Where changes of load and availability are reported (leastconn over a large pool); null: nowhere. */
    private volatile LoadWatch.Handle loadWatch;

    /**
     * The Set-Cookie lines naming this server under the sticky policy of its pool's latest generation; written by the
     * table publisher, read by event loops ({@link #renderedSetCookie}). Immutable once published.
     */
    private volatile CookieLines cookieLines;

    /** The Set-Cookie lines naming a server under {@code of}: {@code [plain, secure]}. */
    private record CookieLines(PoolPolicy.Sticky of, byte[][] lines) {
    }

    /** Slow start of this server's pool; 0: none. Written by the table publisher. */
    private volatile long slowStartNanos;
    /** When the server last became available again ({@link System#nanoTime()}); 0: not since it was created. */
    private volatile long availableSinceNanos;

    /**
     * What each event loop keeps of this server (its idle connections), by loop index: slot {@code i} is read and
     * written by event loop {@code i} only, so plain array stores suffice; null until that loop keeps something.
     */
    private final Object[] perLoop;

    Server(ServerSpec spec, InetSocketAddress address, long stickyId, PoolState pool, int loopCount) {
        this.perLoop = new Object[loopCount];
        this.key = spec.key();
        this.spec = spec;
        this.maxConn = spec.maxConn();
        this.address = address;
        this.stickyId = stickyId;
        this.pool = pool;
    }

    public String key() {
        return key;
    }

    @Override
    public long keyHash() {
        long h = keyHash;
        if (h == 0) {
            h = XxHash64.hash(key, 0);
            keyHash = h; // racing threads compute the same value
        }
        return h;
    }

    public ServerSpec spec() {
        return spec;
    }

    /** Event loop {@code loop}'s state for this server, or null; on that loop only (see {@link #perLoop}). */
    public Object loopState(int loop) {
        return perLoop[loop];
    }

    /** Sets event loop {@code loop}'s state for this server; on that loop only. */
    public void setLoopState(int loop, Object state) {
        perLoop[loop] = state;
    }

    /** A new generation's spec; an admin state or weight that lets requests in again starts a slow start. */
    void updateSpec(ServerSpec newSpec, long nowNanos) {
        boolean wasAdminUp = adminUp(spec);
        this.spec = newSpec;
        this.maxConn = newSpec.maxConn();
        if (!wasAdminUp && adminUp(newSpec)) {
            startSlowStart(nowNanos);
        }
        loadChanged();
        noteState(nowNanos, System.currentTimeMillis());
    }

    private static boolean adminUp(ServerSpec s) {
        return s.state() == ServerSpec.AdminState.UP && s.weight() > 0;
    }

    /**
     * The server's opaque id in sticky-session cookies: a keyed hash of {@link #key()}, the same for as long as
     * the server is in the table (and on every proxy with the same secret); it does not reveal the address.
     */
    public long stickyId() {
        return stickyId;
    }

    public String name() {
        return spec.name();
    }

    /**
     * The {@code Set-Cookie} lines that name this server under {@code sticky}, plain and secure
     * ({@link ServerPool#setCookie}), rendered once per sticky policy. On the publishing thread.
     */
    byte[][] setCookieLines(PoolPolicy.Sticky sticky) {
        CookieLines c = cookieLines;
        if (c == null || !sticky.equals(c.of())) {
            c = new CookieLines(sticky, new byte[][] {ServerPool.setCookieLine(sticky, stickyId, false),
                    ServerPool.setCookieLine(sticky, stickyId, true)});
            cookieLines = c;
        }
        return c.lines();
    }

    /**
     * The {@code Set-Cookie} line naming this server under {@code sticky} as the table publisher rendered it for a
     * generation of its pool, or {@code null} when none was rendered under that policy. Any thread; the array is
     * shared: do not modify it.
     */
    byte[] renderedSetCookie(PoolPolicy.Sticky sticky, boolean secure) {
        CookieLines c = cookieLines;
        return c == null || !sticky.equals(c.of()) ? null : c.lines()[secure ? 1 : 0];
    }

    public InetSocketAddress address() {
        return address;
    }

    public ServerStats stats() {
        return stats;
    }

    /** What the server's pool keeps across generations: its queue, its counters. */
    public PoolState poolState() {
        return pool;
    }

    /** The weight in force: the runtime override if the operator set one, else the configured or announced one. */
    @Override
    public int weight() {
        int w = override.weight();
        return w >= 0 ? w : spec.weight();
    }

    /** The operator's runtime settings (admin API); {@link RuntimeOverride#NONE} when there are none. */
    public RuntimeOverride runtimeOverride() {
        return override;
    }

    /** Sets the operator's runtime settings; one that lets requests in again starts a slow start. */
    void setRuntimeOverride(RuntimeOverride o, long nowNanos) {
        boolean wasIn = override.state() == RuntimeState.READY && weight() > 0;
        override = o;
        if (!wasIn && o.state() == RuntimeState.READY && weight() > 0) {
            startSlowStart(nowNanos);
        }
        loadChanged();
        noteState(nowNanos, System.currentTimeMillis());
    }

    /**
     * The weight balancing uses now, in sixteenths: during slow start it grows linearly from {@code weight()}
     * sixteenths to {@code weight() * 16} (HAProxy's ramp, {@code (now - since) / slowstart}, rounded up); after, the
     * full weight. Called on every pick: two volatile reads when no ramp is configured.
     */
    @Override
    public int effectiveWeight(long nowNanos) {
        int weight = weight();
        int full = weight * WEIGHT_SCALE;
        long ramp = slowStartNanos;
        if (ramp == 0) {
            return full;
        }
        long since = availableSinceNanos;
        long passiveUntil = passiveDownUntil;
        if (passiveUntil != 0 && nowNanos - passiveUntil >= 0 && (since == 0 || passiveUntil - since > 0)) {
            since = passiveUntil; // back from a passive mark-down: warming up since it ended
        }
        if (since == 0) {
            return full;
        }
        long elapsed = nowNanos - since;
        if (elapsed >= ramp) {
            return full;
        }
        if (elapsed <= 0) {
            return weight;
        }
        return (int) Math.max(weight, (full * elapsed + ramp - 1) / ramp);
    }

    /** Whether the server is warming up now (its effective weight is below its weight). */
    public boolean isWarmingUp(long nowNanos) {
        return effectiveWeight(nowNanos) < weight() * WEIGHT_SCALE;
    }

    /** Sets the slow start of the pool; a change applies to a ramp under way too. */
    void setSlowStart(long slowStartMillis) {
        long nanos = TimeUnit.MILLISECONDS.toNanos(slowStartMillis);
        if (slowStartNanos != nanos) {
            slowStartNanos = nanos;
            loadChanged();
        }
    }

    /** The server just became available again (joined, or recovered): its weight ramps from now. */
    public void startSlowStart(long nowNanos) {
        availableSinceNanos = nowNanos == 0 ? 1 : nowNanos;
        loadChanged();
    }

    @Override
    public int inFlight() {
        return stats.inFlight.get();
    }

    @Override
    public void watchLoad(LoadWatch.Handle handle) {
        loadWatch = handle;
    }

    /**
     * Tells the pool's balancers that the in-flight count, availability or weight changed, if they keep servers
     * ordered by load. One volatile read when they do not. Any thread.
     */
    void loadChanged() {
        LoadWatch.Handle h = loadWatch;
        if (h != null) {
            h.changed();
        }
    }

    // ---------------------------------------------------------------- connection limit (max_conn)

    /** The most requests the server is given at once; 0: no limit. */
    public int maxConn() {
        return maxConn;
    }

    /** At its {@code max_conn}: balancers pass it over. One volatile read when it has no limit. */
    @Override
    public boolean isFull() {
        int max = maxConn;
        return max > 0 && stats.inFlight.get() >= max;
    }

    /** More requests in flight than its limit allows (the limit was lowered while they ran). */
    boolean isOverLimit() {
        int max = maxConn;
        return max > 0 && stats.inFlight.get() > max;
    }

    /**
     * Takes one of the server's slots for a request: counts it in flight, unless the server is at its
     * {@code max_conn}. A compare-and-set on the in-flight count, so however many event loops try at once, no more
     * than {@code max_conn} succeed. Without a limit it always succeeds. The caller gives the slot back exactly
     * once, with {@link #releaseSlot}.
     */
    public boolean tryAcquireSlot() {
        AtomicInteger n = stats.inFlight;
        int max = maxConn;
        if (max <= 0) {
            n.incrementAndGet();
            loadChanged();
            return true;
        }
        for (;;) {
            int c = n.get();
            if (c >= max) {
                return false;
            }
            if (n.compareAndSet(c, c + 1)) {
                loadChanged();
                return true;
            }
        }
    }

    /**
     * Gives back a slot taken with {@link #tryAcquireSlot} (or handed over by the pool's queue). While requests wait
     * in the pool's queue the slot goes straight to the oldest that may use this server, which resumes on its own
     * event loop; otherwise the in-flight count goes down. Any thread.
     */
    public void releaseSlot() {
        PoolQueue queue = pool.queue();
        if (queue.isEmpty()) {
            stats.inFlight.decrementAndGet();
            loadChanged();
            if (!queue.isEmpty()) {
                queue.dispatch(); // a request queued while this slot was being freed: it may have missed it
            }
            return;
        }
        queue.handOver(this);
    }

    /** Whether a new request may be sent here now. Called on every pick. */
    @Override
    public boolean isAvailable(long nowNanos) {
        return override.state() == RuntimeState.READY && spec.state() == ServerSpec.AdminState.UP && serves(nowNanos);
    }

    /**
     * Whether a request that names this server in its sticky cookie may go here: as {@link #isAvailable}, except
     * that a draining server, whether its agent announced it or the operator drained it at run time, still takes
     * the clients it has (HAProxy's drain: no new clients, sticky ones served). Maintenance, weight 0, health
     * and removal exclude it all the same.
     */
    public boolean takesStickyRequests(long nowNanos) {
        return override.state() != RuntimeState.MAINT && spec.state() != ServerSpec.AdminState.DOWN
                && serves(nowNanos);
    }

    /** In the table, with a weight, up by health checks and not marked down by failed requests. */
    private boolean serves(long nowNanos) {
        if (weight() == 0 || !activeUp || removed) {
            return false;
        }
        return isNotPassivelyDown(nowNanos);
    }

    private boolean isNotPassivelyDown(long nowNanos) {
        long until = passiveDownUntil;
        long peer = peerDownUntil;
        return (until == 0 || nowNanos - until >= 0) && (peer == 0 || nowNanos - peer >= 0);
    }

    /**
     * When this proxy's own passive mark-down of the server ends ({@link System#nanoTime()}); 0 when it is not
     * marked down by its own failed requests (what other proxies said does not count). Any thread.
     */
    public long ownPassiveDownUntil(long nowNanos) {
        long until = passiveDownUntil;
        return until != 0 && nowNanos - until < 0 ? until : 0;
    }

    /**
     * Other proxies of the cluster found the server failing (their passive health, shared by gossip): no
     * requests until {@code untilNanos} ({@link System#nanoTime()}), 0 when none says so any more. Set by
     * {@link PoolState#markDownByPeers} on the table thread, read on every pick. A server back from it warms up (slow
     * start) as from a passive mark-down of this proxy's own, since the word ran out or now, when it was withdrawn
     * earlier. A change is told to the balancers that keep servers ordered by load, and to the pool's queue: a server
     * back serves the requests waiting at once, and those its sticky cookie tied to a server now found failing may go
     * to the others. Sets it as it is, whatever max_ejected_percent says (tests of this package).
     */
    void setPeerDownUntil(long untilNanos) {
        if (putPeerDownUntil(untilNanos)) {
            peerDownChanged();
        }
    }

    /**
     * Sets the peer mark (see {@link #setPeerDownUntil}) without telling anyone yet; under the pool's monitor.
     *
     * @return whether it changed: then the caller calls {@link #peerDownChanged}, outside the monitor
     */
    boolean putPeerDownUntil(long untilNanos) {
        long before = peerDownUntil;
        if (before == untilNanos) {
            return false;
        }
        peerDownUntil = untilNanos;
        if (before != 0 && untilNanos == 0) {
            long now = System.nanoTime();
            startSlowStart(now - before >= 0 ? before : now);
        }
        return true;
    }

    /** The peer mark changed: the balancers and the pool's queue are told. Outside the pool's monitor. */
    void peerDownChanged() {
        loadChanged();
        noteState();
        pool.queue().dispatch();
    }

    /** Marked down on another proxy's word until a moment still to come. Any thread. */
    boolean isPeerDown(long nowNanos) {
        long peer = peerDownUntil;
        return peer != 0 && nowNanos - peer < 0;
    }

    /**
     * The state shown on the admin pages: up, down, draining (announced, or drained at run time), maint (set
     * at run time, or weight 0), removed.
     */
    public String stateName(long nowNanos) {
        if (removed) {
            return "removed";
        }
        RuntimeOverride o = override;
        if (o.state() == RuntimeState.MAINT) {
            return "maint";
        }
        ServerSpec s = spec;
        if (s.state() == ServerSpec.AdminState.DRAINING || o.state() == RuntimeState.DRAIN) {
            return "draining";
        }
        if (s.state() == ServerSpec.AdminState.DOWN) {
            return "down";
        }
        if (!activeUp) {
            return "down";
        }
        if (!isNotPassivelyDown(nowNanos)) {
            return "down";
        }
        return weight() == 0 ? "maint" : "up";
    }

    /**
     * Records the state the server is in now in its history, and a change on the timeline with its cause (see
     * {@link StateHistory}): called by whoever changed what the state is made of, right after the change (health
     * checks, an ejection made or cleared, gossip's word, other proxies' findings, the runtime API), and every second
     * by the admin thread's collector. A change is recorded for the pool too, after the server's history's monitor is
     * left. Any thread; takes the history's monitor, never on a request's path.
     */
    public void noteState(long nowNanos, long nowMillis) {
        if (stats.state.record(stateRecorder, nowNanos, nowMillis, stateRecorder)) {
            pool.noteState(nowNanos, nowMillis);
        }
    }

    /** When the server's state now ends by itself (a mark-down that runs out); 0: it does not. Any thread. */
    long stateChangesAt(long nowNanos) {
        return stateRecorder.changesAt(nowNanos);
    }

    private void noteState() {
        noteState(System.nanoTime(), System.currentTimeMillis());
    }

    /** The server's state for its history, and its changes for the timeline; under the history's monitor. */
    private final class StateRecorder implements StateHistory.Source, StateHistory.Changes {
        @Override
        public String stateAt(long nowNanos) {
            return stateName(nowNanos);
        }

        /** While the server is down by mark-downs alone (its own ejection, other proxies' findings): the end of both. */
        @Override
        public long changesAt(long nowNanos) {
            if (!stateName(nowNanos).equals("down") || spec.state() == ServerSpec.AdminState.DOWN || !activeUp) {
                return 0;
            }
            long own = passiveDownUntil;
            long peer = peerDownUntil;
            long end = own != 0 && nowNanos - own < 0 ? own : 0;
            if (peer != 0 && nowNanos - peer < 0 && (end == 0 || peer - end > 0)) {
                end = peer;
            }
            return end;
        }

        @Override
        public void changed(String before, String after, long atMillis) {
            if (after.equals("removed")) {
                return;
            }
            String cause = cause(after);
            pool.events().add(atMillis, after.equals("draining") ? "drain" : after, spec.name(), spec.pool(),
                    before + " \u2192 " + after + (cause == null ? "" : ": " + cause));
        }
    }

    /** Why the server is in {@code state}, as far as the proxy knows; null when there is nothing to add. */
    private String cause(String state) {
        if (!state.equals("down")) {
            return null;
        }
        if (!activeUp) {
            HealthCheckResult check = stats.lastCheck();
            return "health check" + (check == null ? "" : " " + check.status() + ", " + check.detail());
        }
        if (spec.state() == ServerSpec.AdminState.DOWN) {
            return "announced down";
        }
        String passive = stats.passiveDownReason();
        return passive == null ? null : "failed request: " + passive;
    }

    public boolean isRemoved() {
        return removed;
    }

    void markRemoved() {
        removed = true;
        loadChanged();
    }

    public boolean isActiveUp() {
        return activeUp;
    }

    /**
     * Called by the health checker when rise/fall flips the verdict; {@code reason}: what the check found, its
     * HAProxy status first ("L7STS, answered ..."). A server back up serves the requests waiting in
     * its pool's queue at once, before any newcomer can take its slots; a server gone down lets the requests that
     * waited for it alone (sticky ones) go to the others.
     */
    public void setActiveUp(boolean up, String reason) {
        if (activeUp != up) {
            if (up) {
                startSlowStart(System.nanoTime());
            }
            activeUp = up;
            loadChanged();
            log.info("server {} ({}) of pool {} is {} by health check: {}", spec.name(), address, spec.pool(),
                    up ? "UP" : "DOWN", reason);
            noteState();
            pool.queue().dispatch();
        }
    }

    /**
     * A request to this server failed in a way that says the server is unwell (connect refused, reset, timeout).
     * After {@code passive_health.max_fails} failures in a row it is ejected (see {@link Ejection}): no requests for
     * its ejection count times {@code fail_timeout_ms}, if {@code max_ejected_percent} of its pool allows it.
     * {@code max_fails} 0 turns passive health off. Failures of requests that were under way when it was ejected, or
     * when it left the table (it takes no new requests anyway, and its pool no longer counts it), change nothing.
     *
     * @return the ejection made, or {@code null}; the caller arranges for {@link PoolState#ejectionOver} to run when
     *         it ends, which logs the server's return
     */
    public Ejection recordFailure(long nowNanos, HealthCheckConfig passive, String reason) {
        int maxFails = passive.passiveMaxFails();
        if (maxFails <= 0 || removed || isEjected(nowNanos)) {
            return null;
        }
        if (consecutiveFailures.incrementAndGet() < maxFails) {
            return null;
        }
        Ejection ejection = pool.eject(this, nowNanos, passive, reason);
        if (ejection != null) {
            pool.queue().dispatch(); // the sticky requests that waited for this server alone go to the others
        }
        return ejection;
    }

    /**
     * Whether its last request failed in a way that counts against it (see {@link #recordFailure}) and no response has
     * come since: a failure streak, whether or not it led to an ejection. Any thread.
     */
    public boolean isFailing() {
        return consecutiveFailures.get() != 0;
    }

    /**
     * Ejected by this proxy's own failed requests until a moment still to come (what other proxies said does not
     * count: it ejects nothing here; see {@link #isPassivelyDown} for what uses up max_ejected_percent).
     */
    public boolean isEjected(long nowNanos) {
        return ownPassiveDownUntil(nowNanos) != 0;
    }

    /**
     * Out of rotation by passive health now: ejected by this proxy, or found failing by other proxies. What
     * {@code max_ejected_percent} counts.
     */
    boolean isPassivelyDown(long nowNanos) {
        return !isNotPassivelyDown(nowNanos);
    }

    /** Ejections in a row (1 after a first one), decayed while the server behaves; 0 when never ejected. */
    public int ejectionCount() {
        return ejectionCount;
    }

    /** Called by {@link PoolState#eject} under its monitor. */
    Ejection eject(long nowNanos, long baseNanos, long capNanos, String poolShare, String reason) {
        if (ejected && nowNanos - passiveDownUntil >= 0) {
            // The last ejection is over, and a request failed here before the task that logs its return ran.
            loggedReturn();
        }
        int count = Math.min(Ejection.decayedCount(ejectionCount, nowNanos - returnedNanos, baseNanos) + 1,
                Ejection.maxCount(baseNanos, capNanos));
        long duration = Ejection.durationNanos(count, baseNanos, capNanos);
        long until = nowNanos + duration;
        passiveDownUntil = until == 0 ? 1 : until;
        returnedNanos = passiveDownUntil;
        ejectionCount = count;
        ejectionNanos = duration;
        ejected = true;
        preventionLogged = false;
        consecutiveFailures.set(0);
        loadChanged();
        stats.ejections.increment();
        stats.recordPassiveDown(reason);
        log.warn("server {} ({}) ejected for {} ms, ejection {} in a row {}, after a failed request: {}", spec.name(),
                address, TimeUnit.NANOSECONDS.toMillis(duration), count, poolShare, reason);
        noteState(nowNanos, System.currentTimeMillis());
        return new Ejection(this, count, duration, passiveDownUntil);
    }

    /** Called by {@link PoolState#eject} under its monitor: max_ejected_percent keeps the server in. */
    void ejectionPrevented(int ejectedNow, int poolSize, int maxPercent, String reason) {
        if (!preventionLogged) {
            preventionLogged = true;
            log.warn("server {} ({}) not ejected after a failed request ({}): {} of {} servers of pool {} are ejected "
                    + "already, max_ejected_percent {}", spec.name(), address, reason, ejectedNow, poolSize,
                    spec.pool(), maxPercent);
        }
    }

    /** Called by {@link PoolState#ejectionOver} under its monitor. */
    void ejectionOver(Ejection e) {
        if (ejected && passiveDownUntil == e.untilNanos()) {
            loggedReturn();
        }
    }

    /**
     * The last ejection is over: logs the server's return, once, under the pool's monitor. Only a server that serves
     * again is said to be back in service: one its health checks took down meanwhile stays down, and the line says
     * so (their "UP by health check" line tells its return); one that left the table has no return to tell.
     */
    private void loggedReturn() {
        ejected = false;
        loadChanged();
        if (removed) {
            return;
        }
        long millis = TimeUnit.NANOSECONDS.toMillis(ejectionNanos);
        if (!activeUp) {
            log.info("server {} ({}) ejection {} in a row ({} ms) over, but it stays DOWN by health check", spec.name(),
                    address, ejectionCount, millis);
        } else {
            log.info("server {} ({}) back in service after ejection {} in a row ({} ms)", spec.name(), address,
                    ejectionCount, millis);
        }
    }

    /** Called by {@link PoolState#clearEjection} under its monitor. */
    void clearEjection(String why) {
        long until = passiveDownUntil;
        long now = System.nanoTime();
        if (until != 0 && now - until < 0) {
            startSlowStart(now); // it was still ejected: it comes back now
            returnedNanos = now;
            log.info("server {} ({}) back in service before the end of ejection {} in a row: {}", spec.name(),
                    address, ejectionCount, why);
        }
        ejected = false;
        passiveDownUntil = 0;
        loadChanged();
        noteState();
    }

    /**
     * A response arrived: the failure streak ends, and with it what was logged of it (the next prevented ejection is
     * logged again). Cheap when there was none (no write).
     */
    public void recordSuccess() {
        if (consecutiveFailures.get() != 0) {
            consecutiveFailures.set(0);
            preventionLogged = false;
        }
    }

    /** Ends an ejection early, when an active check proves the server answers again. */
    public void clearPassiveDown() {
        pool.clearEjection(this, "its health check passes");
    }

    @Override
    public String toString() {
        return spec.name() + "(" + address + ")";
    }
}
