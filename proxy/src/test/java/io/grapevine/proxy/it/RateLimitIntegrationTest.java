package io.grapevine.proxy.it;

import static io.grapevine.proxy.it.Fixtures.get;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.it.RawHttpClient.Response;
import io.grapevine.proxy.testing.Admin;
import java.net.InetAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse.BodyHandlers;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A pool's rate limit through real sockets and two event loops: a client's connections share its bucket whichever
 * loop serves them, another address has its own, and the refusals show in {@code /stats.json}, {@code /metrics}
 * and {@code /table}.
 */
class RateLimitIntegrationTest {

    private static final int REQUESTS = 100;
    private static final int BURST = 20;

    @RegisterExtension
    final Fixtures fx = new Fixtures();

    /** What a client saw: answers by status, and when its first and last requests were sent (nanoTime). */
    private record Tally(int ok, int limited, int other, long firstNanos, long lastNanos) {
    }

    /** One keep-alive connection from {@code local} sending requests back to back for {@code millis}. */
    private static Tally hammer(ProxyServer proxy, InetAddress local, long millis) throws Exception {
        int ok = 0;
        int limited = 0;
        int other = 0;
        try (RawHttpClient client = RawHttpClient.connect(proxy.listenAddress(), local)) {
            long first = System.nanoTime();
            long last = first;
            long end = first + TimeUnit.MILLISECONDS.toNanos(millis);
            while ((last = System.nanoTime()) - end < 0) {
                Response r = client.send(get("/")).read();
                switch (r.status()) {
                    case 200 -> ok++;
                    case 429 -> {
                        limited++;
                        long retryAfter = Long.parseLong(r.header("Retry-After"));
                        assertTrue(retryAfter == 1, "a token is at most 10 ms away, rounded up to 1 s: " + r);
                    }
                    default -> other++;
                }
            }
            return new Tally(ok, limited, other, first, last);
        }
    }

    @Test
    void aClientsConnectionsShareItsBucketAcrossLoopsAndAnotherAddressHasItsOwn() throws Exception {
        DemoBackend backend = fx.backend(1);
        ProxyServer proxy = fx.proxy(2, "\"rate_limit\": {\"requests\": " + REQUESTS + ", \"burst\": " + BURST + "}",
                backend.port());
        InetAddress one = InetAddress.getByName("127.0.0.1");
        InetAddress two = InetAddress.getByName("127.0.0.2");
        long millis = 2000;
        ExecutorService pool = Executors.newFixedThreadPool(5);
        List<Tally> fromOne = new ArrayList<>();
        Tally fromTwo;
        try {
            List<Future<Tally>> four = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                four.add(pool.submit(() -> hammer(proxy, one, millis)));
            }
            Future<Tally> single = pool.submit(() -> hammer(proxy, two, millis));
            for (Future<Tally> f : four) {
                fromOne.add(f.get(30, TimeUnit.SECONDS));
            }
            fromTwo = single.get(30, TimeUnit.SECONDS);
        } finally {
            pool.shutdownNow();
        }
        int ok = fromOne.stream().mapToInt(Tally::ok).sum();
        int limited = fromOne.stream().mapToInt(Tally::limited).sum();
        long first = fromOne.stream().mapToLong(Tally::firstNanos).min().orElseThrow();
        long last = fromOne.stream().mapToLong(Tally::lastNanos).max().orElseThrow();
        double seconds = (last - first) / 1e9;
        // A token bucket of 20 refilled at 100 a second admits no more than 20 + 100 per second elapsed, whatever
        // the loops and connections (one more for the rounding of the clock's nanoseconds to intervals).
        long most = BURST + (long) Math.ceil(REQUESTS * seconds) + 1;
        System.out.printf("[rate limit] 127.0.0.1, 4 connections: %d admitted, %d refused in %.2f s (at most %d);"
                + " 127.0.0.2, 1 connection: %d admitted, %d refused%n", ok, limited, seconds, most, fromTwo.ok(),
                fromTwo.limited());
        assertEquals(0, fromOne.stream().mapToInt(Tally::other).sum() + fromTwo.other(), "other statuses");
        assertTrue(ok <= most, ok + " admitted in " + seconds + " s, over the limit's " + most);
        assertTrue(limited > ok, "four connections sending back to back were mostly refused: " + ok + " admitted, "
                + limited + " refused");
        // Clients that never stop asking get at least most of their tokens; a machine too slow to send 100
        // requests a second would show it here, not a limiter that admits too few.
        assertTrue(ok >= (BURST + REQUESTS * seconds) / 2, ok + " admitted in " + seconds + " s");
        double twoSeconds = (fromTwo.lastNanos() - fromTwo.firstNanos()) / 1e9;
        assertTrue(fromTwo.ok() <= BURST + Math.ceil(REQUESTS * twoSeconds) + 1, "127.0.0.2: " + fromTwo);
        assertTrue(fromTwo.ok() >= (BURST + REQUESTS * twoSeconds) / 2, "127.0.0.2 has a bucket of its own, "
                + "not 127.0.0.1's: " + fromTwo);
        assertTrue(fromTwo.limited() > 0, "127.0.0.2 went over its own limit: " + fromTwo);

        long refused = limited + fromTwo.limited();
        assertEquals(refused, proxy.stats().rateLimited.sum());
        Admin admin = new Admin(proxy.adminAddress());
        assertEquals("100 per 1 s by source, burst 20", admin.json("/table").path("pools").path(0).path("rate_limit")
                .asText());
        assertEquals(refused, admin.json("/stats.json").path("proxy").path("rate_limited").asLong());
        assertEquals(refused, admin.json("/stats.json").path("pools").path(0).path("rate_limited").asLong());
        String metrics = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + proxy.adminAddress().getPort() + "/metrics")).build(),
                BodyHandlers.ofString()).body();
        assertTrue(metrics.contains("\ngrapevine_rate_limited_total " + refused + "\n"), metrics);
        assertTrue(metrics.contains("\ngrapevine_pool_rate_limited_total{pool=\"default\"} " + refused + "\n"),
                metrics);
    }

    @Test
    void aClientOfAnExemptNetworkIsNeverLimited() throws Exception {
        DemoBackend backend = fx.backend(1);
        ProxyServer proxy = fx.proxy(1, "\"rate_limit\": {\"requests\": 5, \"period_ms\": 3600000,"
                + " \"exempt\": [\"127.0.0.2/32\"]}", backend.port());
        try (RawHttpClient exempt = RawHttpClient.connect(proxy.listenAddress(), InetAddress.getByName("127.0.0.2"));
             RawHttpClient limited = RawHttpClient.connect(proxy.listenAddress(), InetAddress.getByName("127.0.0.1"))) {
            for (int i = 0; i < 50; i++) {
                assertEquals(200, exempt.send(get("/")).read().status(), "request " + i + " from the exempt network");
            }
            int[] statuses = new int[10];
            for (int i = 0; i < statuses.length; i++) {
                statuses[i] = limited.send(get("/")).read().status();
            }
            assertEquals("[200, 200, 200, 200, 200, 429, 429, 429, 429, 429]", java.util.Arrays.toString(statuses),
                    "another address has its five an hour");
        }
        assertEquals(5, proxy.stats().rateLimited.sum());
    }

    @Test
    void aRoutesLimitShowsInTableAndHoldsItsPathAlone() throws Exception {
        DemoBackend backend = fx.backend(1);
        ProxyServer proxy = fx.proxy(1, "\"routes\": [{\"path_prefix\": \"/echo\", \"pool\": \"default\","
                + " \"rate_limit\": {\"requests\": 2, \"period_ms\": 60000}}]", backend.port());
        assertEquals("2 per 60 s by source, burst 2", new Admin(proxy.adminAddress()).json("/table").path("routes")
                .path(0).path("rate_limit").asText());
        try (RawHttpClient client = RawHttpClient.connect(proxy.listenAddress())) {
            int[] statuses = new int[6];
            for (int i = 0; i < statuses.length; i++) {
                statuses[i] = client.send(get(i % 2 == 0 ? "/echo" : "/")).read().status();
            }
            assertEquals("[200, 200, 200, 200, 429, 200]", java.util.Arrays.toString(statuses),
                    "/echo twice a minute, / as often as it likes");
        }
    }
}
