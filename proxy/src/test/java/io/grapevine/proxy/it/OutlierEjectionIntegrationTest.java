package io.grapevine.proxy.it;

import static io.grapevine.proxy.it.Fixtures.closedPort;
import static io.grapevine.proxy.it.Fixtures.closedPorts;
import static io.grapevine.proxy.it.Fixtures.get;
import static io.grapevine.proxy.it.Fixtures.server;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.it.RawHttpClient.Response;
import io.grapevine.proxy.table.Server;
import io.grapevine.proxy.testing.Admin;
import io.grapevine.proxy.testing.LogCapture;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Passive ejection through real sockets: it lasts longer each time, and spares part of the pool. */
class OutlierEjectionIntegrationTest {

    @RegisterExtension
    final Fixtures fx = new Fixtures();

    @RegisterExtension
    final LogCapture log = new LogCapture(Server.class);

    /** A server that accepts each connection and resets it at once, noting when: a backend that always fails. */
    private static final class ResettingServer implements AutoCloseable {
        final ServerSocket socket;
        final List<Long> accepted = new CopyOnWriteArrayList<>();

        ResettingServer() throws IOException {
            socket = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
            Thread t = new Thread(() -> {
                while (!socket.isClosed()) {
                    try (Socket s = socket.accept()) {
                        accepted.add(System.nanoTime());
                        s.setSoLinger(true, 0);
                    } catch (IOException e) {
                        return;
                    }
                }
            }, "resetting-server");
            t.setDaemon(true);
            t.start();
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    @Test
    void aServerThatKeepsFailingIsEjectedForLongerEachTime() throws Exception {
        DemoBackend good = fx.backend(1);
        ResettingServer bad = fx.track(new ResettingServer());
        // Ejections of 1 s, 2 s, 3 s: the count decays by one per fail_timeout_ms served after an ejection, so a pause
        // of the machine longer than that between the end of one ejection and the next failed request would (rightly)
        // make the next ejection a first one again.
        ProxyServer proxy = fx.proxy(1, "\"passive_health\": {\"max_fails\": 1, \"fail_timeout_ms\": 1000, "
                + "\"max_ejection_ms\": 10000}", bad.socket.getLocalPort(), good.port());
        Server failing = server(proxy, bad.socket.getLocalPort());
        RawHttpClient client = fx.client(proxy);
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (bad.accepted.size() < 3 && System.nanoTime() < deadline) {
            Response r = client.send(get("/")).read();
            assertEquals(200, r.status(), "the failed attempt is retried on the good server: " + r);
        }
        assertEquals(3, bad.accepted.size(), "tried three times within 20 s");
        // The server is tried again as soon as an ejection ends (requests keep coming), so the time between its
        // connections is how long each ejection kept it out.
        long firstMs = (bad.accepted.get(1) - bad.accepted.get(0)) / 1_000_000;
        long secondMs = (bad.accepted.get(2) - bad.accepted.get(1)) / 1_000_000;
        System.out.println("[ejection] out for " + firstMs + " ms, then " + secondMs + " ms");
        assertTrue(firstMs >= 1000, "out for the first ejection's 1000 ms: " + firstMs);
        assertTrue(secondMs >= 2000 && secondMs > firstMs, "out for twice as long the second time: " + secondMs);
        // Its line, not only the count: the count is set a moment before the proxy's loop writes the line.
        Fixtures.await(java.time.Duration.ofSeconds(5), "the third ejection logged",
                () -> log.messages().stream().anyMatch(l -> l.contains(", ejection 3 in a row")));
        assertEquals(3, failing.ejectionCount());
        List<String> lines = log.messages();
        assertTrue(lines.stream().anyMatch(l -> l.contains("ejected for 1000 ms, ejection 1 in a row")), lines.toString());
        assertTrue(lines.stream().anyMatch(l -> l.contains("ejected for 2000 ms, ejection 2 in a row")), lines.toString());
        assertTrue(lines.stream().anyMatch(l -> l.contains("ejected for 3000 ms, ejection 3 in a row")), lines.toString());
        assertTrue(lines.stream().anyMatch(l -> l.contains("back in service after ejection 1 in a row (1000 ms)")),
                lines.toString());
        assertTrue(lines.stream().anyMatch(l -> l.contains("back in service after ejection 2 in a row (2000 ms)")),
                lines.toString());
    }

    @Test
    void noMoreThanMaxEjectedPercentOfThePoolIsEjectedAndTheRestStillGetsRequests() throws Exception {
        int[] ports = closedPorts(4);
        ProxyServer proxy = fx.proxy(2, "\"passive_health\": {\"max_fails\": 1, \"fail_timeout_ms\": 60000, "
                + "\"max_ejected_percent\": 50}, \"limits\": {\"retry_budget_percent\": 1000}", ports);
        Admin admin = new Admin(proxy.adminAddress());
        RawHttpClient client = fx.client(proxy);
        for (int i = 0; i < 20; i++) {
            assertEquals(503, client.send(get("/")).read().status());
        }
        List<Server> servers = proxy.tables().current().servers();
        long now = System.nanoTime();
        List<Server> ejected = servers.stream().filter(s -> s.isEjected(now)).toList();
        List<Server> kept = servers.stream().filter(s -> !s.isEjected(now)).toList();
        assertEquals(2, ejected.size(), "half of four, however many fail");
        long[] before = kept.stream().mapToLong(s -> s.stats().requests.sum()).toArray();
        long ejectedBefore = ejected.stream().mapToLong(s -> s.stats().requests.sum()).sum();
        for (int i = 0; i < 20; i++) {
            assertEquals(503, client.send(get("/")).read().status());
        }
        for (int k = 0; k < kept.size(); k++) {
            assertTrue(kept.get(k).stats().requests.sum() > before[k], "a server kept in still gets requests");
        }
        assertEquals(ejectedBefore, ejected.stream().mapToLong(s -> s.stats().requests.sum()).sum(),
                "the ejected get none");
        JsonNode stats = admin.json("/stats.json");
        int down = 0;
        for (JsonNode row : stats.path("servers")) {
            if (row.path("state").asText().equals("down")) {
                down++;
            }
        }
        assertEquals(2, down);
        JsonNode pool = stats.path("pools").get(0);
        assertEquals(2, pool.path("servers_ejected").asInt());
        assertTrue(pool.path("ejections_prevented").asLong() > 0);
        assertEquals(2, log.messages().stream().filter(l -> l.contains("not ejected")).count(),
                "one line per server kept in: " + log.messages());
    }

    /**
     * Most of a pool fails at once (three servers of four refuse connections) and max_ejected_percent lets only one
     * be ejected: the other two stay in rotation with a failure streak. A request that fails on one of them is retried
     * where nothing is known to fail, not on the other: with one retry, every request is answered by the good server.
     * Sent from one failing server to the other, one retry in two would fail.
     */
    @Test
    void aRetryAvoidsServersThatTheEjectionLimitKeepsInRotationWhileTheyFail() throws Exception {
        DemoBackend good = fx.backend(1);
        int[] closed = closedPorts(3);
        int[] ports = {closed[0], closed[1], closed[2], good.port()};
        ProxyServer proxy = fx.proxy(1, "\"passive_health\": {\"max_fails\": 1, \"fail_timeout_ms\": 60000, "
                + "\"max_ejected_percent\": 25}, \"limits\": {\"retries\": 1, \"retry_budget_percent\": 1000}", ports);
        RawHttpClient client = fx.client(proxy);
        List<Server> refusing = proxy.tables().current().servers().stream().filter(s -> s.address().getPort() != good.port())
                .toList();
        // Until each refusing server has failed once, a retry may still meet one that has not failed yet.
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!refusing.stream().allMatch(s -> s.isEjected(System.nanoTime()) || s.isFailing())
                && System.nanoTime() < deadline) {
            client.send(get("/")).read();
        }
        long now = System.nanoTime();
        assertEquals(1, refusing.stream().filter(s -> s.isEjected(now)).count(), "a quarter of four ejected");
        assertEquals(2, refusing.stream().filter(s -> !s.isEjected(now) && s.isFailing()).count(),
                "two kept in rotation, failing");
        long attemptsBefore = refusing.stream().mapToLong(s -> s.stats().requests.sum()).sum();
        int ok = 0;
        for (int i = 0; i < 100; i++) {
            Response r = client.send(get("/")).read();
            if (r.status() == 200) {
                ok++;
            }
        }
        long firstAttempts = refusing.stream().mapToLong(s -> s.stats().requests.sum()).sum() - attemptsBefore;
        System.out.println("[ejection] 100 requests with two failing servers kept in rotation: " + ok + " answered 200; "
                + firstAttempts + " attempts on the failing servers");
        assertTrue(firstAttempts >= 20, "the failing servers still get new requests: " + firstAttempts);
        assertEquals(100, ok, "every request that failed on one failing server was retried on the good server");
    }

    /**
     * Envoy's {@code successful_active_health_check_uneject_host}: a server ejected by failed requests comes back at
     * its next passing health check, not only when its checks had taken it down first. Here it refused a request
     * (stopped for a moment), then listens again before {@code fall} checks failed: still up by its checks, it must
     * not sit out the rest of a 60 s ejection while they pass.
     */
    @Test
    void aPassingHealthCheckEndsAnEjectionOfAServerItsChecksNeverTookDown() throws Exception {
        DemoBackend good = fx.backend(1);
        int port = closedPort();
        ProxyServer proxy = fx.proxy(1, "\"health_check\": {\"interval_ms\": 50, \"rise\": 1, \"fall\": 100}, "
                + "\"passive_health\": {\"max_fails\": 1, \"fail_timeout_ms\": 60000}", port, good.port());
        Server restarted = server(proxy, port);
        RawHttpClient client = fx.client(proxy);
        Fixtures.await(Duration.ofSeconds(5), "the refusing server ejected", () -> {
            try {
                assertEquals(200, client.send(get("/")).read().status(), "retried on the good server");
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            return restarted.isEjected(System.nanoTime());
        });
        assertTrue(restarted.isActiveUp(), "a few failed checks of the 100 of fall");
        fx.track(new ServerSocket(port, 50, InetAddress.getLoopbackAddress())); // listening again: TCP checks pass
        Fixtures.await(Duration.ofSeconds(5), "the ejection ended by a passing check",
                () -> !restarted.isEjected(System.nanoTime()));
        assertTrue(log.messages().stream().anyMatch(l -> l.contains("back in service before the end of ejection 1 in a "
                + "row: its health check passes")), log.messages().toString());
    }
}
