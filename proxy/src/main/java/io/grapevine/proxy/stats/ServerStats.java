package io.grapevine.proxy.stats;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * Counters of one server, kept for as long as the server stays in the table (across generations).
 * Updated from every event loop without locks; read by the admin thread.
 */
public final class ServerStats {
    /** Requests sent to this server (attempts, retries included). */
    public final LongAdder requests = new LongAdder();
    public final LongAdder responses1xx = new LongAdder();
    public final LongAdder responses2xx = new LongAdder();
    public final LongAdder responses3xx = new LongAdder();
    public final LongAdder responses4xx = new LongAdder();
    public final LongAdder responses5xx = new LongAdder();
    /** Connection attempts refused, reset or timed out. */
    public final LongAdder connectErrors = new LongAdder();
    /** Responses that failed: reset or closed early, garbage, timeout. */
    public final LongAdder responseErrors = new LongAdder();
    public final LongAdder timeouts = new LongAdder();
    /** Attempts that failed here and were retried (here on a fresh connection, or elsewhere). */
    public final LongAdder retried = new LongAdder();
    /** Of {@link #retried}, those retried on another server (HAProxy's {@code wredis}). */
    public final LongAdder redispatched = new LongAdder();
    /** Exchanges on this server abandoned because the client went away before the response ended. */
    public final LongAdder clientAborts = new LongAdder();
    public final LongAdder bytesIn = new LongAdder();
    public final LongAdder bytesOut = new LongAdder();
    /** Upgrades this server accepted (101): tunnels, WebSockets mostly. */
    public final LongAdder tunnels = new LongAdder();
    /** Connections opened to this server. */
    public final LongAdder connectionsOpened = new LongAdder();
    /** Times failed requests ejected this server (passive health). */
    public final LongAdder ejections = new LongAdder();
    /** Requests in flight now (with a max_conn: the slots taken). */
    public final AtomicInteger inFlight = new AtomicInteger();
    /** The most requests ever in flight at once (HAProxy's {@code smax}). */
    public final AtomicInteger inFlightMax = new AtomicInteger();
    /** Request latencies, per event loop. */
    public final LatencyRecorder latency = new LatencyRecorder();

    /** What the active health checker last concluded, or null before its first check. */
    private volatile HealthCheckResult lastCheck;
    /** Checks that failed while the server was up (HAProxy's {@code chkfail}); not those that had no socket. */
    public final LongAdder checksFailed = new LongAdder();
    /** Why requests last marked the server down (passive health), and when; null when they never did. */
    private volatile String passiveDownReason;
    private volatile long passiveDownAtMillis;
    /** When the state changed, how often to down, how long down; see {@link StateHistory}. */
    public final StateHistory state = new StateHistory();
    /**
     * The admin thread's collector has read the server in a table (its history may hold a state before that: a change
     * is recorded where it is made). That thread only.
     */
    public boolean collected;

    /**
     * An attempt starts on the slot it took ({@code Server.tryAcquireSlot}, which counted it in flight): counts the
     * request and keeps the in-flight high-water mark. Event loops.
     */
    public void requestStarted() {
        requests.increment();
        int now = inFlight.get();
        if (now > inFlightMax.get()) {
            inFlightMax.accumulateAndGet(now, Math::max);
        }
    }

    public void countResponse(int status) {
        switch (status / 100) {
            case 1 -> responses1xx.increment();
            case 2 -> responses2xx.increment();
            case 3 -> responses3xx.increment();
            case 4 -> responses4xx.increment();
            default -> responses5xx.increment();
        }
    }

    /**
     * The health checker (its thread): one check concluded; {@code serverWasUp} by checks before it. A check that judged
     * nothing of the server ({@link HealthCheckResult#judgedServer}) is shown, not counted as failed.
     */
    public void recordCheck(HealthCheckResult result, boolean serverWasUp) {
        lastCheck = result;
        if (!result.ok() && result.judgedServer() && serverWasUp) {
            checksFailed.increment();
        }
    }

    public HealthCheckResult lastCheck() {
        return lastCheck;
    }

    /** Failed requests marked the server down (any thread; rare: once per mark-down). */
    public void recordPassiveDown(String reason) {
        passiveDownReason = reason;
        passiveDownAtMillis = System.currentTimeMillis();
    }

    public String passiveDownReason() {
        return passiveDownReason;
    }

    public long passiveDownAtMillis() {
        return passiveDownAtMillis;
    }
}
