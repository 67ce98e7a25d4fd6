package io.grapevine.proxy.admin;

import io.grapevine.cluster.PeriodicPass;
import io.grapevine.proxy.stats.EventLog;
import io.grapevine.proxy.stats.History;
import io.grapevine.proxy.stats.LatencyRecorder;
import io.grapevine.proxy.stats.LatencyWindow;
import io.grapevine.proxy.stats.PoolStats;
import io.grapevine.proxy.stats.ProxyStats;
import io.grapevine.proxy.stats.ServerStats;
import io.grapevine.proxy.table.BackendTable;
import io.grapevine.proxy.table.PoolState;
import io.grapevine.proxy.table.Server;
import io.grapevine.proxy.table.ServerPool;
import io.grapevine.proxy.table.TableHolder;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.HdrHistogram.Histogram;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the admin pages show beyond raw counters, worked out off the data path: every second it takes the
 * latency histograms the event loops recorded (per server, per loop) and merges them into each server's,
 * each pool's and the proxy's since-start and last-minute histograms; computes request rates from the
 * counters; records every server's and pool's state (whose changes are recorded, and told to the timeline, where
 * they are made: see {@code StateHistory});
 * and appends one sample per pool to the charts' history.
 *
 * <p>A server that leaves the table is retired (the collector reads a table without it, or the table publisher hands
 * it over, whichever comes first; one never seen in a table is handed over all the same): requests it was serving
 * when it left finish there, so the collector goes on reading it, into its pool's totals, until a pass finds none
 * in flight after one that found none already; then its last latencies and counters go to its pool's totals and
 * everything the collector held for it is dropped, so churn leaves nothing behind.
 *
 * <p>Thread: one, the admin listener's control loop, which runs both {@link #tick} (scheduled) and the
 * endpoints that read the collector; nothing here is shared with another thread, so nothing is locked.
 */
public final class StatsCollector {

    private static final Logger log = LoggerFactory.getLogger(StatsCollector.class);

    /** Seconds of per-second history kept for the charts. */
    public static final int HISTORY_SECONDS = History.KEPT_SECONDS;
    /** The name of the proxy-wide series in the history. */
    public static final String ALL = "*";

    /** The collector's view of one server. */
    static final class ServerTrack {
        final Server server;
        final LatencyWindow total = new LatencyWindow();
        final LatencyWindow upstream = new LatencyWindow();
        long totalSum;
        long upstreamSum;
        /** Counters start at zero with the server, so the first rate counts from there. */
        long lastRequests;
        double requestRate;
        double requestRateMax;
        int lastWeight = -1;
        /** The generation of the last table read that has this server; a later one without it: it left. */
        long seenIn = -1;
        /**
         * Out of the table, the last pass found no request in flight here. An exchange gives its slot back before it
         * records its latency (on its loop, in the same task), so the books close at the next pass, not this one.
         */
        boolean idleSeen;

        ServerTrack(Server server) {
            this.server = server;
        }
    }

    /** A server's counters at one moment, or a pool's: the sum over its servers, present and retired. */
    static final class Counters {
        long requests;
        long responses1xx;
        long responses2xx;
        long responses3xx;
        long responses4xx;
        long responses5xx;
        long connectErrors;
        long responseErrors;
        long timeouts;
        long retried;
        long redispatched;
        long clientAborts;
        long bytesIn;
        long bytesOut;
        long connectionsOpened;
        long tunnels;
        long checksFailed;
        /** Latencies per Prometheus bucket, then their sum ({@link LatencyRecorder#addBucketCounts}). */
        final long[] totalBuckets = new long[LatencyRecorder.SERIES];
        final long[] upstreamBuckets = new long[LatencyRecorder.SERIES];

        void add(ServerStats s) {
            requests += s.requests.sum();
            responses1xx += s.responses1xx.sum();
            responses2xx += s.responses2xx.sum();
            responses3xx += s.responses3xx.sum();
            responses4xx += s.responses4xx.sum();
            responses5xx += s.responses5xx.sum();
            connectErrors += s.connectErrors.sum();
            responseErrors += s.responseErrors.sum();
            timeouts += s.timeouts.sum();
            retried += s.retried.sum();
            redispatched += s.redispatched.sum();
            clientAborts += s.clientAborts.sum();
            bytesIn += s.bytesIn.sum();
            bytesOut += s.bytesOut.sum();
            connectionsOpened += s.connectionsOpened.sum();
            tunnels += s.tunnels.sum();
            checksFailed += s.checksFailed.sum();
            s.latency.addBucketCounts(totalBuckets, upstreamBuckets);
        }

        void add(Counters o) {
            requests += o.requests;
            responses1xx += o.responses1xx;
            responses2xx += o.responses2xx;
            responses3xx += o.responses3xx;
            responses4xx += o.responses4xx;
            responses5xx += o.responses5xx;
            connectErrors += o.connectErrors;
            responseErrors += o.responseErrors;
            timeouts += o.timeouts;
            retried += o.retried;
            redispatched += o.redispatched;
            clientAborts += o.clientAborts;
            bytesIn += o.bytesIn;
            bytesOut += o.bytesOut;
            connectionsOpened += o.connectionsOpened;
            tunnels += o.tunnels;
            checksFailed += o.checksFailed;
            for (int i = 0; i < LatencyRecorder.SERIES; i++) {
                totalBuckets[i] += o.totalBuckets[i];
                upstreamBuckets[i] += o.upstreamBuckets[i];
            }
        }

        /**
         * What the servers failed: their 5xx and their failed attempts (HAProxy's econ and eresp). A pool's errors in its
         * history add the 503s it turned away itself ({@code PoolStats.shed}).
         */
        long errors() {
            return responses5xx + connectErrors + responseErrors;
        }

        /** Puts the counters into a row of {@code /stats.json} under their documented names. */
        void putInto(Map<String, Object> row) {
            row.put("requests", requests);
            row.put("responses_1xx", responses1xx);
            row.put("responses_2xx", responses2xx);
            row.put("responses_3xx", responses3xx);
            row.put("responses_4xx", responses4xx);
            row.put("responses_5xx", responses5xx);
            row.put("connect_errors", connectErrors);
            row.put("response_errors", responseErrors);
            row.put("timeouts", timeouts);
            row.put("retried", retried);
            row.put("redispatched", redispatched);
            row.put("client_aborts", clientAborts);
            row.put("connections_opened", connectionsOpened);
            row.put("tunnels", tunnels);
            row.put("bytes_in", bytesIn);
            row.put("bytes_out", bytesOut);
            row.put("checks_failed", checksFailed);
        }
    }

    /** The collector's view of one pool (by name: pools are rebuilt with every table generation). */
    static final class PoolTrack {
        final String name;
        final LatencyWindow total = new LatencyWindow();
        final LatencyWindow upstream = new LatencyWindow();
        /** Total latencies of the requests that ended since the last tick, for the history's percentiles. */
        final Histogram thisSecond = LatencyRecorder.newHistogram();
        final History history = new History(HISTORY_SECONDS);
        /** Counters of the servers that left the pool and have no request in flight any more. */
        final Counters retired = new Counters();
        /** Servers that left the pool with requests in flight: read until those end, then added to {@link #retired}. */
        final List<ServerTrack> leaving = new ArrayList<>();
        /** A pool's counters, and the proxy's, start at zero with their first server (or the process). */
        long lastRequests;
        long lastErrors;
        double requestRate;
        double requestRateMax;
        int inFlightMax;
        /** When a table last had the pool, on the monotonic clock. */
        long lastSeenNanos;

        PoolTrack(String name) {
            this.name = name;
            this.lastSeenNanos = System.nanoTime();
        }
    }

    private final TableHolder tables;
    private final ProxyStats proxyStats;
    private final EventLog events;
    private final long startedMillis = System.currentTimeMillis();
    private final long startedNanos = System.nanoTime();
    private final Map<Server, ServerTrack> servers = new IdentityHashMap<>();
    /**
     * Servers that left the table, handed over by the publishing thread; the next pass retires them (even one
     * that came and went between two passes: its requests still count for its pool).
     */
    private final Queue<Server> left = new ConcurrentLinkedQueue<>();
    private final Map<String, PoolTrack> pools = new LinkedHashMap<>();
    /** The proxy as a whole: latencies of every server, client request rate, the history of everything. */
    private final PoolTrack all = new PoolTrack(ALL);
    private final Histogram scratch = LatencyRecorder.newScratch();
    private final Histogram intervalTotal = LatencyRecorder.newHistogram();
    private final Histogram intervalUpstream = LatencyRecorder.newHistogram();
    /** The generation of the last table whose absent servers were found leaving. */
    private long scannedGeneration = -1;
    private long lastTickNanos;
    private long lastConnections;
    private double connectionRate;
    private double connectionRateMax;
    private ScheduledFuture<?> task;

    public StatsCollector(TableHolder tables, ProxyStats proxyStats) {
        this.tables = tables;
        this.proxyStats = proxyStats;
        this.events = tables.events();
        tables.onServersRemoved(left::addAll);
    }

    /**
     * Runs {@link #tick} every second on {@code thread}, which must be the thread the admin endpoints run on. A pass that
     * fails is logged, once for a run of failed passes, and the next one runs ({@link PeriodicPass}).
     */
    public void start(ScheduledExecutorService thread) {
        task = thread.scheduleAtFixedRate(new PeriodicPass(this::tick, log, "stats: a pass of the collector failed;"
                + " rates, the charts' history and state changes miss it until one succeeds"), 1, 1, TimeUnit.SECONDS);
    }

    public void stop() {
        if (task != null) {
            task.cancel(false);
        }
    }

    /** One pass: {@link #refresh}, then rates and one history sample per pool. */
    public void tick() {
        long nowNanos = System.nanoTime();
        long nowMillis = System.currentTimeMillis();
        BackendTable table = refresh(nowNanos, nowMillis);
        double seconds = lastTickNanos == 0 ? 1 : Math.max(0.001, (nowNanos - lastTickNanos) / 1e9);
        lastTickNanos = nowNanos;
        for (ServerTrack t : servers.values()) {
            long requests = t.server.stats().requests.sum();
            t.requestRate = Math.max(0, requests - t.lastRequests) / seconds;
            t.requestRateMax = Math.max(t.requestRateMax, t.requestRate);
            t.lastRequests = requests;
        }
        for (ServerPool pool : table.pools().values()) {
            PoolTrack p = pools.get(pool.name());
            Counters c = counters(p, pool.servers());
            int inFlight = 0;
            for (Server s : pool.servers()) {
                inFlight += s.stats().inFlight.get();
            }
            p.inFlightMax = Math.max(p.inFlightMax, inFlight);
            samplePool(p, c, pool.state().stats(), seconds, nowMillis);
        }
        for (BackendTable.AbsentPool pool : table.absentPools().values()) {
            if (pool.shownAt(nowNanos)) { // no server: what its servers did before they left, and its 503s since
                PoolTrack p = pools.get(pool.name());
                samplePool(p, counters(p, null), pool.state().stats(), seconds, nowMillis);
            }
        }
        long connections = proxyStats.connectionsAccepted.sum();
        connectionRate = (connections - lastConnections) / seconds;
        connectionRateMax = Math.max(connectionRateMax, connectionRate);
        lastConnections = connections;
        // What clients saw fail: the 5xx they were answered, and the responses cut after their head (counted in no
        // status class). A pool's are its servers' failed attempts (retried ones included) and its own 503s instead.
        sample(all, proxyStats.requests.sum(), proxyStats.responses5xx.sum() + proxyStats.abortedResponses.sum(),
                seconds, nowMillis);
        Set<String> kept = null;
        for (Iterator<PoolTrack> it = pools.values().iterator(); it.hasNext(); ) {
            PoolTrack p = it.next();
            if (nowNanos - p.lastSeenNanos > HISTORY_SECONDS * 1_000_000_000L) {
                if (kept == null) {
                    kept = new HashSet<>();
                    for (PoolState state : tables.poolStates()) {
                        kept.add(state.name());
                    }
                }
                // Gone from the table for longer than its history, and let go by the holder: a pool whose state is
                // kept (no swap came since to let it go) comes back with it, its queue and its 503s, and must find
                // its counters here too, its rates counted from its last second, not from zero.
                if (!kept.contains(p.name)) {
                    it.remove();
                }
            }
        }
    }

    /**
     * Closes one second of a pool: what it was asked (its servers' attempts, the requests it refused itself with a
     * 503 of the proxy's own, {@code shed}: no server, queue full or timed out, and those over its rate limit), and
     * what failed of that (its servers' failures, and those 503s: during an overload its clients get 503s while its
     * servers fail nothing; a 429 is the client's doing, no failure). Each error is one of the requests counted, so
     * the error rate never exceeds the request rate.
     */
    private static void samplePool(PoolTrack p, Counters c, PoolStats stats, double seconds, long nowMillis) {
        long shed = stats.shed();
        sample(p, c.requests + shed + stats.rateLimited.sum(), c.errors() + shed, seconds, nowMillis);
    }

    /** Closes one second of {@code p}: rates from the counters, percentiles of the requests that ended in it. */
    private static void sample(PoolTrack p, long requests, long errors, double seconds, long nowMillis) {
        p.requestRate = Math.max(0, requests - p.lastRequests) / seconds;
        p.requestRateMax = Math.max(p.requestRateMax, p.requestRate);
        double errorRate = Math.max(0, errors - p.lastErrors) / seconds;
        p.lastRequests = requests;
        p.lastErrors = errors;
        Histogram h = p.thisSecond;
        boolean any = h.getTotalCount() > 0;
        p.history.add(nowMillis, round2(p.requestRate), round2(errorRate),
                any ? LatencyWindow.millis(h.getValueAtPercentile(50)) : Double.NaN,
                any ? LatencyWindow.millis(h.getValueAtPercentile(99)) : Double.NaN);
        h.reset();
    }

    /**
     * Brings latencies and states up to now: drains every server's recorders, samples states, retires the
     * servers that left the table. The endpoints call it before they read, the tick every second.
     *
     * @return the table it looked at
     */
    public BackendTable refresh(long nowNanos, long nowMillis) {
        takeLeft(); // before the table is read: a server handed over is in none from now on
        BackendTable table = tables.current();
        long generation = table.generation();
        for (ServerPool pool : table.pools().values()) {
            PoolTrack p = pools.computeIfAbsent(pool.name(), PoolTrack::new);
            p.lastSeenNanos = nowNanos;
            for (Server s : pool.servers()) {
                ServerTrack t = servers.computeIfAbsent(s, ServerTrack::new);
                t.seenIn = generation;
                s.stats().collected = true;
                drain(t, p, nowNanos);
                observe(t, nowNanos, nowMillis);
            }
            pool.state().noteState(nowNanos, nowMillis);
        }
        for (BackendTable.AbsentPool pool : table.absentPools().values()) {
            if (pool.shownAt(nowNanos)) {
                PoolTrack p = pools.computeIfAbsent(pool.name(), PoolTrack::new);
                p.lastSeenNanos = nowNanos;
                pool.state().noteState(nowNanos, nowMillis);
            }
        }
        if (generation != scannedGeneration) {
            // The publisher swaps the table in before it hands over the servers it removed: one this table lacks has
            // left, handed over or not yet, and its counts must stay in its pool's from now on.
            for (Iterator<ServerTrack> it = servers.values().iterator(); it.hasNext(); ) {
                ServerTrack t = it.next();
                if (t.seenIn != generation) {
                    it.remove();
                    leave(t);
                }
            }
            scannedGeneration = generation;
        }
        followLeaving(nowNanos);
        return table;
    }

    /** Follows the servers the publisher handed over as they leave, unless a table without them was read already. */
    private void takeLeft() {
        Server s;
        while ((s = left.poll()) != null) {
            ServerTrack t = servers.remove(s);
            if (t != null) {
                leave(t);
            } else if (!s.stats().collected) {
                leave(new ServerTrack(s)); // never seen: everything it recorded is still in its recorders
            } // else seen in a table, and found gone from a later one: it is leaving already
        }
    }

    private void leave(ServerTrack t) {
        pools.computeIfAbsent(t.server.spec().pool(), PoolTrack::new).leaving.add(t);
    }

    /**
     * Moves what the servers that left the table recorded since the last pass into their pools; a server whose
     * requests have all ended (at this pass and the one before) has its counters added to its pool's and is let go.
     */
    private void followLeaving(long nowNanos) {
        for (PoolTrack p : pools.values()) {
            for (Iterator<ServerTrack> it = p.leaving.iterator(); it.hasNext(); ) {
                ServerTrack t = it.next();
                drain(t, p, nowNanos);
                if (t.server.stats().inFlight.get() > 0) {
                    t.idleSeen = false;
                } else if (t.idleSeen) {
                    it.remove();
                    p.retired.add(t.server.stats());
                } else {
                    t.idleSeen = true;
                }
            }
        }
    }

    private void drain(ServerTrack t, PoolTrack p, long nowNanos) {
        LatencyRecorder recorder = t.server.stats().latency;
        // The sums first: whatever they include was recorded before, so it is in the histograms drained next.
        long totalSum = recorder.totalSumMicros();
        long upstreamSum = recorder.upstreamSumMicros();
        intervalTotal.reset();
        intervalUpstream.reset();
        recorder.drainInto(intervalTotal, intervalUpstream, scratch);
        long totalDelta = totalSum - t.totalSum;
        long upstreamDelta = upstreamSum - t.upstreamSum;
        t.totalSum = totalSum;
        t.upstreamSum = upstreamSum;
        t.total.add(intervalTotal, totalDelta, nowNanos);
        t.upstream.add(intervalUpstream, upstreamDelta, nowNanos);
        p.total.add(intervalTotal, totalDelta, nowNanos);
        p.upstream.add(intervalUpstream, upstreamDelta, nowNanos);
        all.total.add(intervalTotal, totalDelta, nowNanos);
        all.upstream.add(intervalUpstream, upstreamDelta, nowNanos);
        if (intervalTotal.getTotalCount() > 0) {
            p.thisSecond.add(intervalTotal);
            all.thisSecond.add(intervalTotal);
        }
    }

    /**
     * Records the server's state (its changes are recorded where they are made; this catches the rest, and brings the
     * end of a mark-down that ran out to the timeline) and samples its weight, a change of it going to the timeline.
     */
    private void observe(ServerTrack t, long nowNanos, long nowMillis) {
        Server s = t.server;
        s.noteState(nowNanos, nowMillis);
        int weight = s.weight();
        if (t.lastWeight >= 0 && weight != t.lastWeight) {
            events.add("weight", s.name(), s.spec().pool(), "weight " + t.lastWeight + " \u2192 " + weight);
        }
        t.lastWeight = weight;
    }

    /** The counters of a pool: its {@code servers}' now (none: null), and those of the servers that left it. */
    Counters counters(PoolTrack track, List<Server> servers) {
        Counters c = new Counters();
        if (track != null) {
            c.add(track.retired);
            for (ServerTrack t : track.leaving) {
                c.add(t.server.stats());
            }
        }
        if (servers != null) {
            for (Server s : servers) {
                c.add(s.stats());
            }
        }
        return c;
    }

    private static double round2(double v) {
        return Math.round(v * 100) / 100.0;
    }

    // ---------------------------------------------------------------- what the report reads

    ServerTrack track(Server s) {
        return servers.computeIfAbsent(s, ServerTrack::new);
    }

    PoolTrack pool(String name) {
        return pools.computeIfAbsent(name, PoolTrack::new);
    }

    PoolTrack all() {
        return all;
    }

    /** Pools the collector tracks now (those of the table, and those gone for less than the history). */
    Map<String, PoolTrack> pools() {
        return pools;
    }

    /** Servers the collector tracks now (for tests: no more than the table holds, after a pass). */
    int trackedServers() {
        return servers.size();
    }

    /** Servers out of the table that the collector still reads (for tests: none once their requests ended). */
    int leavingServers() {
        int n = 0;
        for (PoolTrack p : pools.values()) {
            n += p.leaving.size();
        }
        return n;
    }

    long startedMillis() {
        return startedMillis;
    }

    /** Milliseconds since the start, on the monotonic clock (the wall clock may have been set meanwhile). */
    long uptimeMillis(long nowNanos) {
        return (nowNanos - startedNanos) / 1_000_000;
    }

    double connectionRate() {
        return connectionRate;
    }

    double connectionRateMax() {
        return connectionRateMax;
    }
}
