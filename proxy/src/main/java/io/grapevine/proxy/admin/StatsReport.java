package io.grapevine.proxy.admin;

import io.grapevine.cluster.HostAndPort;
import io.grapevine.proxy.config.PoolPolicy;
import io.grapevine.proxy.config.RouteSpec;
import io.grapevine.proxy.config.ServerSpec;
import io.grapevine.proxy.net.DirectMemoryCap;
import io.grapevine.proxy.stats.EventLog;
import io.grapevine.proxy.stats.HealthCheckResult;
import io.grapevine.proxy.stats.LatencyMetrics;
import io.grapevine.proxy.stats.LatencyRecorder;
import io.grapevine.proxy.stats.LatencySeries;
import io.grapevine.proxy.stats.LatencyWindow;
import io.grapevine.proxy.stats.PoolStats;
import io.grapevine.proxy.stats.ProxyStats;
import io.grapevine.proxy.stats.ServerStats;
import io.grapevine.proxy.stats.StatsFormats;
import io.grapevine.proxy.table.BackendTable;
import io.grapevine.proxy.table.PoolState;
import io.grapevine.proxy.table.RuntimeOverride;
import io.grapevine.proxy.table.Server;
import io.grapevine.proxy.table.ServerPool;
import io.grapevine.proxy.table.TableHolder;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntSupplier;
import java.util.function.Supplier;

/**
 * Snapshots of the table and the counters as plain maps, for the admin endpoints (JSON, CSV, Prometheus, the
 * stats page). The shape of {@code /stats.json} is documented in docs/operations.md ("The stats document"):
 * flat rows of scalars per server and per pool, so that a field added here shows on the page and in tools
 * without further work.
 *
 * <p>Thread: the collector's (the admin listener's control loop).
 */
public final class StatsReport {

    private final TableHolder tables;
    private final ProxyStats proxyStats;
    private final StatsCollector collector;
    /** Client connections served at once, read at each report: it may be lower than {@code max_connections}. */
    private final IntSupplier maxConnections;
    /** The TLS listener's certificates and reload counters, in plain values; null without TLS. */
    private final Supplier<Map<String, Object>> tls;

    public StatsReport(TableHolder tables, ProxyStats proxyStats, StatsCollector collector, int maxConnections) {
        this(tables, proxyStats, collector, () -> maxConnections, null);
    }

    /**
     * @param maxConnections the client connections served at once ({@code connections_limit})
     * @param tls what the TLS listener serves ({@code ServerTls.report}), or null when there is none
     */
    public StatsReport(TableHolder tables, ProxyStats proxyStats, StatsCollector collector, IntSupplier maxConnections,
                       Supplier<Map<String, Object>> tls) {
        this.tables = tables;
        this.proxyStats = proxyStats;
        this.collector = collector;
        this.maxConnections = maxConnections;
        this.tls = tls;
    }

    /** The table holder the report reads (the runtime API writes to it). */
    public TableHolder tables() {
        return tables;
    }

    /**
     * {@code GET /table}: {"generation": N, "servers": [{name, host, port, source, state, weight, effective_weight,
     * pool, backup}], "pools": [{name, balance, sticky_cookie, slow_start_ms}], "routes": [{host, path_prefix, pool,
     * rate_limit}]}.
     */
    public Map<String, Object> table() {
        BackendTable table = tables.current();
        long now = System.nanoTime();
        List<Map<String, Object>> servers = new ArrayList<>();
        for (Server s : table.servers()) {
            servers.add(tableRow(s, now));
        }
        List<Map<String, Object>> absent = new ArrayList<>();
        for (TableHolder.StoredOverride o : tables.overridesOfAbsentServers()) {
            absent.add(absentRow(o));
        }
        List<Map<String, Object>> pools = new ArrayList<>();
        for (PoolView pool : pools(table, now)) {
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("name", pool.name());
            policy(row, pool.policy());
            row.put("servers", pool.servers().size());
            pools.add(row);
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("generation", table.generation());
        out.put("servers", servers);
        out.put("pools", pools);
        List<Map<String, Object>> routes = new ArrayList<>();
        for (RouteSpec r : table.routes()) {
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("host", r.host());
            row.put("path_prefix", r.pathPrefix());
            row.put("pool", r.pool());
            row.put("rate_limit", r.rateLimit().enabled() ? r.rateLimit().describe() : null);
            routes.add(row);
        }
        out.put("routes", routes);
        out.put("overrides_of_absent_servers", absent);
        return out;
    }

    /**
     * One server of {@code GET /table}: name, host, port, source, state, weight (in force), effective_weight (below
     * the weight while it warms up), pool, backup, max_conn (0: no limit), and
     * what the admin API set: admin_state (ready, drain, maint), configured_weight, weight_override (or null).
     */
    public static Map<String, Object> tableRow(Server s, long nowNanos) {
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("name", s.name());
        row.put("host", s.spec().host());
        row.put("port", s.spec().port());
        row.put("source", s.spec().source().word());
        row.put("state", s.stateName(nowNanos));
        row.put("weight", s.weight());
        row.put("effective_weight", effectiveWeight(s, nowNanos));
        row.put("pool", s.spec().pool());
        row.put("backup", s.spec().backup());
        row.put("max_conn", s.maxConn());
        RuntimeOverride o = s.runtimeOverride();
        row.put("admin_state", o.state().word());
        row.put("configured_weight", s.spec().weight());
        row.put("weight_override", o.hasWeight() ? o.weight() : null);
        return row;
    }

    /** An override kept for a server that is not in the table now: it applies when the server comes back. */
    public static Map<String, Object> absentRow(TableHolder.StoredOverride o) {
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("name", o.name());
        row.put("key", o.key());
        row.put("state", "absent");
        row.put("admin_state", o.override().state().word());
        row.put("weight_override", o.override().hasWeight() ? o.override().weight() : null);
        return row;
    }

    /** {@code GET /stats.json}: the proxy, one row per pool, one row per server. */
    public Map<String, Object> stats() {
        long nowNanos = System.nanoTime();
        long nowMillis = System.currentTimeMillis();
        return stats(collector.refresh(nowNanos, nowMillis), nowNanos, nowMillis);
    }

    /**
     * {@code GET /metrics}: the rows of {@link #stats} and the histograms of {@link #latencyMetrics} of one reading
     * (one refresh of one table), so that the servers and pools with counters are those with histograms even while
     * members come and go.
     */
    public String prometheus() {
        long nowNanos = System.nanoTime();
        long nowMillis = System.currentTimeMillis();
        BackendTable table = collector.refresh(nowNanos, nowMillis);
        return StatsFormats.prometheus(stats(table, nowNanos, nowMillis), latencyMetrics(table, nowNanos));
    }

    /** The rows of {@code table}, which {@link StatsCollector#refresh} returned at {@code nowNanos}. */
    private Map<String, Object> stats(BackendTable table, long nowNanos, long nowMillis) {
        List<Map<String, Object>> servers = new ArrayList<>();
        for (Server s : table.servers()) {
            servers.add(serverRow(s, nowNanos));
        }
        List<Map<String, Object>> pools = new ArrayList<>();
        for (PoolView pool : sortedPools(table, nowNanos)) {
            pools.add(poolRow(pool, nowNanos));
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("generation", table.generation());
        out.put("now_ms", nowMillis);
        out.put("started_ms", collector.startedMillis());
        out.put("window_s", LatencyWindow.WINDOW_MILLIS / 1000);
        out.put("proxy", proxyRow(nowNanos));
        out.put("pools", pools);
        out.put("servers", servers);
        if (tls != null) {
            out.put("tls", tls.get());
        }
        return out;
    }

    private Map<String, Object> proxyRow(long nowNanos) {
        ProxyStats p = proxyStats;
        StatsCollector.PoolTrack all = collector.all();
        Map<String, Object> proxy = new LinkedHashMap<>();
        proxy.put("uptime_s", collector.uptimeMillis(nowNanos) / 1000);
        proxy.put("connections_current", p.connectionsCurrent.get());
        proxy.put("connections_max", p.connectionsMax.get());
        proxy.put("connections_limit", maxConnections.getAsInt());
        proxy.put("connections_total", p.connectionsAccepted.sum());
        proxy.put("connection_rate", round2(collector.connectionRate()));
        proxy.put("connection_rate_max", round2(collector.connectionRateMax()));
        proxy.put("connections_refused", p.connectionsRefused.sum());
        proxy.put("connections_shed", p.connectionsShed.sum());
        proxy.put("http2_streams_shed", p.http2StreamsShed.sum());
        proxy.put("responses_compressed", p.responsesCompressed.sum());
        proxy.put("compression_bytes_in", p.compressionBytesIn.sum());
        proxy.put("compression_bytes_out", p.compressionBytesOut.sum());
        proxy.put("compressions_skipped", p.compressionsSkipped.sum());
        proxy.put("rate_limited", p.rateLimited.sum());
        proxy.put("redirected_to_https", p.redirectedToHttps.sum());
        proxy.put("proxy_protocol_rejected", p.proxyProtocolRejected.sum());
        proxy.put("accept_failures", p.acceptFailures.sum());
        proxy.put("direct_memory_used", DirectMemoryCap.usedNow());
        proxy.put("direct_memory_limit", DirectMemoryCap.limitNow());
        proxy.put("requests", p.requests.sum());
        proxy.put("request_rate", round2(all.requestRate));
        proxy.put("request_rate_max", round2(all.requestRateMax));
        proxy.put("responses_1xx", p.responses1xx.sum());
        proxy.put("responses_2xx", p.responses2xx.sum());
        proxy.put("responses_3xx", p.responses3xx.sum());
        proxy.put("responses_4xx", p.responses4xx.sum());
        proxy.put("responses_5xx", p.responses5xx.sum());
        proxy.put("bad_requests", p.badRequests.sum());
        proxy.put("client_timeouts", p.clientTimeouts.sum());
        proxy.put("local_502", p.status502.sum());
        proxy.put("local_503", p.status503.sum());
        proxy.put("local_504", p.status504.sum());
        proxy.put("local_503_no_socket", p.status503NoSocket.sum());
        proxy.put("retries", p.retries.sum());
        proxy.put("retries_denied", p.retriesDenied.sum());
        proxy.put("aborted_responses", p.abortedResponses.sum());
        proxy.put("tunnels_opened", p.tunnelsOpened.sum());
        proxy.put("tunnels_current", p.tunnelsCurrent.get());
        proxy.put("tls_handshakes", p.tlsHandshakes.sum());
        proxy.put("tls_handshake_failures", p.tlsHandshakeFailures.sum());
        proxy.put("http2_connections", p.http2Connections.sum());
        proxy.put("http2_streams", p.http2Streams.sum());
        proxy.put("http2_resets_received", p.http2ResetsReceived.sum());
        proxy.put("http2_resets_sent", p.http2ResetsSent.sum());
        proxy.put("http2_connection_errors", p.http2ConnectionErrors.sum());
        proxy.put("access_log_lines", p.accessLogLines.sum());
        proxy.put("access_log_dropped", p.accessLogDropped.sum());
        proxy.put("bytes_in", p.bytesIn.sum());
        proxy.put("bytes_out", p.bytesOut.sum());
        proxy.put("latency", latency(all.total, all.upstream, nowNanos));
        return proxy;
    }

    private Map<String, Object> serverRow(Server s, long nowNanos) {
        ServerStats st = s.stats();
        StatsCollector.ServerTrack track = collector.track(s);
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("name", s.name());
        row.put("host", s.spec().host());
        row.put("port", s.spec().port());
        row.put("address", HostAndPort.format(s.spec().host(), s.spec().port()));
        row.put("pool", s.spec().pool());
        row.put("source", s.spec().source().word());
        row.put("state", s.stateName(nowNanos));
        row.put("state_since_ms", st.state.sinceMillis());
        row.put("weight", s.weight());
        row.put("effective_weight", effectiveWeight(s, nowNanos));
        RuntimeOverride o = s.runtimeOverride();
        row.put("admin_state", o.state().word());
        row.put("configured_weight", s.spec().weight());
        row.put("backup", s.spec().backup());
        row.put("tunnels", st.tunnels.sum());
        row.put("in_flight", st.inFlight.get());
        row.put("in_flight_max", st.inFlightMax.get());
        row.put("max_conn", s.maxConn());
        row.put("ejections", st.ejections.sum());
        StatsCollector.Counters counters = new StatsCollector.Counters();
        counters.add(st);
        counters.putInto(row);
        row.put("request_rate", round2(track.requestRate));
        row.put("request_rate_max", round2(track.requestRateMax));
        row.put("down_transitions", st.state.downTransitions());
        row.put("downtime_s", st.state.downtimeMillis(nowNanos) / 1000);
        row.put("last_failure", st.passiveDownReason());
        row.put("last_failure_ms", st.passiveDownReason() == null ? null : st.passiveDownAtMillis());
        row.put("check", check(st));
        row.put("latency", latency(track.total, track.upstream, nowNanos));
        return row;
    }

    private static Map<String, Object> check(ServerStats st) {
        HealthCheckResult c = st.lastCheck();
        if (c == null) {
            return null;
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("ok", c.ok());
        m.put("status", c.status());
        m.put("code", c.code() == 0 ? null : c.code());
        m.put("duration_ms", c.durationMillis());
        m.put("at_ms", c.atMillis());
        m.put("detail", c.detail());
        m.put("failed", st.checksFailed.sum());
        return m;
    }

    private Map<String, Object> poolRow(PoolView pool, long nowNanos) {
        StatsCollector.PoolTrack track = collector.pool(pool.name());
        StatsCollector.Counters c = collector.counters(track, pool.servers());
        int available = 0;
        int availableBackups = 0;
        int backups = 0;
        int inFlight = 0;
        long weight = 0;
        for (Server s : pool.servers()) {
            if (s.spec().backup()) {
                backups++;
            }
            if (s.isAvailable(nowNanos)) {
                available++;
                availableBackups += s.spec().backup() ? 1 : 0;
                weight += s.weight();
            }
            inFlight += s.stats().inFlight.get();
        }
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("name", pool.name());
        policy(row, pool.policy());
        row.put("state", available > 0 ? "up" : "down");
        row.put("state_since_ms", pool.state().history().sinceMillis());
        row.put("servers", pool.servers().size());
        row.put("servers_available", available);
        row.put("backup_servers", backups);
        row.put("available_active", available - availableBackups);
        row.put("available_backup", availableBackups);
        row.put("weight", weight);
        row.put("in_flight", inFlight);
        row.put("in_flight_max", Math.max(track.inFlightMax, inFlight));
        c.putInto(row);
        row.put("request_rate", round2(track.requestRate));
        row.put("request_rate_max", round2(track.requestRateMax));
        row.put("down_transitions", pool.state().history().downTransitions());
        row.put("downtime_s", pool.state().history().downtimeMillis(nowNanos) / 1000);
        row.put("servers_ejected", pool.servers().stream().filter(s -> s.isEjected(nowNanos)).count());
        queue(row, pool.state());
        row.put("latency", latency(track.total, track.upstream, nowNanos));
        return row;
    }

    /** A pool's policy, in its rows of {@code /table} and {@code /stats.json}. */
    private static void policy(Map<String, Object> row, PoolPolicy policy) {
        row.put("balance", policy.balanceName());
        row.put("sticky_cookie", policy.sticky() == null ? null : policy.sticky().cookie());
        row.put("slow_start_ms", policy.slowStartMillis());
        row.put("compression", policy.compression().enabled() ? "gzip level " + policy.compression().level() : null);
        row.put("rate_limit", policy.rateLimit().enabled() ? policy.rateLimit().describe() : null);
    }

    /**
     * A pool's queue ({@code max_conn} and {@code queue}): waiting now and at most, what became of the queued
     * requests, their wait; the requests it turned away with a 503 of the proxy's own ({@code shed}: queue full, queue
     * timeouts, {@code no_server}); the retries its budget denied and the ejections max_ejected_percent prevented.
     */
    private static void queue(Map<String, Object> row, PoolState pool) {
        PoolStats st = pool.stats();
        PoolStats.QueueCounts counts = st.queueCounts(); // never more outcomes than requests queued
        PoolStats.Waits waits = counts.waited(); // a count and the sum of those very waits
        long waited = waits.count();
        double waitMillis = waits.nanos() / 1e6;
        row.put("queue_current", pool.queue().size());
        row.put("queue_max", st.queueMax.get());
        row.put("queue_limit", pool.queuePolicy().max());
        row.put("queue_timeout_ms", pool.queuePolicy().timeoutMillis());
        row.put("queued", counts.queued());
        long full = st.queueFull.sum();
        long timeouts = counts.timeouts();
        long noServer = st.noServer.sum();
        row.put("queue_full", full);
        row.put("queue_timeouts", timeouts);
        row.put("queue_abandoned", counts.abandoned());
        row.put("no_server", noServer);
        row.put("rate_limited", st.rateLimited.sum());
        row.put("shed", full + timeouts + noServer); // the very values beside it, whatever came since
        row.put("queue_wait_count", waited);
        row.put("queue_wait_ms_total", Math.round(waitMillis * 1000) / 1000.0);
        row.put("queue_wait_ms_avg", waited == 0 ? 0.0 : Math.round(waitMillis / waited * 1000) / 1000.0);
        row.put("retries_denied", st.retriesDenied.sum());
        row.put("ejections_prevented", st.ejectionsPrevented.sum());
    }

    private static Map<String, Object> latency(LatencyWindow total, LatencyWindow upstream, long nowNanos) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("total", windows(total, nowNanos));
        m.put("upstream", windows(upstream, nowNanos));
        return m;
    }

    private static Map<String, Object> windows(LatencyWindow w, long nowNanos) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("window", LatencyWindow.summary(w.window(nowNanos)));
        m.put("since_start", LatencyWindow.summary(w.sinceStart()));
        return m;
    }

    /** {@code GET /stats/events.json}: the timeline, oldest first. */
    public Map<String, Object> events() {
        EventLog log = tables.events();
        List<Map<String, Object>> list = new ArrayList<>();
        for (EventLog.Event e : log.all()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("seq", e.seq());
            m.put("at_ms", e.atMillis());
            m.put("kind", e.kind());
            m.put("subject", e.subject());
            m.put("pool", e.pool());
            m.put("detail", e.detail());
            list.add(m);
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("capacity", log.capacity());
        out.put("last_seq", log.lastSeq());
        out.put("events", list);
        return out;
    }

    /** {@code GET /stats/history.json}: per-second samples of the proxy ({@code "*"}) and of each pool. */
    public Map<String, Object> history() {
        Map<String, Object> series = new LinkedHashMap<>();
        series.put(StatsCollector.ALL, collector.all().history.columns());
        for (StatsCollector.PoolTrack p : collector.pools().values()) {
            series.put(p.name, p.history.columns());
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("step_ms", 1000);
        out.put("capacity", StatsCollector.HISTORY_SECONDS);
        out.put("series", series);
        return out;
    }

    /**
     * The latency histograms for {@code /metrics}: per server and per pool, total and upstream, since the start. A
     * series' sum and buckets are read together ({@link LatencyRecorder#addBucketCounts}), so they count the same
     * exchanges.
     */
    public LatencyMetrics latencyMetrics() {
        long nowNanos = System.nanoTime();
        return latencyMetrics(collector.refresh(nowNanos, System.currentTimeMillis()), nowNanos);
    }

    /**
     * The histograms of the servers and pools of {@code table}, which {@link StatsCollector#refresh} returned at
     * {@code nowNanos} (the pools shown then).
     */
    private LatencyMetrics latencyMetrics(BackendTable table, long nowNanos) {
        List<LatencySeries> serverTotal = new ArrayList<>();
        List<LatencySeries> serverUpstream = new ArrayList<>();
        for (Server s : table.servers()) {
            Map<String, String> labels = new LinkedHashMap<>();
            labels.put("server", s.name());
            labels.put("pool", s.spec().pool());
            labels.put("source", s.spec().source().word());
            long[] total = new long[LatencyRecorder.SERIES];
            long[] upstream = new long[LatencyRecorder.SERIES];
            s.stats().latency.addBucketCounts(total, upstream);
            serverTotal.add(LatencySeries.of(labels, total));
            serverUpstream.add(LatencySeries.of(labels, upstream));
        }
        List<LatencySeries> poolTotal = new ArrayList<>();
        List<LatencySeries> poolUpstream = new ArrayList<>();
        for (PoolView pool : sortedPools(table, nowNanos)) {
            StatsCollector.PoolTrack t = collector.pool(pool.name());
            Map<String, String> labels = Map.of("pool", pool.name());
            StatsCollector.Counters c = collector.counters(t, pool.servers()); // its servers, present and retired
            poolTotal.add(LatencySeries.of(labels, c.totalBuckets));
            poolUpstream.add(LatencySeries.of(labels, c.upstreamBuckets));
        }
        return new LatencyMetrics(serverTotal, serverUpstream, poolTotal, poolUpstream);
    }

    /**
     * A pool as the admin documents show it: one of the table's, or one it has no server of but shows still
     * ({@link BackendTable.AbsentPool}: a route names it, or it left a short while ago), with no servers, down.
     */
    private record PoolView(String name, PoolPolicy policy, List<Server> servers, PoolState state) {
    }

    /** The pools of {@code table}, then those it has no server of and shows at {@code nowNanos}. */
    private static List<PoolView> pools(BackendTable table, long nowNanos) {
        List<PoolView> pools = new ArrayList<>();
        for (ServerPool p : table.pools().values()) {
            pools.add(new PoolView(p.name(), p.policy(), p.servers(), p.state()));
        }
        for (BackendTable.AbsentPool a : table.absentPools().values()) {
            if (a.shownAt(nowNanos)) {
                pools.add(new PoolView(a.name(), a.policy(), List.of(), a.state()));
            }
        }
        return pools;
    }

    /** {@link #pools}, pool {@code default} first, then the others by name. */
    private static List<PoolView> sortedPools(BackendTable table, long nowNanos) {
        List<PoolView> pools = pools(table, nowNanos);
        pools.sort(Comparator.comparing((PoolView p) -> !p.name().equals(ServerSpec.DEFAULT_POOL))
                .thenComparing(PoolView::name));
        return pools;
    }

    private static double round2(double v) {
        return Math.round(v * 100) / 100.0;
    }

    /**
     * The weight the server is balanced with now, in units of weight to two decimals: below {@code weight} while
     * it warms up (slow start), equal after.
     */
    private static double effectiveWeight(Server s, long now) {
        return Math.round(s.effectiveWeight(now) * 100.0 / Server.WEIGHT_SCALE) / 100.0;
    }
}
