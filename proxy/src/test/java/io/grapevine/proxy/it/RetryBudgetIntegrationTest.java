package io.grapevine.proxy.it;

import static io.grapevine.proxy.it.Fixtures.closedPorts;
import static io.grapevine.proxy.it.Fixtures.get;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.it.RawHttpClient.Response;
import io.grapevine.proxy.table.Server;
import io.grapevine.proxy.testing.Admin;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The retry budget through real sockets: when every server refuses, each request may be retried twice
 * ({@code limits.retries}), but the pool makes only about {@code retry_budget_percent} of its requests in retries.
 */
class RetryBudgetIntegrationTest {

    private static final int REQUESTS = 200;

    @RegisterExtension
    final Fixtures fx = new Fixtures();

    /** What a storm cost: attempts made (first tries and retries), and retries the budget denied. */
    private record Storm(long attempts, long denied) {
    }

    /** Sends {@link #REQUESTS} requests to a proxy in front of three refusing servers. */
    private Storm whenEveryServerRefuses(String limits) throws Exception {
        ProxyServer proxy = fx.proxy(2, "\"passive_health\": {\"max_fails\": 0}, \"limits\": {" + limits + "}",
                closedPorts(3));
        RawHttpClient client = fx.client(proxy);
        for (int i = 0; i < REQUESTS; i++) {
            Response r = client.send(get("/storm")).read();
            assertEquals(503, r.status(), r.toString());
        }
        long attempts = 0;
        for (Server s : proxy.tables().current().servers()) {
            attempts += s.stats().requests.sum();
        }
        JsonNode stats = new Admin(proxy.adminAddress()).json("/stats.json");
        long retries = stats.path("proxy").path("retries").asLong();
        long denied = stats.path("proxy").path("retries_denied").asLong();
        assertEquals(attempts - REQUESTS, retries, "every attempt after a request's first is a retry");
        assertEquals(denied, stats.path("pools").get(0).path("retries_denied").asLong());
        return new Storm(attempts, denied);
    }

    @Test
    void theBudgetStopsARetryStormAtItsPercentOfTheRequests() throws Exception {
        Storm storm = whenEveryServerRefuses(
                "\"retries\": 2, \"retry_budget_percent\": 20, \"retry_budget_min_per_s\": 0");
        System.out.println("[retry budget] " + REQUESTS + " requests, every server refusing, 20 % budget: "
                + storm.attempts() + " attempts, " + storm.denied() + " retries denied");
        assertTrue(storm.attempts() >= REQUESTS * 1.15 && storm.attempts() <= REQUESTS * 1.2 + 1,
                "about requests x 1.2 attempts, not x 3: " + storm);
        assertTrue(storm.denied() >= REQUESTS * 0.75, "most requests were denied their retry: " + storm);
    }

    @Test
    void aLargeBudgetLetsEveryRequestUseItsRetries() throws Exception {
        Storm storm = whenEveryServerRefuses(
                "\"retries\": 2, \"retry_budget_percent\": 1000, \"retry_budget_min_per_s\": 0");
        assertEquals(new Storm(3L * REQUESTS, 0), storm, "ten retries per request allowed: limits.retries decides");
    }

    @Test
    void theReserveLetsAQuietProxyRetry() throws Exception {
        Storm storm = whenEveryServerRefuses(
                "\"retries\": 1, \"retry_budget_percent\": 0, \"retry_budget_min_per_s\": 10");
        // 10 per second over the 10 s window, shared by the two event loops: 50 for the loop of this connection.
        assertEquals(new Storm(REQUESTS + 50, REQUESTS - 50), storm);
    }
}
