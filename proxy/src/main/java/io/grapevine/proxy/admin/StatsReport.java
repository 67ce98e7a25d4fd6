package io.grapevine.proxy.admin;

import io.grapevine.proxy.config.PoolPolicy;
import io.grapevine.proxy.stats.PoolStats;
import io.grapevine.proxy.stats.ProxyStats;
import io.grapevine.proxy.stats.ServerStats;
import io.grapevine.proxy.table.BackendTable;
import io.grapevine.proxy.table.PoolState;
import io.grapevine.proxy.table.RuntimeOverride;
import io.grapevine.proxy.table.Server;
import io.grapevine.proxy.table.ServerPool;
import io.grapevine.proxy.table.TableHolder;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Snapshots of the table and the counters as plain maps, for the admin endpoints (JSON, CSV, HTML). */
public final class StatsReport {

    private final TableHolder tables;
    private final ProxyStats proxyStats;

    public StatsReport(TableHolder tables, ProxyStats proxyStats) {
        this.tables = tables;
        this.proxyStats = proxyStats;
    }

    /**
     * {@code GET /table}: {"generation": N, "servers": [{name, host, port, source, state, weight, effective_weight,
     * pool, backup}], "pools": [{name, balance, sticky_cookie, slow_start_ms}]}.
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
        for (ServerPool pool : table.pools().values()) {
            PoolPolicy policy = pool.policy();
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("name", pool.name());
            row.put("balance", policy.balanceName());
            row.put("sticky_cookie", policy.sticky() == null ? null : policy.sticky().cookie());
            row.put("slow_start_ms", policy.slowStartMillis());
            pools.add(row);
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("generation", table.generation());
        out.put("servers", servers);
        out.put("pools", pools);
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
        row.put("source", s.spec().source().name().toLowerCase());
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

    /** {@code GET /stats.json}: proxy counters, one row of counters per server, one per pool. */
    public Map<String, Object> stats() {
        BackendTable table = tables.current();
        long now = System.nanoTime();
        ProxyStats p = proxyStats;
        Map<String, Object> proxy = new LinkedHashMap<>();
        proxy.put("connections_current", p.connectionsCurrent.get());
        proxy.put("connections_total", p.connectionsAccepted.sum());
        proxy.put("connections_refused", p.connectionsRefused.sum());
        proxy.put("proxy_protocol_rejected", p.proxyProtocolRejected.sum());
        proxy.put("requests", p.requests.sum());
        proxy.put("bad_requests", p.badRequests.sum());
        proxy.put("client_timeouts", p.clientTimeouts.sum());
        proxy.put("local_502", p.status502.sum());
        proxy.put("local_503", p.status503.sum());
        proxy.put("local_504", p.status504.sum());
        proxy.put("retries", p.retries.sum());
        proxy.put("retries_denied", p.retriesDenied.sum());
        proxy.put("aborted_responses", p.abortedResponses.sum());
        proxy.put("tunnels_opened", p.tunnelsOpened.sum());
        proxy.put("tunnels_current", p.tunnelsCurrent.get());
        proxy.put("http2_connections", p.http2Connections.sum());
        proxy.put("http2_streams", p.http2Streams.sum());
        proxy.put("http2_resets_received", p.http2ResetsReceived.sum());
        proxy.put("http2_resets_sent", p.http2ResetsSent.sum());
        proxy.put("http2_connection_errors", p.http2ConnectionErrors.sum());
        proxy.put("bytes_in", p.bytesIn.sum());
        proxy.put("bytes_out", p.bytesOut.sum());
        proxy.put("tls_handshakes", p.tlsHandshakes.sum());
        proxy.put("tls_handshake_failures", p.tlsHandshakeFailures.sum());
        proxy.put("access_log_lines", p.accessLogLines.sum());
        proxy.put("access_log_dropped", p.accessLogDropped.sum());
        List<Map<String, Object>> servers = new ArrayList<>();
        for (Server s : table.servers()) {
            ServerStats st = s.stats();
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("name", s.name());
            row.put("host", s.spec().host());
            row.put("port", s.spec().port());
            row.put("pool", s.spec().pool());
            row.put("source", s.spec().source().name().toLowerCase());
            row.put("state", s.stateName(now));
            row.put("weight", s.weight());
            row.put("effective_weight", effectiveWeight(s, now));
            row.put("in_flight", st.inFlight.get());
            row.put("max_conn", s.maxConn());
            row.put("requests", st.requests.sum());
            row.put("responses_1xx", st.responses1xx.sum());
            row.put("responses_2xx", st.responses2xx.sum());
            row.put("responses_3xx", st.responses3xx.sum());
            row.put("responses_4xx", st.responses4xx.sum());
            row.put("responses_5xx", st.responses5xx.sum());
            row.put("connect_errors", st.connectErrors.sum());
            row.put("response_errors", st.responseErrors.sum());
            row.put("timeouts", st.timeouts.sum());
            row.put("retried", st.retried.sum());
            row.put("ejections", st.ejections.sum());
            row.put("connections_opened", st.connectionsOpened.sum());
            row.put("tunnels", st.tunnels.sum());
            row.put("bytes_in", st.bytesIn.sum());
            row.put("bytes_out", st.bytesOut.sum());
            servers.add(row);
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("generation", table.generation());
        out.put("proxy", proxy);
        out.put("servers", servers);
        out.put("pools", pools(now));
        return out;
    }

    /**
     * One row per pool ever published: its queue (current and most requests waiting, HAProxy's qcur and qmax, the
     * limit, and what became of the requests that queued), the time requests waited, the retries its budget denied
     * and the ejections max_ejected_percent prevented.
     */
    private List<Map<String, Object>> pools(long now) {
        List<Map<String, Object>> rows = new ArrayList<>();
        for (PoolState pool : tables.poolStates()) {
            PoolStats st = pool.stats();
            long waited = st.queueWaitCount.sum();
            double waitMillis = st.queueWaitNanos.sum() / 1e6;
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("name", pool.name());
            row.put("servers", pool.servers().size());
            row.put("servers_ejected", pool.servers().stream().filter(s -> s.isEjected(now)).count());
            row.put("queue_current", pool.queue().size());
            row.put("queue_max", st.queueMax.get());
            row.put("queue_limit", pool.queuePolicy().max());
            row.put("queue_timeout_ms", pool.queuePolicy().timeoutMillis());
            row.put("queued", st.queued.sum());
            row.put("queue_full", st.queueFull.sum());
            row.put("queue_timeouts", st.queueTimeouts.sum());
            row.put("queue_abandoned", st.queueAbandoned.sum());
            row.put("queue_wait_count", waited);
            row.put("queue_wait_ms_total", Math.round(waitMillis * 1000) / 1000.0);
            row.put("queue_wait_ms_avg", waited == 0 ? 0.0 : Math.round(waitMillis / waited * 1000) / 1000.0);
            row.put("retries_denied", st.retriesDenied.sum());
            row.put("ejections_prevented", st.ejectionsPrevented.sum());
            rows.add(row);
        }
        return rows;
    }

    /**
     * The weight the server is balanced with now, in units of weight to two decimals: below {@code weight} while
     * it warms up (slow start), equal after.
     */
    private static double effectiveWeight(Server s, long now) {
        return Math.round(s.effectiveWeight(now) * 100.0 / Server.WEIGHT_SCALE) / 100.0;
    }
}
