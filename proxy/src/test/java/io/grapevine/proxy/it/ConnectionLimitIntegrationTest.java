package io.grapevine.proxy.it;

import static io.grapevine.proxy.it.Fixtures.await;
import static io.grapevine.proxy.it.Fixtures.get;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.forward.Exchange;
import io.grapevine.proxy.it.RawHttpClient.Response;
import io.grapevine.proxy.table.PoolState;
import io.grapevine.proxy.testing.Admin;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code max_conn} and the pool queue through real sockets, with two event loops: a backend that holds its
 * requests counts how many it has at once; clients on their own connections stand for concurrent users.
 */
class ConnectionLimitIntegrationTest {

    private static final Duration WAIT = Duration.ofSeconds(10);

    @RegisterExtension
    final Fixtures fx = new Fixtures();

    private ProxyServer proxy(HoldingBackend backend, int maxConn, String extra) throws Exception {
        String json = "{\"listen\": \"127.0.0.1:0\", \"admin\": \"127.0.0.1:0\", \"health_check\": {\"enabled\": false}, "
                + (extra.isEmpty() ? "" : extra + ", ")
                + "\"backend_servers\": [{\"ip\": \"127.0.0.1\", \"port\": " + backend.port() + ", \"max_conn\": "
                + maxConn + "}]}";
        return fx.track(ProxyServer.start(ConfigLoader.parse(json, "test config"), 2));
    }

    /** Sends {@code path} on a client of its own and waits until the backend holds it (so the server is full). */
    private RawHttpClient heldAtTheBackend(ProxyServer proxy, HoldingBackend backend, String path) throws Exception {
        int before = backend.holding();
        RawHttpClient client = fx.client(proxy).send(get(path));
        await(WAIT, path + " at the backend", () -> backend.holding() == before + 1);
        return client;
    }

    /** Sends {@code path} on a client of its own and waits until the pool's queue holds {@code depth} requests. */
    private RawHttpClient queued(ProxyServer proxy, String path, int depth) throws Exception {
        RawHttpClient client = fx.client(proxy).send(get(path));
        await(WAIT, path + " queued", () -> pool(proxy).queue().size() == depth);
        return client;
    }

    private static PoolState pool(ProxyServer proxy) {
        return proxy.tables().current().pools().get("default").state();
    }

    private static JsonNode poolRow(ProxyServer proxy) {
        for (JsonNode p : new Admin(proxy.adminAddress()).json("/stats.json").path("pools")) {
            if (p.path("name").asText().equals("default")) {
                return p;
            }
        }
        throw new AssertionError("no pool default in /stats.json");
    }

    /** The request target of an exchange, from the head it sent upstream (still readable when it ends). */
    private static String target(Exchange ex) {
        String line = ex.request().upstreamHead.toString(StandardCharsets.US_ASCII);
        return line.substring(line.indexOf(' ') + 1, line.indexOf(' ', line.indexOf(' ') + 1));
    }

    private static String metrics(ProxyServer proxy) throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + proxy.adminAddress().getPort() + "/metrics")).build(),
                HttpResponse.BodyHandlers.ofString());
        return r.body();
    }

    @Test
    void maxConnTwoKeepsTenConcurrentRequestsToTwoAtATimeAndServesTheRestInArrivalOrder() throws Exception {
        HoldingBackend backend = fx.track(HoldingBackend.start());
        ProxyServer proxy = proxy(backend, 2, "");
        Map<String, long[]> timings = new ConcurrentHashMap<>(); // target -> {total, queued}
        proxy.dataPlane().addObserver((Exchange ex) -> timings.put(target(ex),
                new long[] {ex.endNanos() - ex.startNanos(), ex.queuedNanos()}));
        List<RawHttpClient> clients = new ArrayList<>();
        clients.add(heldAtTheBackend(proxy, backend, "/r0"));
        clients.add(heldAtTheBackend(proxy, backend, "/r1"));
        for (int i = 2; i < 10; i++) {
            clients.add(queued(proxy, "/r" + i, i - 1));
        }
        assertEquals(2, backend.holding(), "the others wait at the proxy");
        JsonNode row = poolRow(proxy);
        assertEquals(8, row.path("queue_current").asInt());
        assertEquals(8, row.path("queue_max").asInt());
        assertEquals(1000, row.path("queue_limit").asInt());

        // One answer at a time: each frees one slot, which must go to the oldest waiter.
        for (int answered = 1; answered <= 8; answered++) {
            int arrived = answered + 2;
            backend.release(1);
            await(WAIT, arrived + " requests at the backend", () -> backend.arrivals().size() == arrived);
            assertTrue(backend.holding() <= 2, "at most max_conn at the backend: " + backend.holding());
        }
        backend.release(2);
        for (int i = 0; i < 10; i++) {
            Response r = clients.get(i).read();
            assertEquals(200, r.status(), "request " + i + ": " + r);
            assertEquals("/r" + i + "\n", r.bodyText());
        }
        assertTrue(backend.mostAtOnce() <= 2, "at most max_conn at the backend at any moment: " + backend.mostAtOnce());
        assertEquals(2, backend.mostAtOnce());
        List<String> arrivals = backend.arrivals();
        assertEquals(List.of("/r2", "/r3", "/r4", "/r5", "/r6", "/r7", "/r8", "/r9"), arrivals.subList(2, 10),
                "first come, first served: " + arrivals);

        row = poolRow(proxy);
        assertEquals(0, row.path("queue_current").asInt());
        assertEquals(8, row.path("queue_max").asInt());
        assertEquals(8, row.path("queued").asInt());
        assertEquals(8, row.path("queue_wait_count").asInt());
        assertTrue(row.path("queue_wait_ms_total").asDouble() > 0);
        String metrics = metrics(proxy);
        assertTrue(metrics.contains("grapevine_pool_queue_max{pool=\"default\"} 8\n"), metrics);
        assertTrue(metrics.contains("grapevine_pool_queue_wait_seconds_count{pool=\"default\"} 8\n"), metrics);
        assertTrue(metrics.contains("grapevine_server_max_conn{"), metrics);
        await(WAIT, "every exchange observed", () -> timings.size() == 10);
        for (int i = 2; i < 10; i++) {
            long[] t = timings.get("/r" + i);
            assertTrue(t[1] > 0, "r" + i + " was queued");
            assertTrue(t[0] >= t[1], "its latency counts its time in the queue");
        }
        assertEquals(0, timings.get("/r0")[1]);
    }

    @Test
    void aFullQueueAnswers503WithRetryAfterAtOnce() throws Exception {
        HoldingBackend backend = fx.track(HoldingBackend.start());
        ProxyServer proxy = proxy(backend, 1, "\"queue\": {\"max\": 1, \"timeout_ms\": 30000}");
        RawHttpClient first = heldAtTheBackend(proxy, backend, "/first");
        RawHttpClient second = queued(proxy, "/second", 1);
        Response busy = fx.client(proxy).send(get("/third")).read();
        assertEquals(503, busy.status(), busy.toString());
        assertEquals("30", busy.header("Retry-After"), "the queue timeout, in seconds: " + busy);
        assertFalse(busy.connectionHas("close"), "a busy pool need not cost the client its connection");
        backend.release(2);
        assertEquals(200, first.read().status());
        assertEquals(200, second.read().status());
        assertEquals(List.of("/first", "/second"), backend.arrivals());
        assertEquals(1, poolRow(proxy).path("queue_full").asInt());
    }

    @Test
    void aRequestWaitingLongerThanTheQueueTimeoutIs503() throws Exception {
        HoldingBackend backend = fx.track(HoldingBackend.start());
        ProxyServer proxy = proxy(backend, 1, "\"queue\": {\"timeout_ms\": 300}");
        RawHttpClient first = heldAtTheBackend(proxy, backend, "/first");
        long sent = System.nanoTime();
        Response late = fx.client(proxy).send(get("/late")).read();
        long waitedMs = (System.nanoTime() - sent) / 1_000_000;
        assertEquals(503, late.status(), late.toString());
        assertEquals("1", late.header("Retry-After"));
        assertTrue(waitedMs >= 300 && waitedMs < 5000, "answered when its time was up: " + waitedMs + " ms");
        backend.release(1);
        assertEquals(200, first.read().status());
        assertEquals(List.of("/first"), backend.arrivals(), "the late request never reached the server");
        JsonNode row = poolRow(proxy);
        assertEquals(1, row.path("queue_timeouts").asInt());
        assertTrue(metrics(proxy).contains("grapevine_pool_queue_rejected_total{pool=\"default\",reason=\"timeout\"} 1\n"));
    }

    @Test
    void aClientThatGoesAwayWhileQueuedFreesItsPlace() throws Exception {
        HoldingBackend backend = fx.track(HoldingBackend.start());
        ProxyServer proxy = proxy(backend, 1, "\"queue\": {\"max\": 1, \"timeout_ms\": 30000}");
        RawHttpClient first = heldAtTheBackend(proxy, backend, "/first");
        RawHttpClient leaving = RawHttpClient.connect(proxy.listenAddress()).send(get("/leaving"));
        await(WAIT, "the second queued", () -> pool(proxy).queue().size() == 1);
        leaving.close();
        await(WAIT, "its place freed", () -> pool(proxy).queue().size() == 0);
        RawHttpClient third = queued(proxy, "/third", 1); // in its place, not refused
        backend.release(2);
        assertEquals(200, first.read().status());
        assertEquals(200, third.read().status());
        assertEquals(List.of("/first", "/third"), backend.arrivals());
        JsonNode row = poolRow(proxy);
        assertEquals(1, row.path("queue_abandoned").asInt());
        assertEquals(0, row.path("queue_full").asInt());
        assertEquals(0, proxy.tables().current().servers().get(0).inFlight(), "every slot came back");
    }

    @Test
    void withoutMaxConnNothingQueues() throws Exception {
        HoldingBackend backend = fx.track(HoldingBackend.start());
        String json = "{\"listen\": \"127.0.0.1:0\", \"admin\": \"127.0.0.1:0\", \"health_check\": {\"enabled\": false}, "
                + "\"backend_servers\": [{\"ip\": \"127.0.0.1\", \"port\": " + backend.port() + "}]}";
        ProxyServer proxy = fx.track(ProxyServer.start(ConfigLoader.parse(json, "test config"), 2));
        List<RawHttpClient> clients = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            clients.add(fx.client(proxy).send(get("/u" + i)));
        }
        await(WAIT, "all five at the backend", () -> backend.holding() == 5);
        assertEquals(0, pool(proxy).queue().size());
        backend.release(5);
        for (RawHttpClient c : clients) {
            assertEquals(200, c.read().status());
        }
    }
}
