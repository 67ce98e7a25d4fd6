package io.grapevine.proxy.it;

import static io.grapevine.proxy.it.Fixtures.await;
import static io.grapevine.proxy.it.Fixtures.get;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.it.RawHttpClient.Response;
import io.grapevine.proxy.stats.StatsFormats;
import io.grapevine.proxy.testing.HaproxyCsv;
import io.grapevine.proxy.testing.PrometheusText;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Latency metrics and the stats documents on real sockets, with a workload whose latencies are known: demo
 * backends that wait as long as the request asks ({@code /slow?ms=N}).
 */
@Tag("serial") // with no other test JVM beside it (pom.xml): it asserts measured latency percentiles
class StatsIntegrationTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int FAST = 30;
    private static final int SLOW = 10;

    @RegisterExtension
    final Fixtures fx = new Fixtures();

    private DemoBackend a;
    private DemoBackend b;
    private ProxyServer proxy;

    @BeforeEach
    void start() throws Exception {
        a = fx.backend(1);
        b = fx.backend(2);
        proxy = fx.proxy("", a.port(), b.port());
    }

    /** One request of the workload as the client saw it: the backend that answered, and how long it took. */
    private record Sent(String backendId, boolean fast, double clientSeconds) {
    }

    /**
     * 30 requests of 20 ms and 10 of 200 ms, one after the other, so each server gets 15 and 5. Each is timed by the
     * client too: what the proxy records of an exchange is within what the client waited for it.
     */
    private List<Sent> knownWorkload() throws Exception {
        RawHttpClient client = fx.client(proxy);
        List<Sent> sent = new java.util.ArrayList<>();
        for (int i = 0; i < FAST + SLOW; i++) {
            long start = System.nanoTime();
            Response r = client.send(get("/slow?ms=" + (i < FAST ? 20 : 200))).read();
            sent.add(new Sent(r.header("X-Backend-Id"), i < FAST, (System.nanoTime() - start) / 1e9));
            assertEquals(200, r.status(), r.toString());
        }
        return sent;
    }

    @Test
    void percentilesFollowAKnownWorkload() throws Exception {
        knownWorkload();
        JsonNode stats = json("/stats.json");

        JsonNode all = stats.path("proxy").path("latency").path("total").path("window");
        assertEquals(FAST + SLOW, all.path("count").asLong(), all.toString());
        assertBetween(20, 45, all.path("p50_ms").asDouble(), "p50: three quarters took 20 ms " + all);
        assertBetween(200, 260, all.path("p90_ms").asDouble(), "p90: the slowest quarter took 200 ms " + all);
        assertBetween(200, 300, all.path("p99_ms").asDouble(), "p99 " + all);
        JsonNode upstream = stats.path("proxy").path("latency").path("upstream").path("window");
        assertBetween(20, 45, upstream.path("p50_ms").asDouble(), "upstream p50 " + upstream);
        assertTrue(upstream.path("p50_ms").asDouble() <= all.path("p50_ms").asDouble() + 0.5,
                "the backend's part is within the whole: " + upstream + " " + all);

        JsonNode pool = stats.path("pools").get(0);
        assertEquals("default", pool.path("name").asText());
        assertEquals(FAST + SLOW, pool.path("latency").path("total").path("since_start").path("count").asLong());
        for (JsonNode s : stats.path("servers")) {
            JsonNode w = s.path("latency").path("total").path("window");
            assertEquals((FAST + SLOW) / 2, w.path("count").asLong(), s.toString());
            assertBetween(20, 45, w.path("p50_ms").asDouble(), s.path("name") + " p50 " + w);
            assertBetween(200, 300, w.path("p99_ms").asDouble(), s.path("name") + " p99 " + w);
            assertBetween(200, 300, w.path("max_ms").asDouble(), s.path("name") + " max " + w);
            assertEquals(1, s.path("in_flight_max").asInt(), "one request at a time: " + s);
        }
    }

    @Test
    void metricsParseStrictlyAndTheHistogramsHoldTheWorkload() throws Exception {
        List<Sent> sent = knownWorkload();
        Response r = admin("/metrics");
        assertEquals(200, r.status());
        assertTrue(r.header("Content-Type").startsWith("text/plain; version=0.0.4"), r.toString());
        Map<String, PrometheusText.Family> families = PrometheusText.parse(r.bodyText());

        PrometheusText.Family total = families.get("grapevine_server_request_duration_seconds");
        assertEquals("histogram", total.type());
        for (DemoBackend backend : List.of(a, b)) {
            Map<String, String> server = Map.of("server", "127.0.0.1:" + backend.port(), "pool", "default");
            Map<String, Double> buckets = new HashMap<>();
            total.samples("grapevine_server_request_duration_seconds_bucket", server)
                    .forEach(s -> buckets.put(s.labels().get("le"), s.value()));
            assertEquals(StatsFormats.LATENCY_BUCKETS.size() + 1, buckets.size(), buckets.toString());
            assertEquals(0.0, buckets.get("0.01"), "nothing took under 10 ms: " + buckets);
            // Every request the client saw answered within a bound is in that bound's bucket; none of 200 ms is in
            // le="0.1". (One the machine stalled beyond a bound, as a client saw it, may count above it.)
            List<Sent> here = sent.stream().filter(x -> x.backendId().equals(String.valueOf(backend.id()))).toList();
            assertEquals(FAST / 2, here.stream().filter(Sent::fast).count(), "round robin: " + sent);
            assertBetween(here.stream().filter(x -> x.clientSeconds() <= 0.1).count(), FAST / 2.0, buckets.get("0.1"),
                    "the 20 ms requests: " + buckets + " " + here);
            assertBetween(here.stream().filter(x -> x.clientSeconds() <= 0.25).count(), (FAST + SLOW) / 2.0,
                    buckets.get("0.25"), "and the 200 ms ones: " + buckets + " " + here);
            assertEquals((FAST + SLOW) / 2.0, buckets.get("+Inf"));
            double sum = total.samples("grapevine_server_request_duration_seconds_sum", server).get(0).value();
            double expected = FAST / 2 * 0.020 + SLOW / 2 * 0.200;
            assertBetween(expected, expected + (FAST + SLOW) / 2 * 0.025, sum, "_sum in seconds");
        }
        PrometheusText.Family pool = families.get("grapevine_pool_request_duration_seconds");
        assertEquals(FAST + SLOW, pool.samples("grapevine_pool_request_duration_seconds_count",
                Map.of("pool", "default")).get(0).value());
        assertEquals("histogram", families.get("grapevine_server_upstream_duration_seconds").type());
        assertEquals("histogram", families.get("grapevine_pool_upstream_duration_seconds").type());
        assertEquals(FAST + SLOW, families.get("grapevine_responses_total")
                .samples("grapevine_responses_total", Map.of("code", "2xx")).get(0).value());
    }

    @Test
    void csvReadsWithHaproxysRules() throws Exception {
        knownWorkload();
        Response r = admin("/stats.csv");
        assertEquals(200, r.status());
        assertEquals(StatsFormats.HAPROXY_COLUMNS, HaproxyCsv.header(r.bodyText()));
        List<Map<String, String>> rows = HaproxyCsv.parse(r.bodyText());
        assertEquals(4, rows.size(), r.bodyText());
        Map<String, String> frontend = rows.get(0);
        assertEquals("FRONTEND", frontend.get("svname"));
        assertEquals("0", frontend.get("type"));
        assertEquals("OPEN", frontend.get("status"));
        assertEquals(String.valueOf(FAST + SLOW), frontend.get("req_tot"));
        assertEquals(String.valueOf(FAST + SLOW), frontend.get("hrsp_2xx"));
        assertEquals("1", frontend.get("stot"), "one client connection");
        for (Map<String, String> server : rows.subList(1, 3)) {
            assertEquals("default", server.get("pxname"));
            assertEquals("2", server.get("type"));
            assertEquals("UP", server.get("status"));
            assertEquals(String.valueOf((FAST + SLOW) / 2), server.get("stot"));
            assertEquals(String.valueOf((FAST + SLOW) / 2), server.get("hrsp_2xx"));
            assertEquals("1", server.get("act"));
            assertEquals("0", server.get("bck"));
            assertBetween(20, 100, Double.parseDouble(server.get("ttime")), "mean total time in ms");
            assertTrue(server.get("addr").startsWith("127.0.0.1:"), server.toString());
            assertEquals("", server.get("qcur"), "no queue in Grapevine: empty");
        }
        Map<String, String> backend = rows.get(3);
        assertEquals("BACKEND", backend.get("svname"));
        assertEquals("1", backend.get("type"));
        assertEquals(String.valueOf(FAST + SLOW), backend.get("stot"));
        assertEquals(String.valueOf(FAST + SLOW), backend.get("req_tot"));
        assertEquals("2", backend.get("act"));
        assertEquals("roundrobin", backend.get("algo"));
    }

    @Test
    void aFailingServerShowsDownWithItsCauseOnTheTimeline() throws Exception {
        b.crash();
        RawHttpClient client = fx.client(proxy);
        for (int i = 0; i < 4; i++) {
            assertEquals(200, client.send(get("/")).read().status(), "retried on the other server");
        }
        String name = "127.0.0.1:" + b.port();
        JsonNode[] last = new JsonNode[1];
        try {
            await(Duration.ofSeconds(5), "server b down on /stats.json", () -> {
                last[0] = serverRow(json("/stats.json"), name);
                return last[0] != null && last[0].path("state").asText().equals("down")
                        && last[0].path("down_transitions").asInt() == 1;
            });
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "; last seen " + last[0], e);
        }
        JsonNode s = last[0];
        assertTrue(s.path("state_since_ms").asLong() > System.currentTimeMillis() - 10_000, s.toString());
        assertTrue(s.path("last_failure").asText().contains("CONNECT"), s.toString());
        assertTrue(s.path("redispatched").asLong() >= 1, s.toString());

        JsonNode events = json("/stats/events.json").path("events");
        boolean found = false;
        for (JsonNode e : events) {
            if (e.path("kind").asText().equals("down") && e.path("subject").asText().equals(name)) {
                found = e.path("detail").asText().startsWith("up \u2192 down: failed request: ");
            }
        }
        assertTrue(found, "a down event with its cause: " + events);

        await(Duration.ofSeconds(5), "per-second history", () -> {
            JsonNode all = json("/stats/history.json").path("series").path("*");
            for (JsonNode v : all.path("requests_per_s")) {
                if (v.asDouble() > 0) {
                    return true;
                }
            }
            return false;
        });
    }

    @Test
    void thePageAndItsFilesAreServedFromTheJar() throws Exception {
        Response page = admin("/stats");
        assertEquals(200, page.status());
        assertTrue(page.header("Content-Type").startsWith("text/html"), page.toString());
        assertTrue(page.bodyText().contains("src=\"stats/stats.js\""), "a script of its own, not from elsewhere");
        assertTrue(!page.bodyText().contains("http://") && !page.bodyText().contains("https://"),
                "nothing loaded from another site");
        Response script = admin("/stats/stats.js");
        assertEquals(200, script.status());
        assertTrue(script.header("Content-Type").startsWith("text/javascript"), script.toString());
        assertTrue(!script.bodyText().contains("innerHTML"), "values reach the page as text, never as markup");
        assertEquals(200, admin("/stats/stats.css").status());
    }

    private static JsonNode serverRow(JsonNode stats, String name) {
        for (JsonNode s : stats.path("servers")) {
            if (s.path("name").asText().equals(name)) {
                return s;
            }
        }
        return null;
    }

    private JsonNode json(String path) {
        try {
            Response r = admin(path);
            assertEquals(200, r.status(), r.toString());
            return JSON.readTree(r.body());
        } catch (Exception e) {
            throw new AssertionError(path, e);
        }
    }

    private Response admin(String path) throws Exception {
        try (RawHttpClient client = RawHttpClient.connect(proxy.adminAddress())) {
            return client.send(get(path)).read();
        }
    }

    private static void assertBetween(double low, double high, double actual, String what) {
        assertTrue(actual >= low && actual <= high, what + ": " + actual + " not in [" + low + ", " + high + "]");
    }
}
