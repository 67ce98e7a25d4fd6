package io.grapevine.proxy.admin;

import io.grapevine.proxy.stats.ProxyStats;
import io.grapevine.proxy.stats.ServerStats;
import io.grapevine.proxy.table.BackendTable;
import io.grapevine.proxy.table.Server;
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

    /** {@code GET /table}: {"generation": N, "servers": [{name, host, port, source, state, weight, pool}]}. */
    public Map<String, Object> table() {
        BackendTable table = tables.current();
        long now = System.nanoTime();
        List<Map<String, Object>> servers = new ArrayList<>();
        for (Server s : table.servers()) {
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("name", s.name());
            row.put("host", s.spec().host());
            row.put("port", s.spec().port());
            row.put("source", s.spec().source().name().toLowerCase());
            row.put("state", s.stateName(now));
            row.put("weight", s.weight());
            row.put("pool", s.spec().pool());
            row.put("backup", s.spec().backup());
            servers.add(row);
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("generation", table.generation());
        out.put("servers", servers);
        return out;
    }

    /** {@code GET /stats.json}: proxy counters and one row of counters per server. */
    public Map<String, Object> stats() {
        BackendTable table = tables.current();
        long now = System.nanoTime();
        ProxyStats p = proxyStats;
        Map<String, Object> proxy = new LinkedHashMap<>();
        proxy.put("connections_current", p.connectionsCurrent.get());
        proxy.put("connections_total", p.connectionsAccepted.sum());
        proxy.put("connections_refused", p.connectionsRefused.sum());
        proxy.put("requests", p.requests.sum());
        proxy.put("bad_requests", p.badRequests.sum());
        proxy.put("client_timeouts", p.clientTimeouts.sum());
        proxy.put("local_502", p.status502.sum());
        proxy.put("local_503", p.status503.sum());
        proxy.put("local_504", p.status504.sum());
        proxy.put("retries", p.retries.sum());
        proxy.put("aborted_responses", p.abortedResponses.sum());
        proxy.put("http2_connections", p.http2Connections.sum());
        proxy.put("http2_streams", p.http2Streams.sum());
        proxy.put("http2_resets_received", p.http2ResetsReceived.sum());
        proxy.put("http2_resets_sent", p.http2ResetsSent.sum());
        proxy.put("http2_connection_errors", p.http2ConnectionErrors.sum());
        proxy.put("bytes_in", p.bytesIn.sum());
        proxy.put("bytes_out", p.bytesOut.sum());
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
            row.put("in_flight", st.inFlight.get());
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
            row.put("connections_opened", st.connectionsOpened.sum());
            row.put("bytes_in", st.bytesIn.sum());
            row.put("bytes_out", st.bytesOut.sum());
            servers.add(row);
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("generation", table.generation());
        out.put("proxy", proxy);
        out.put("servers", servers);
        return out;
    }
}
