package io.grapevine.proxy.client;

import static io.grapevine.proxy.client.ForwardingHarness.config;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.stats.PoolStats;
import org.junit.jupiter.api.Test;

/** A pool's rate limit, through the whole forwarding path of an HTTP/1.1 client (embedded channels). */
class RateLimitForwardingTest {

    private static String get(String path, String apiKey) {
        return "GET " + path + " HTTP/1.1\r\nHost: test\r\n" + (apiKey == null ? "" : "X-Api-Key: " + apiKey + "\r\n")
                + "\r\n";
    }

    private static PoolStats poolStats(ForwardingHarness h) {
        return h.backend(0).server().poolState().stats();
    }

    @Test
    void aRequestOverTheLimitIsAnswered429WithRetryAfterAndNeverReachesAServer() throws Exception {
        // Three requests an hour, all at once: the fourth waits 20 minutes for its token.
        try (ForwardingHarness h = new ForwardingHarness(config(1,
                "\"rate_limit\": {\"requests\": 3, \"period_ms\": 3600000}"))) {
            for (int i = 0; i < 3; i++) {
                h.send(get("/ok/" + i, null));
                assertTrue(h.backend(0).received().startsWith("GET /ok/" + i + " "), "request " + i);
                h.backend(0).send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                assertTrue(h.received().startsWith("HTTP/1.1 200 OK\r\n"));
            }
            h.send(get("/over", null));
            String answer = h.received();
            assertTrue(answer.startsWith("HTTP/1.1 429 Too Many Requests\r\n"), answer);
            assertTrue(answer.contains("\r\nRetry-After: 1200\r\n"), "20 minutes until a token: " + answer);
            assertTrue(answer.endsWith("\r\n\r\nToo many requests; try again later.\n"), answer);
            assertTrue(!answer.contains("Connection: close"), "the connection stays open: " + answer);
            assertEquals("", h.backend(0).received(), "no server saw it");
            assertEquals(1, h.backends.size(), "no connection was opened for it");
            assertEquals(1, h.stats.rateLimited.sum());
            assertEquals(1, poolStats(h).rateLimited.sum());
            assertEquals(0, h.stats.status503.sum(), "a refusal of the client's, not the servers' fault");

            // The connection goes on; and the same client stays over its limit.
            h.send(get("/again", null));
            assertTrue(h.received().startsWith("HTTP/1.1 429 "));
            assertEquals(2, h.stats.rateLimited.sum());
        }
    }

    @Test
    void aHeaderKeyCountsEachValueApartAndARequestWithoutItByItsAddress() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1,
                "\"rate_limit\": {\"requests\": 1, \"period_ms\": 3600000, \"key\": \"header:X-Api-Key\"}"))) {
            String[] keys = {"alice", "bob", null};
            for (String key : keys) {
                h.send(get("/first", key));
                h.backend(0).received();
                h.backend(0).send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                assertTrue(h.received().startsWith("HTTP/1.1 200 "), "the first request of " + key);
            }
            for (String key : keys) {
                h.send(get("/second", key));
                assertTrue(h.received().startsWith("HTTP/1.1 429 "), "the second request of " + key
                        + " (by its address when it sends no key)");
            }
            h.send("GET /empty HTTP/1.1\r\nHost: test\r\nX-Api-Key: \r\n\r\n");
            assertTrue(h.received().startsWith("HTTP/1.1 429 "), "an empty key is no key: counted by its address");
            assertEquals(4, h.stats.rateLimited.sum());
        }
    }

    @Test
    void aRequestWithABodyOverTheLimitLeavesTheConnectionUsable() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1,
                "\"rate_limit\": {\"requests\": 1, \"period_ms\": 3600000, \"key\": \"header:X-Api-Key\"}"))) {
            h.send("POST /a HTTP/1.1\r\nHost: test\r\nX-Api-Key: k\r\nContent-Length: 5\r\n\r\nhello");
            h.backend(0).received();
            h.backend(0).send("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            assertTrue(h.received().startsWith("HTTP/1.1 200 "));
            h.send("POST /b HTTP/1.1\r\nHost: test\r\nX-Api-Key: k\r\nContent-Length: 5\r\n\r\nhello");
            assertTrue(h.received().startsWith("HTTP/1.1 429 "));
            h.send(get("/c", "other"));
            assertTrue(h.backend(0).received().startsWith("GET /c "), "the body of the refused request was not taken"
                    + " for the next request's head");
            h.backend(0).send("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            assertTrue(h.received().startsWith("HTTP/1.1 200 "));
        }
    }

    @Test
    void aPoolWithoutALimitIsNotLimitedBesideOneWithIt() throws Exception {
        String conf = "{\"pools\": {\"api\": {\"rate_limit\": {\"requests\": 1, \"period_ms\": 3600000}}},"
                + " \"routes\": [{\"path_prefix\": \"/api/\", \"pool\": \"api\"}],"
                + " \"backend_servers\": [{\"ip\": \"127.0.0.1\", \"port\": 8001},"
                + " {\"ip\": \"127.0.0.1\", \"port\": 8002, \"pool\": \"api\"}]}";
        try (ForwardingHarness h = new ForwardingHarness(conf)) {
            for (int i = 0; i < 5; i++) {
                h.send(get("/page/" + i, null));
                h.backend(0).received();
                h.backend(0).send("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
                assertTrue(h.received().startsWith("HTTP/1.1 200 "), "request " + i + " to the default pool");
            }
            h.send(get("/api/one", null));
            h.backend(1).received();
            h.backend(1).send("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            assertTrue(h.received().startsWith("HTTP/1.1 200 "));
            h.send(get("/api/two", null));
            assertTrue(h.received().startsWith("HTTP/1.1 429 "));
        }
    }

    @Test
    void aRoutesOwnLimitCountsTheRequestsItMatchesBesideThePoolsLimit() throws Exception {
        String conf = "{\"rate_limit\": {\"requests\": 4, \"period_ms\": 3600000},"
                + " \"routes\": [{\"path_prefix\": \"/login\", \"pool\": \"default\","
                + " \"rate_limit\": {\"requests\": 1, \"period_ms\": 3600000}}],"
                + " \"backend_servers\": [{\"ip\": \"127.0.0.1\", \"port\": 8001}]}";
        try (ForwardingHarness h = new ForwardingHarness(conf)) {
            h.send(get("/login", null));
            h.backend(0).received();
            h.backend(0).send("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            assertTrue(h.received().startsWith("HTTP/1.1 200 "), "the route's one request an hour");
            h.send(get("/login", null));
            assertTrue(h.received().startsWith("HTTP/1.1 429 "), "the route's limit");
            for (int i = 0; i < 3; i++) {
                h.send(get("/page/" + i, null));
                h.backend(0).received();
                h.backend(0).send("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
                assertTrue(h.received().startsWith("HTTP/1.1 200 "), "request " + i + " outside the route");
            }
            h.send(get("/page/3", null));
            assertTrue(h.received().startsWith("HTTP/1.1 429 "), "the pool's four: one to /login, three elsewhere;"
                    + " the refused /login took none of them");
            assertEquals(2, poolStats(h).rateLimited.sum(), "both refusals are the pool's");
            assertEquals(2, h.stats.rateLimited.sum());
        }
    }
}
