package io.grapevine.proxy.stats;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.testing.HaproxyCsv;
import io.grapevine.proxy.testing.PrometheusText;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** The CSV and Prometheus forms of a stats document built by hand. */
class StatsFormatsTest {

    private static Map<String, Object> document() {
        Map<String, Object> proxy = new LinkedHashMap<>();
        for (String k : List.of("connections_current", "connections_max", "connections_limit", "connections_total",
                "connections_refused", "connections_shed", "http2_streams_shed", "responses_compressed", "compression_bytes_in",
                "compression_bytes_out", "compressions_skipped", "proxy_protocol_rejected", "requests", "responses_1xx", "responses_2xx",
                "responses_3xx", "responses_4xx", "responses_5xx", "bad_requests", "client_timeouts", "local_502",
                "local_503", "local_504", "local_503_no_socket", "retries", "aborted_responses",
                "tunnels_opened", "tunnels_current", "bytes_in", "bytes_out")) {
            proxy.put(k, 1);
        }
        proxy.put("request_rate", 2.5);
        Map<String, Object> check = new LinkedHashMap<>();
        check.put("ok", false);
        check.put("status", "L7STS");
        check.put("code", 500);
        check.put("duration_ms", 3);
        check.put("failed", 2);
        check.put("detail", "answered \"HTTP/1.1 500 Oops, broken\"");
        Map<String, Object> server = new LinkedHashMap<>();
        server.put("name", "web-1");
        server.put("address", "[::1]:8001");
        server.put("pool", "web");
        server.put("source", "gossip");
        server.put("state", "draining");
        server.put("weight", 4);
        server.put("effective_weight", 1.0);
        server.put("backup", false);
        server.put("requests", 10);
        server.put("retried", 3);
        server.put("redispatched", 1);
        server.put("bytes_in", 500);
        server.put("bytes_out", 200);
        server.put("responses_2xx", 9);
        server.put("check", check);
        Map<String, Object> pool = new LinkedHashMap<>();
        pool.put("name", "web");
        pool.put("state", "up");
        pool.put("requests", 10);
        pool.put("balance", "roundrobin");
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("generation", 3);
        doc.put("now_ms", 1_000_000L);
        doc.put("proxy", proxy);
        doc.put("pools", List.of(pool));
        doc.put("servers", List.of(server));
        Map<String, Object> certificate = new LinkedHashMap<>();
        certificate.put("file", "/etc/grapevine/a \"b\".crt");
        certificate.put("names", List.of("a.test", "*.b.test"));
        certificate.put("not_after_s", 1_800_000_000L);
        Map<String, Object> tls = new LinkedHashMap<>();
        tls.put("reloads", 2);
        tls.put("reload_failures", 1);
        tls.put("certificates", List.of(certificate));
        doc.put("tls", tls);
        return doc;
    }

    @Test
    void eachCertificatesEndIsAGaugeLabelledByItsFileAndNames() {
        String text = StatsFormats.prometheus(document(), new LatencyMetrics(List.of(), List.of(), List.of(), List.of()));
        assertTrue(text.contains("\ngrapevine_tls_certificate_expiry_timestamp_seconds{file=\"/etc/grapevine/a \\\"b\\\".crt\","
                + "names=\"a.test,*.b.test\"} 1800000000\n"), text);
        assertTrue(text.contains("\ngrapevine_tls_certificate_reloads_total 2\n"), text);
        assertTrue(text.contains("\ngrapevine_tls_certificate_reload_failures_total 1\n"), text);
        Map<String, Object> withoutTls = document();
        withoutTls.remove("tls");
        assertFalse(StatsFormats.prometheus(withoutTls, new LatencyMetrics(List.of(), List.of(), List.of(), List.of()))
                .contains("grapevine_tls_certificate"), "no TLS, no certificate metrics");
    }

    @Test
    void csvHasHaproxysColumnsAndRowsInHaproxysOrder() {
        String csv = StatsFormats.csv(document());
        assertEquals(StatsFormats.HAPROXY_COLUMNS, HaproxyCsv.header(csv));
        assertEquals(100, StatsFormats.HAPROXY_COLUMNS.size(), "fields 0 to 99 of the management guide");
        List<Map<String, String>> rows = HaproxyCsv.parse(csv);
        assertEquals(List.of("grapevine/FRONTEND/0", "web/web-1/2", "web/BACKEND/1"),
                rows.stream().map(r -> r.get("pxname") + "/" + r.get("svname") + "/" + r.get("type")).toList());
        Map<String, String> s = rows.get(1);
        assertEquals("DRAIN", s.get("status"));
        assertEquals("1", s.get("weight"), "the effective weight");
        assertEquals("4", s.get("uweight"));
        assertEquals("25", s.get("throttle"), "slow start: a quarter of its weight");
        assertEquals("200", s.get("bin"), "request bytes, the client's in");
        assertEquals("500", s.get("bout"));
        assertEquals("2", s.get("wretr"));
        assertEquals("1", s.get("wredis"));
        assertEquals("L7STS", s.get("check_status"));
        assertEquals("500", s.get("check_code"));
        assertEquals("answered \"HTTP/1.1 500 Oops, broken\"", s.get("last_chk"), "quoted, and read back whole");
        assertEquals("", s.get("qcur"), "no queue: empty, as HAProxy leaves what it does not have");
        assertEquals("[::1]:8001", s.get("addr"));
        assertEquals("UP", rows.get(2).get("status"));
        assertEquals("roundrobin", rows.get(2).get("algo"));
        assertEquals("OPEN", rows.get(0).get("status"));
        assertEquals("3", rows.get(0).get("req_rate"), "a whole number of requests per second");
    }

    /** A check that could not open its socket shows as HAProxy's {@code SOCKERR}, "Socket error". */
    @Test
    @SuppressWarnings("unchecked")
    void aCheckWithNoSocketIsASocketError() {
        Map<String, Object> doc = document();
        Map<String, Object> check = (Map<String, Object>) ((List<Map<String, Object>>) doc.get("servers")).get(0)
                .get("check");
        check.put("status", "SOCKERR");
        check.put("code", null);
        check.put("detail", "no socket: too many open files (limit 1024)");
        Map<String, String> s = HaproxyCsv.parse(StatsFormats.csv(doc)).get(1);
        assertEquals("SOCKERR", s.get("check_status"));
        assertEquals("Socket error", s.get("check_desc"));
        assertEquals("no socket: too many open files (limit 1024)", s.get("last_chk"));
    }

    /** The proxy's 503s for want of a descriptor to connect to a backend have a counter of their own. */
    @Test
    void theNoSocket503sHaveACounterOfTheirOwn() {
        String text = StatsFormats.prometheus(document(), new LatencyMetrics(List.of(), List.of(), List.of(),
                List.of()));
        assertTrue(text.contains("\n# TYPE grapevine_local_responses_no_socket_total counter\n"
                + "grapevine_local_responses_no_socket_total 1\n"), text);
    }

    @Test
    void theCsvReaderRefusesWhatHaproxysRulesRefuse() {
        assertThrows(IllegalArgumentException.class, () -> HaproxyCsv.parse("pxname,svname,\na,b,\n"));
        assertThrows(IllegalArgumentException.class, () -> HaproxyCsv.parse("# pxname,svname,\na,b,c,\n"));
        assertThrows(IllegalArgumentException.class, () -> HaproxyCsv.parse("# pxname,svname,\na,b\"c,\n"));
        assertEquals("b,\"c", HaproxyCsv.parse("# pxname,svname,\na,\"b,\"\"c\",\n").get(0).get("svname"));
    }

    @Test
    void prometheusHistogramsAreCumulativeAndEndInTheCount() {
        long[] h = new long[LatencyRecorder.BUCKETS];
        h[StatsFormats.LATENCY_BUCKETS.indexOf(new BigDecimal("0.0005"))] = 5; // 0.3 ms
        h[StatsFormats.LATENCY_BUCKETS.indexOf(new BigDecimal("0.025"))] = 3; // 20 ms
        h[LatencyRecorder.BUCKETS - 1] = 1; // 40 s, above the last bound
        Map<String, Object> doc = document();
        List<LatencySeries> servers = new ArrayList<>(List.of(new LatencySeries(Map.of("server", "web-1", "pool", "web",
                "source", "gossip"), 40_061_500, h)));
        LatencyMetrics latency = new LatencyMetrics(servers, servers, List.of(new LatencySeries(Map.of("pool", "web"),
                40_061_500, h)), List.of());
        Map<String, PrometheusText.Family> families = PrometheusText.parse(StatsFormats.prometheus(doc, latency));
        PrometheusText.Family f = families.get("grapevine_server_request_duration_seconds");
        assertEquals("histogram", f.type());
        Map<String, Double> buckets = new LinkedHashMap<>();
        f.samples("grapevine_server_request_duration_seconds_bucket", Map.of("server", "web-1"))
                .forEach(s -> buckets.put(s.labels().get("le"), s.value()));
        assertEquals(5.0, buckets.get("0.0005"));
        assertEquals(5.0, buckets.get("0.01"));
        assertEquals(8.0, buckets.get("0.025"));
        assertEquals(8.0, buckets.get("30"));
        assertEquals(9.0, buckets.get("+Inf"));
        assertEquals(40.0615, f.samples("grapevine_server_request_duration_seconds_sum", Map.of()).get(0).value(), 1e-9);
        assertEquals(0, families.get("grapevine_pool_upstream_duration_seconds").samples().size(),
                "a family without series has its HELP and TYPE only");
    }

    /**
     * Names follow Prometheus' rules (writing exporters, metric and label naming): a counter ends in {@code _total},
     * and a quantity with a unit names it in the plural as the suffix, before {@code _total}
     * ({@code node_network_receive_bytes_total}, {@code http_request_duration_seconds}): a query or a dashboard
     * built on those rules finds the bytes counters by {@code _bytes_total}.
     */
    @Test
    void metricNamesEndInTheirUnitAndCountersInTotal() {
        LatencyMetrics none = new LatencyMetrics(List.of(), List.of(), List.of(), List.of());
        Set<String> wrong = new TreeSet<>();
        for (String line : StatsFormats.prometheus(document(), none).split("\n")) {
            if (!line.startsWith("# TYPE ")) {
                continue;
            }
            String name = line.split(" ")[2];
            String type = line.split(" ")[3];
            String base = type.equals("counter") ? name.replaceFirst("_total$", "") : name;
            if (type.equals("counter") && base.equals(name)) {
                wrong.add(name + ": a counter without _total");
            }
            for (String unit : List.of("bytes", "seconds")) {
                if (base.contains("_" + unit + "_") && !base.endsWith("_" + unit)) {
                    wrong.add(name + ": " + unit + " is not its last word before _total");
                }
            }
        }
        assertEquals(Set.of(), wrong);
    }

    /** Every metric the README and docs/ name in their text ({@code `grapevine_...`}) is one /metrics has. */
    @Test
    void everyMetricTheDocsNameIsServed() throws IOException {
        Set<String> served = new TreeSet<>();
        LatencyMetrics none = new LatencyMetrics(List.of(), List.of(), List.of(), List.of());
        String text = StatsFormats.prometheus(document(), none);
        for (String line : text.split("\n")) {
            String name = line.startsWith("# TYPE ") ? line.split(" ")[2] : line.split("[{ ]")[0];
            served.add(name);
            if (line.startsWith("# TYPE ") && line.endsWith(" histogram")) {
                Stream.of("_bucket", "_sum", "_count").forEach(suffix -> served.add(name + suffix));
            }
        }
        Pattern metric = Pattern.compile("`(grapevine_[a-z0-9_]*[a-z0-9])(\\{[a-z_,]*\\})?`");
        Set<String> missing = new TreeSet<>();
        List<Path> docs = new ArrayList<>(List.of(Path.of("..", "README.md")));
        try (Stream<Path> files = Files.list(Path.of("..", "docs"))) {
            files.filter(f -> f.toString().endsWith(".md")).forEach(docs::add);
        }
        for (Path doc : docs) {
            Matcher m = metric.matcher(Files.readString(doc));
            while (m.find()) {
                if (!served.contains(m.group(1))) {
                    missing.add(doc.getFileName() + ": " + m.group(1));
                }
            }
        }
        assertTrue(served.size() > 50, "metrics served: " + served);
        assertEquals(Set.of(), missing, "metrics the docs name that /metrics does not serve");
    }
}
