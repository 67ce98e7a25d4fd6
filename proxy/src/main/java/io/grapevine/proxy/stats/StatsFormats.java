package io.grapevine.proxy.stats;

import java.math.BigDecimal;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * The counters of {@code admin.StatsReport#stats()} as HAProxy's CSV and as Prometheus text exposition. Both
 * read the document's rows by field name, so a field it gains reaches them by adding its column here.
 */
public final class StatsFormats {

    /**
     * HAProxy's static CSV fields, in HAProxy's order (management guide, section 9.1 "CSV format", fields 0 to
     * 99, which every HAProxy since 2.4 puts first). Tools find columns by these names or positions.
     */
    public static final List<String> HAPROXY_COLUMNS = List.of("pxname", "svname", "qcur", "qmax", "scur", "smax",
            "slim", "stot", "bin", "bout", "dreq", "dresp", "ereq", "econ", "eresp", "wretr", "wredis", "status",
            "weight", "act", "bck", "chkfail", "chkdown", "lastchg", "downtime", "qlimit", "pid", "iid", "sid",
            "throttle", "lbtot", "tracked", "type", "rate", "rate_lim", "rate_max", "check_status", "check_code",
            "check_duration", "hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other", "hanafail",
            "req_rate", "req_rate_max", "req_tot", "cli_abrt", "srv_abrt", "comp_in", "comp_out", "comp_byp",
            "comp_rsp", "lastsess", "last_chk", "last_agt", "qtime", "ctime", "rtime", "ttime", "agent_status",
            "agent_code", "agent_duration", "check_desc", "agent_desc", "check_rise", "check_fall", "check_health",
            "agent_rise", "agent_fall", "agent_health", "addr", "cookie", "mode", "algo", "conn_rate",
            "conn_rate_max", "conn_tot", "intercepted", "dcon", "dses", "wrew", "connect", "reuse", "cache_lookups",
            "cache_hits", "srv_icur", "src_ilim", "qtime_max", "ctime_max", "rtime_max", "ttime_max", "eint",
            "idle_conn_cur", "safe_conn_cur", "used_conn_cur", "need_conn_est", "uweight");

    /** The proxy name of the frontend row: the client listener. */
    public static final String FRONTEND_NAME = "grapevine";

    /** Upper bounds of the latency histograms' buckets in seconds, 0.5 ms to 30 s (then +Inf). */
    public static final List<BigDecimal> LATENCY_BUCKETS = List.of("0.0005", "0.001", "0.0025", "0.005", "0.01",
            "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30").stream().map(BigDecimal::new).toList();

    private StatsFormats() {
    }

    // ---------------------------------------------------------------- HAProxy CSV

    /**
     * HAProxy's {@code show stat} CSV: a header line {@code # pxname,svname,...}, then a FRONTEND row for the
     * client listener and, per pool, one row per server and a BACKEND row. As in HAProxy, every line ends with
     * a comma, a field is quoted only when it holds a comma or a quote, and a field Grapevine does not have is
     * empty. The mapping of each column is in docs/operations.md.
     */
    @SuppressWarnings("unchecked")
    public static String csv(Map<String, Object> stats) {
        Map<String, Object> proxy = (Map<String, Object>) stats.get("proxy");
        List<Map<String, Object>> pools = (List<Map<String, Object>>) stats.get("pools");
        List<Map<String, Object>> servers = (List<Map<String, Object>>) stats.get("servers");
        long now = ((Number) stats.get("now_ms")).longValue();
        StringBuilder sb = new StringBuilder(256 + 512 * (servers.size() + pools.size() + 1));
        sb.append("# ").append(String.join(",", HAPROXY_COLUMNS)).append(",\n");
        csvRow(sb, frontendRow(proxy));
        int iid = 1;
        for (Map<String, Object> pool : pools) {
            iid++;
            int sid = 0;
            for (Map<String, Object> server : servers) {
                if (pool.get("name").equals(server.get("pool"))) {
                    csvRow(sb, serverRow(server, iid, ++sid, now));
                }
            }
            csvRow(sb, backendRow(pool, iid, now));
        }
        return sb.toString();
    }

    private static Map<String, Object> frontendRow(Map<String, Object> p) {
        Map<String, Object> r = new java.util.HashMap<>();
        r.put("pxname", FRONTEND_NAME);
        r.put("svname", "FRONTEND");
        r.put("scur", p.get("connections_current"));
        r.put("smax", p.get("connections_max"));
        r.put("slim", p.get("connections_limit"));
        r.put("stot", p.get("connections_total"));
        r.put("bin", p.get("bytes_in"));
        r.put("bout", p.get("bytes_out"));
        r.put("ereq", sum(p, "bad_requests", "client_timeouts", "proxy_protocol_rejected"));
        r.put("dreq", p.get("rate_limited")); // denied by a rule: HAProxy counts an http-request deny here
        r.put("status", "OPEN");
        r.put("pid", 1);
        r.put("iid", 1);
        r.put("sid", 0);
        r.put("type", 0);
        r.put("rate", whole(p.get("connection_rate")));
        r.put("rate_max", whole(p.get("connection_rate_max")));
        responses(r, p);
        r.put("hrsp_other", 0);
        r.put("req_rate", whole(p.get("request_rate")));
        r.put("req_rate_max", whole(p.get("request_rate_max")));
        r.put("req_tot", p.get("requests"));
        r.put("mode", "http");
        r.put("conn_rate", whole(p.get("connection_rate")));
        r.put("conn_rate_max", whole(p.get("connection_rate_max")));
        r.put("conn_tot", p.get("connections_total"));
        return r;
    }

    /** What a server row and a BACKEND row have in common: both count requests sent to servers. */
    private static Map<String, Object> upstreamRow(Map<String, Object> s, String pxname, String svname, int iid,
                                                   long now) {
        Map<String, Object> r = new java.util.HashMap<>();
        r.put("pxname", pxname);
        r.put("svname", svname);
        r.put("qcur", s.get("queue_current"));
        r.put("qmax", s.get("queue_max"));
        r.put("scur", s.get("in_flight"));
        r.put("smax", s.get("in_flight_max"));
        r.put("stot", s.get("requests"));
        // HAProxy counts bytes from the client's side: "in" is the request, "out" the response.
        r.put("bin", s.get("bytes_out"));
        r.put("bout", s.get("bytes_in"));
        r.put("econ", s.get("connect_errors"));
        r.put("eresp", s.get("response_errors"));
        r.put("wretr", difference(s.get("retried"), s.get("redispatched")));
        r.put("wredis", s.get("redispatched"));
        r.put("chkdown", s.get("down_transitions"));
        Object since = s.get("state_since_ms");
        r.put("lastchg", since instanceof Number n && n.longValue() > 0 ? Math.max(0, (now - n.longValue()) / 1000) : null);
        r.put("downtime", s.get("downtime_s"));
        r.put("pid", 1);
        r.put("iid", iid);
        r.put("lbtot", s.get("requests"));
        r.put("rate", whole(s.get("request_rate")));
        r.put("rate_max", whole(s.get("request_rate_max")));
        responses(r, s);
        r.put("hrsp_other", 0);
        r.put("cli_abrt", s.get("client_aborts"));
        r.put("rtime", whole(latency(s, "upstream", "window", "mean_ms")));
        r.put("ttime", whole(latency(s, "total", "window", "mean_ms")));
        r.put("rtime_max", whole(latency(s, "upstream", "since_start", "max_ms")));
        r.put("ttime_max", whole(latency(s, "total", "since_start", "max_ms")));
        r.put("mode", "http");
        r.put("connect", s.get("connections_opened"));
        r.put("reuse", difference(s.get("requests"), s.get("connections_opened")));
        return r;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> serverRow(Map<String, Object> s, int iid, int sid, long now) {
        Map<String, Object> r = upstreamRow(s, String.valueOf(s.get("pool")), String.valueOf(s.get("name")), iid, now);
        Object weight = s.get("weight");
        Object effective = s.containsKey("effective_weight") ? s.get("effective_weight") : weight;
        r.put("slim", s.get("max_conn"));
        r.put("status", haproxyStatus(s));
        r.put("weight", whole(effective));
        r.put("uweight", weight);
        boolean backup = Boolean.TRUE.equals(s.get("backup"));
        r.put("act", backup ? 0 : 1);
        r.put("bck", backup ? 1 : 0);
        r.put("sid", sid);
        r.put("type", 2);
        if (effective instanceof Number e && weight instanceof Number w && w.doubleValue() > 0
                && e.doubleValue() < w.doubleValue()) {
            r.put("throttle", Math.round(100 * e.doubleValue() / w.doubleValue())); // slow start under way
        }
        Map<String, Object> check = (Map<String, Object>) s.get("check");
        if (check != null) {
            r.put("chkfail", check.get("failed"));
            r.put("check_status", check.get("status"));
            r.put("check_code", check.get("code"));
            r.put("check_duration", check.get("duration_ms"));
            r.put("last_chk", check.get("detail"));
            r.put("check_desc", checkDescription(String.valueOf(check.get("status"))));
        }
        r.put("addr", s.get("address"));
        r.put("cookie", s.get("sticky_cookie"));
        return r;
    }

    private static Map<String, Object> backendRow(Map<String, Object> p, int iid, long now) {
        String name = String.valueOf(p.get("name"));
        Map<String, Object> r = upstreamRow(p, name, "BACKEND", iid, now);
        r.put("status", "up".equals(p.get("state")) ? "UP" : "DOWN");
        r.put("weight", whole(p.get("weight")));
        r.put("act", p.get("available_active"));
        r.put("bck", p.get("available_backup"));
        r.put("sid", 0);
        r.put("type", 1);
        // HAProxy counts the requests a backend was chosen for, the 503s it answers for it (no server, queue full or
        // timed out) included, in its stot and req_tot, and those 503s in its hrsp_5xx; lbtot stays the times a
        // server was chosen (attempts).
        Object asked = sum(p, "requests", "shed");
        r.put("stot", asked);
        r.put("req_tot", asked);
        r.put("algo", p.get("balance"));
        r.put("dreq", p.get("rate_limited"));
        r.put("hrsp_5xx", sum(p, "responses_5xx", "shed"));
        return r;
    }

    /** HAProxy's server status words: UP, DOWN, DRAIN, MAINT (slow start shows as UP, with {@code throttle}). */
    private static String haproxyStatus(Map<String, Object> s) {
        String state = String.valueOf(s.get("state"));
        return switch (state) {
            case "up", "slowstart", "slow_start" -> "UP";
            case "draining", "drain" -> "DRAIN";
            case "maint" -> "MAINT";
            case "removed" -> "MAINT";
            default -> "DOWN";
        };
    }

    /** HAProxy's {@code check_desc} for a {@code check_status}. */
    private static String checkDescription(String status) {
        return switch (status) {
            case "L4OK" -> "Layer4 check passed";
            case "L4CON" -> "Layer4 connection problem";
            case "L4TOUT" -> "Layer4 timeout";
            case "L7OK" -> "Layer7 check passed";
            case "L7STS" -> "Layer7 wrong status";
            case "L7RSP" -> "Layer7 invalid response";
            case "L7TOUT" -> "Layer7 timeout";
            case HealthCheckResult.SOCKET_ERROR -> "Socket error";
            default -> "Unknown";
        };
    }

    private static void responses(Map<String, Object> r, Map<String, Object> s) {
        for (String cls : List.of("1xx", "2xx", "3xx", "4xx", "5xx")) {
            r.put("hrsp_" + cls, s.get("responses_" + cls));
        }
    }

    private static void csvRow(StringBuilder sb, Map<String, Object> row) {
        for (String column : HAPROXY_COLUMNS) {
            Object v = row.get(column);
            if (v != null) {
                sb.append(csvField(String.valueOf(v)));
            }
            sb.append(',');
        }
        sb.append('\n');
    }

    /** HAProxy quotes a field only when it holds a quote or a comma, and doubles its quotes. */
    private static String csvField(String s) {
        String flat = s.replace('\n', ' ').replace('\r', ' ');
        if (flat.indexOf(',') < 0 && flat.indexOf('"') < 0) {
            return flat;
        }
        return '"' + flat.replace("\"", "\"\"") + '"';
    }

    @SuppressWarnings("unchecked")
    private static Object latency(Map<String, Object> row, String kind, String span, String field) {
        if (!(row.get("latency") instanceof Map<?, ?> latency)
                || !(((Map<String, Object>) latency).get(kind) instanceof Map<?, ?> k)
                || !(((Map<String, Object>) k).get(span) instanceof Map<?, ?> w)) {
            return null;
        }
        return w.get(field);
    }

    private static Long sum(Map<String, Object> row, String... fields) {
        long total = 0;
        for (String f : fields) {
            if (row.get(f) instanceof Number n) {
                total += n.longValue();
            }
        }
        return total;
    }

    private static Long difference(Object a, Object b) {
        return a instanceof Number x && b instanceof Number y ? Math.max(0, x.longValue() - y.longValue()) : null;
    }

    private static Long whole(Object v) {
        return v instanceof Number n ? Math.round(n.doubleValue()) : null;
    }

    // ---------------------------------------------------------------- Prometheus

    /** Prometheus text exposition format 0.0.4, with the latency histograms of {@code latency}. */
    @SuppressWarnings("unchecked")
    public static String prometheus(Map<String, Object> stats, LatencyMetrics latency) {
        Map<String, Object> proxy = (Map<String, Object>) stats.get("proxy");
        List<Map<String, Object>> servers = (List<Map<String, Object>>) stats.get("servers");
        StringBuilder sb = new StringBuilder(4096 + servers.size() * 4096);
        gauge(sb, "grapevine_table_generation", "Generation of the backend table in force.", stats.get("generation"));
        gauge(sb, "grapevine_connections_current", "Client connections open now.", proxy.get("connections_current"));
        gauge(sb, "grapevine_connections_max", "Most client connections open at once since the start.",
                proxy.get("connections_max"));
        counter(sb, "grapevine_connections_total", "Client connections accepted.", proxy.get("connections_total"));
        counter(sb, "grapevine_connections_refused_total", "Client connections refused (max_connections).",
                proxy.get("connections_refused"));
        counter(sb, "grapevine_connections_shed_total",
                "Client connections closed under direct memory pressure, having taken too little for over a second.",
                proxy.get("connections_shed"));
        counter(sb, "grapevine_http2_streams_shed_total",
                "HTTP/2 streams reset under direct memory pressure, their responses having waited for a window for"
                        + " over a second.", proxy.get("http2_streams_shed"));
        counter(sb, "grapevine_responses_compressed_total", "Responses sent gzip-compressed.",
                proxy.get("responses_compressed"));
        counter(sb, "grapevine_compression_input_bytes_total", "Body bytes of the compressed responses, before gzip.",
                proxy.get("compression_bytes_in"));
        counter(sb, "grapevine_compression_output_bytes_total", "Body bytes of the compressed responses, after gzip.",
                proxy.get("compression_bytes_out"));
        counter(sb, "grapevine_compressions_skipped_total",
                "Responses left uncompressed because every compressor was busy (limits.max_compressing).",
                proxy.get("compressions_skipped"));
        counter(sb, "grapevine_rate_limited_total",
                "Requests answered 429 because their client was over their pool's rate limit.",
                proxy.get("rate_limited"));
        counter(sb, "grapevine_redirected_to_https_total",
                "Requests on the plaintext listener answered with a redirect to HTTPS (tls.redirect_http).",
                proxy.get("redirected_to_https"));
        counter(sb, "grapevine_accept_failures_total",
                "Accepts that failed on the proxy's listeners, mostly out of file descriptors.",
                proxy.get("accept_failures"));
        gauge(sb, "grapevine_direct_memory_bytes", "Direct memory in use: the proxy's buffers.",
                proxy.get("direct_memory_used"));
        gauge(sb, "grapevine_direct_memory_limit_bytes", "Direct memory limit (-XX:MaxDirectMemorySize).",
                proxy.get("direct_memory_limit"));
        counter(sb, "grapevine_proxy_protocol_rejected_total",
                "Client connections closed for a missing, late or invalid PROXY protocol header.",
                proxy.get("proxy_protocol_rejected"));
        counter(sb, "grapevine_requests_total", "Requests received from clients.", proxy.get("requests"));
        header(sb, "grapevine_responses_total", "Answers to routed requests (from backends or the proxy) by status class.",
                "counter");
        for (String cls : List.of("1xx", "2xx", "3xx", "4xx", "5xx")) {
            sample(sb, "grapevine_responses_total", "code=\"" + cls + "\"", proxy.get("responses_" + cls));
        }
        counter(sb, "grapevine_bad_requests_total", "Requests rejected as malformed or ambiguous.",
                proxy.get("bad_requests"));
        counter(sb, "grapevine_client_timeouts_total", "Client header deadlines passed (408).",
                proxy.get("client_timeouts"));
        header(sb, "grapevine_local_responses_total", "Error responses generated by the proxy.", "counter");
        for (String status : List.of("502", "503", "504")) {
            sample(sb, "grapevine_local_responses_total", "status=\"" + status + "\"", proxy.get("local_" + status));
        }
        counter(sb, "grapevine_local_responses_no_socket_total",
                "Of the proxy's 503s, those answered for want of a file descriptor or local port for a backend connect.",
                proxy.get("local_503_no_socket"));
        counter(sb, "grapevine_retries_total", "Requests retried on another server.", proxy.get("retries"));
        counter(sb, "grapevine_retries_denied_total", "Retries not made because the pool's retry budget was spent.",
                proxy.get("retries_denied"));
        counter(sb, "grapevine_aborted_responses_total", "Responses cut because the backend failed midway.",
                proxy.get("aborted_responses"));
        counter(sb, "grapevine_tunnels_total", "Connections upgraded to a tunnel (WebSocket and other upgrades).",
                proxy.get("tunnels_opened"));
        gauge(sb, "grapevine_tunnels_current", "Tunnels open now.", proxy.get("tunnels_current"));
        counter(sb, "grapevine_http2_connections_total", "Client connections speaking HTTP/2.",
                proxy.get("http2_connections"));
        counter(sb, "grapevine_http2_streams_total", "HTTP/2 streams opened by clients.", proxy.get("http2_streams"));
        counter(sb, "grapevine_http2_resets_received_total", "HTTP/2 streams reset by clients.",
                proxy.get("http2_resets_received"));
        counter(sb, "grapevine_http2_resets_sent_total", "HTTP/2 streams reset by the proxy.",
                proxy.get("http2_resets_sent"));
        counter(sb, "grapevine_http2_connection_errors_total",
                "HTTP/2 connections closed with an error GOAWAY (protocol errors, floods).",
                proxy.get("http2_connection_errors"));
        // Prometheus' naming: the unit last, before _total for a counter (node_network_receive_bytes_total).
        counter(sb, "grapevine_client_received_bytes_total", "Bytes received from clients.", proxy.get("bytes_in"));
        counter(sb, "grapevine_client_sent_bytes_total", "Bytes sent to clients.", proxy.get("bytes_out"));
        counter(sb, "grapevine_tls_handshakes_total", "TLS handshakes completed with clients.",
                proxy.get("tls_handshakes"));
        counter(sb, "grapevine_tls_handshake_failures_total", "TLS handshakes with clients that failed.",
                proxy.get("tls_handshake_failures"));
        Map<String, Object> tls = (Map<String, Object>) stats.get("tls");
        if (tls != null) {
            counter(sb, "grapevine_tls_certificate_reloads_total",
                    "Certificates read again from their changed files and served since the start.", tls.get("reloads"));
            counter(sb, "grapevine_tls_certificate_reload_failures_total",
                    "Changed certificate files that failed their checks (the certificate in use stayed).",
                    tls.get("reload_failures"));
            // As Traefik's traefik_tls_certs_not_after: alert on it minus time() before a renewal is too late.
            header(sb, "grapevine_tls_certificate_expiry_timestamp_seconds",
                    "End of validity of the certificate served for each configured certificate file.", "gauge");
            for (Map<String, Object> cert : (List<Map<String, Object>>) tls.get("certificates")) {
                sample(sb, "grapevine_tls_certificate_expiry_timestamp_seconds", "file=\"" + label(cert.get("file"))
                        + "\",names=\"" + label(String.join(",", (List<String>) cert.get("names"))) + "\"",
                        cert.get("not_after_s"));
            }
        }

        serverMetric(sb, servers, "grapevine_server_up", "1 when the server takes new requests.", "gauge",
                row -> "up".equals(row.get("state")) ? 1 : 0);
        serverMetric(sb, servers, "grapevine_server_weight", "Load-balancing weight.", "gauge", row -> row.get("weight"));
        serverMetric(sb, servers, "grapevine_server_effective_weight",
                "Weight balanced with now: below the weight while the server warms up (slow start).", "gauge",
                row -> row.get("effective_weight"));
        serverMetric(sb, servers, "grapevine_server_in_flight", "Requests in flight now.", "gauge",
                row -> row.get("in_flight"));
        serverMetric(sb, servers, "grapevine_server_in_flight_max", "Most requests in flight at once since it joined.",
                "gauge", row -> row.get("in_flight_max"));
        serverMetric(sb, servers, "grapevine_server_max_conn", "Most requests the server is given at once (0: no limit).",
                "gauge", row -> row.get("max_conn"));
        serverMetric(sb, servers, "grapevine_server_requests_total", "Requests sent (retries included).", "counter",
                row -> row.get("requests"));
        header(sb, "grapevine_server_responses_total", "Responses by status class.", "counter");
        for (Map<String, Object> row : servers) {
            for (String cls : List.of("1xx", "2xx", "3xx", "4xx", "5xx")) {
                sample(sb, "grapevine_server_responses_total", labels(row) + ",code=\"" + cls + "\"",
                        row.get("responses_" + cls));
            }
        }
        serverMetric(sb, servers, "grapevine_server_connect_errors_total", "Failed connection attempts.", "counter",
                row -> row.get("connect_errors"));
        serverMetric(sb, servers, "grapevine_server_response_errors_total", "Failed responses.", "counter",
                row -> row.get("response_errors"));
        serverMetric(sb, servers, "grapevine_server_timeouts_total", "Responses that timed out.", "counter",
                row -> row.get("timeouts"));
        serverMetric(sb, servers, "grapevine_server_retried_total",
                "Attempts that failed here and were retried (here or elsewhere).", "counter", row -> row.get("retried"));
        serverMetric(sb, servers, "grapevine_server_redispatched_total", "Attempts that failed here and were retried "
                + "on another server.", "counter", row -> row.get("redispatched"));
        serverMetric(sb, servers, "grapevine_server_client_aborts_total",
                "Exchanges abandoned because the client went away.", "counter", row -> row.get("client_aborts"));
        serverMetric(sb, servers, "grapevine_server_ejections_total", "Times failed requests ejected the server.",
                "counter", row -> row.get("ejections"));
        serverMetric(sb, servers, "grapevine_server_connections_opened_total", "Connections opened.", "counter",
                row -> row.get("connections_opened"));
        serverMetric(sb, servers, "grapevine_server_tunnels_total", "Upgrades the server accepted (101).", "counter",
                row -> row.get("tunnels"));
        serverMetric(sb, servers, "grapevine_server_received_bytes_total", "Bytes received from the server.",
                "counter", row -> row.get("bytes_in"));
        serverMetric(sb, servers, "grapevine_server_sent_bytes_total", "Bytes sent to the server.", "counter",
                row -> row.get("bytes_out"));
        serverMetric(sb, servers, "grapevine_server_down_transitions_total", "Changes to down since it joined.",
                "counter", row -> row.get("down_transitions"));
        serverMetric(sb, servers, "grapevine_server_downtime_seconds_total", "Time spent down since it joined.",
                "counter", row -> row.get("downtime_s"));
        serverMetric(sb, servers, "grapevine_server_checks_failed_total",
                "Active health checks that failed while the server was up.", "counter",
                row -> row.get("check") instanceof Map<?, ?> c ? c.get("failed") : 0);

        histograms(sb, "grapevine_server_request_duration_seconds", "Time from the request head read to the "
                + "response complete, per server (retried requests count for the server of the last attempt).",
                latency.serverTotal());
        histograms(sb, "grapevine_server_upstream_duration_seconds", "Time from the start of the last attempt "
                + "(connect or reuse of an idle connection) to the backend's response head, per server.",
                latency.serverUpstream());
        histograms(sb, "grapevine_pool_request_duration_seconds", "Time from the request head read to the "
                + "response complete, per pool.", latency.poolTotal());
        histograms(sb, "grapevine_pool_upstream_duration_seconds", "Time from the start of the last attempt to the "
                + "backend's response head, per pool.", latency.poolUpstream());
        poolMetrics(sb, (List<Map<String, Object>>) stats.getOrDefault("pools", List.of()));
        return sb.toString();
    }

    /** The pools' state, queues, retry budgets and ejection limits. */
    private static void poolMetrics(StringBuilder sb, List<Map<String, Object>> pools) {
        header(sb, "grapevine_pool_up", "1 while a server of the pool is available; 0 for a pool without one, one a "
                + "route names whose servers are all gone included.", "gauge");
        for (Map<String, Object> row : pools) {
            sample(sb, "grapevine_pool_up", "pool=\"" + label(row.get("name")) + "\"",
                    "up".equals(row.get("state")) ? 1 : 0);
        }
        poolMetric(sb, pools, "grapevine_pool_servers_available", "Servers of the pool available now.", "gauge",
                "servers_available");
        poolMetric(sb, pools, "grapevine_pool_queue_current", "Requests waiting in the pool's queue now.", "gauge",
                "queue_current");
        poolMetric(sb, pools, "grapevine_pool_queue_max", "Most requests that waited in the pool's queue at once.",
                "gauge", "queue_max");
        poolMetric(sb, pools, "grapevine_pool_queue_limit", "Requests the pool's queue may hold (queue.max).", "gauge",
                "queue_limit");
        poolMetric(sb, pools, "grapevine_pool_queued_total", "Requests that waited in the pool's queue.", "counter",
                "queued");
        header(sb, "grapevine_pool_queue_rejected_total",
                "Requests answered 503 by the pool's queue: full, or waited queue.timeout_ms.", "counter");
        for (Map<String, Object> row : pools) {
            String pool = "pool=\"" + label(row.get("name")) + "\"";
            sample(sb, "grapevine_pool_queue_rejected_total", pool + ",reason=\"full\"", row.get("queue_full"));
            sample(sb, "grapevine_pool_queue_rejected_total", pool + ",reason=\"timeout\"", row.get("queue_timeouts"));
        }
        poolMetric(sb, pools, "grapevine_pool_no_server_total", "Requests answered 503 because no server of the pool "
                + "could take them, none having failed them.", "counter", "no_server");
        poolMetric(sb, pools, "grapevine_pool_rate_limited_total", "Requests answered 429 because their client was "
                + "over the pool's rate limit.", "counter", "rate_limited");
        poolMetric(sb, pools, "grapevine_pool_queue_abandoned_total",
                "Requests whose client went away while they waited in the pool's queue.", "counter", "queue_abandoned");
        header(sb, "grapevine_pool_queue_wait_seconds", "Time requests waited in the pool's queue before a server "
                + "took them.", "summary");
        for (Map<String, Object> row : pools) {
            String pool = "pool=\"" + label(row.get("name")) + "\"";
            if (row.get("queue_wait_ms_total") instanceof Number total) {
                sample(sb, "grapevine_pool_queue_wait_seconds_sum", pool, total.doubleValue() / 1000);
            }
            sample(sb, "grapevine_pool_queue_wait_seconds_count", pool, row.get("queue_wait_count"));
        }
        poolMetric(sb, pools, "grapevine_pool_retries_denied_total",
                "Retries not made because the pool's retry budget was spent.", "counter", "retries_denied");
        poolMetric(sb, pools, "grapevine_pool_ejections_prevented_total",
                "Ejections max_ejected_percent prevented.", "counter", "ejections_prevented");
    }

    private static void poolMetric(StringBuilder sb, List<Map<String, Object>> pools, String name, String help,
                                   String type, String key) {
        header(sb, name, help, type);
        for (Map<String, Object> row : pools) {
            sample(sb, name, "pool=\"" + label(row.get("name")) + "\"", row.get(key));
        }
    }

    /**
     * One histogram family: cumulative {@code _bucket} counts for {@link #LATENCY_BUCKETS} and {@code +Inf},
     * {@code _sum} in seconds, {@code _count}. The buckets are the series' exact counts: a value counts in every
     * bucket whose bound it does not exceed ({@code le}), and {@code +Inf} is {@code _count}.
     */
    private static void histograms(StringBuilder sb, String name, String help, List<LatencySeries> series) {
        header(sb, name, help, "histogram");
        for (LatencySeries s : series) {
            String labels = seriesLabels(s.labels());
            long[] buckets = s.buckets();
            long total = 0;
            for (int i = 0; i < LATENCY_BUCKETS.size(); i++) {
                total += buckets[i];
                sb.append(name).append("_bucket{").append(labels).append(labels.isEmpty() ? "" : ",")
                        .append("le=\"").append(LATENCY_BUCKETS.get(i).toPlainString()).append("\"} ").append(total)
                        .append('\n');
            }
            total += buckets[LATENCY_BUCKETS.size()];
            sb.append(name).append("_bucket{").append(labels).append(labels.isEmpty() ? "" : ",")
                    .append("le=\"+Inf\"} ").append(total).append('\n');
            sb.append(name).append("_sum{").append(labels).append("} ")
                    .append(BigDecimal.valueOf(s.sumMicros()).movePointLeft(6).toPlainString()).append('\n');
            sb.append(name).append("_count{").append(labels).append("} ").append(total).append('\n');
        }
    }

    private static void header(StringBuilder sb, String name, String help, String type) {
        sb.append("# HELP ").append(name).append(' ').append(help).append('\n');
        sb.append("# TYPE ").append(name).append(' ').append(type).append('\n');
    }

    private static void gauge(StringBuilder sb, String name, String help, Object value) {
        header(sb, name, help, "gauge");
        sample(sb, name, "", value);
    }

    private static void counter(StringBuilder sb, String name, String help, Object value) {
        header(sb, name, help, "counter");
        sample(sb, name, "", value);
    }

    /** One sample line; a value the document lacks (null) gives no line rather than an invalid one. */
    private static void sample(StringBuilder sb, String name, String labels, Object value) {
        if (value instanceof Number) {
            sb.append(name);
            if (!labels.isEmpty()) {
                sb.append('{').append(labels).append('}');
            }
            sb.append(' ').append(value).append('\n');
        }
    }

    private static void serverMetric(StringBuilder sb, List<Map<String, Object>> servers, String name, String help,
                                     String type, Function<Map<String, Object>, Object> value) {
        header(sb, name, help, type);
        for (Map<String, Object> row : servers) {
            sample(sb, name, labels(row), value.apply(row));
        }
    }

    /** The labels of a server row: server, pool, source. */
    private static String labels(Map<String, Object> row) {
        return "server=\"" + label(row.get("name")) + "\",pool=\"" + label(row.get("pool")) + "\",source=\""
                + label(row.get("source")) + "\"";
    }

    private static String seriesLabels(Map<String, String> labels) {
        StringBuilder sb = new StringBuilder();
        for (Map.Entry<String, String> e : labels.entrySet()) {
            if (sb.length() > 0) {
                sb.append(',');
            }
            sb.append(e.getKey()).append("=\"").append(label(e.getValue())).append('"');
        }
        return sb.toString();
    }

    private static String label(Object v) {
        return String.valueOf(v).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }
}
