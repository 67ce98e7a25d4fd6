package io.grapevine.proxy.it;

import static io.grapevine.proxy.it.Fixtures.await;
import static io.grapevine.proxy.it.Fixtures.get;
import static io.grapevine.proxy.it.Fixtures.server;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.it.RawHttpClient.Response;
import io.grapevine.proxy.table.Server;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A backend crashing under a steady keep-alive GET load costs the clients nothing: requests caught by
 * the crash are retried elsewhere, and once the server is marked down it is not tried any more.
 */
class FailoverIntegrationTest {

    private static final int CLIENTS = 4;

    @RegisterExtension
    final Fixtures fx = new Fixtures();

    @Test
    void aBackendCrashingMidRunCostsNoGet() throws Exception {
        DemoBackend a = fx.backend(1);
        DemoBackend b = fx.backend(2);
        DemoBackend c = fx.backend(3);
        ProxyServer proxy = fx.proxy("\"health_check\": {\"interval_ms\": 100, \"timeout_ms\": 200, \"rise\": 2, \"fall\": 2}",
                a.port(), b.port(), c.port());
        Server crashed = server(proxy, b.port());

        AtomicBoolean running = new AtomicBoolean(true);
        AtomicInteger ok = new AtomicInteger();
        List<String> failures = new CopyOnWriteArrayList<>();
        Map<String, AtomicInteger> perBackend = new ConcurrentHashMap<>();
        List<Thread> clients = new ArrayList<>();
        for (int i = 0; i < CLIENTS; i++) {
            RawHttpClient client = fx.client(proxy);
            Thread t = new Thread(() -> {
                while (running.get()) {
                    try {
                        Response r = client.send(get("/")).read();
                        if (r.status() == 200) {
                            ok.incrementAndGet();
                            perBackend.computeIfAbsent(r.header("X-Backend-Id"), k -> new AtomicInteger()).incrementAndGet();
                        } else {
                            failures.add(r.toString());
                        }
                        if (r.connectionHas("close")) {
                            failures.add("connection closed: " + r);
                            return;
                        }
                    } catch (Exception e) {
                        failures.add(e.toString());
                        return;
                    }
                }
            }, "failover-client-" + i);
            t.setDaemon(true);
            clients.add(t);
            t.start();
        }
        try {
            await(Duration.ofSeconds(10), "200 GETs before the crash", () -> ok.get() >= 200 || !failures.isEmpty());
            assertTrue(perBackend.containsKey("2"), "backend 2 took no request before the crash: " + perBackend);
            b.crash();
            await(Duration.ofSeconds(10), "the crashed server to be marked down",
                    () -> crashed.stateName(System.nanoTime()).equals("down"));
            // An event loop may have picked the server just before it was marked down: wait for those attempts
            // (they hold a slot from the pick on, and are counted before they end) to be over.
            await(Duration.ofSeconds(10), "attempts picked before the mark to end",
                    () -> crashed.stats().inFlight.get() == 0);
            long triedBeforeDown = crashed.stats().requests.sum();
            int okAtDown = ok.get();
            await(Duration.ofSeconds(20), "400 GETs after the crash was noticed",
                    () -> ok.get() >= okAtDown + 400 || !failures.isEmpty());
            assertEquals(triedBeforeDown, crashed.stats().requests.sum(),
                    "the crashed server was sent requests after it was marked down");
        } finally {
            running.set(false);
            for (Thread t : clients) {
                t.join(5000);
            }
        }
        assertEquals(List.of(), failures, "failed GETs");
        assertEquals("down", crashed.stateName(System.nanoTime()));
        assertTrue(perBackend.get("1").get() > 200 && perBackend.get("3").get() > 200, perBackend.toString());
    }
}
