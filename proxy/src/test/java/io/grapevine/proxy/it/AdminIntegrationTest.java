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
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The admin listener: /health, /table in the shape design.md gives, /stats.json counters that follow traffic. */
class AdminIntegrationTest {

    private static final ObjectMapper JSON = new ObjectMapper();

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

    @Test
    void healthAnswersOk() throws Exception {
        Response r = admin("/health");
        assertEquals(200, r.status(), r.toString());
        assertEquals("ok\n", r.bodyText());
    }

    @Test
    void tableListsTheServersInTheDocumentedShape() throws Exception {
        JsonNode table = json(admin("/table"));
        assertTrue(table.get("generation").isIntegralNumber() && table.get("generation").asLong() >= 1, table.toString());
        JsonNode servers = table.get("servers");
        assertEquals(2, servers.size(), table.toString());
        List<Integer> ports = new ArrayList<>();
        for (JsonNode s : servers) {
            Set<String> keys = new HashSet<>();
            s.fieldNames().forEachRemaining(keys::add);
            assertTrue(keys.containsAll(Set.of("name", "host", "port", "source", "state", "weight", "pool")),
                    "keys " + keys);
            assertEquals("127.0.0.1", s.get("host").asText());
            assertEquals("127.0.0.1:" + s.get("port").asInt(), s.get("name").asText());
            assertEquals("static", s.get("source").asText());
            assertEquals("up", s.get("state").asText());
            assertEquals(1, s.get("weight").asInt());
            assertEquals("default", s.get("pool").asText());
            ports.add(s.get("port").asInt());
        }
        assertEquals(List.of(a.port(), b.port()), ports);
    }

    @Test
    void tableShowsAServerMarkedDown() throws Exception {
        b.crash();
        RawHttpClient client = fx.client(proxy);
        for (int i = 0; i < 4; i++) {
            assertEquals(200, client.send(get("/")).read().status());
        }
        await(Duration.ofSeconds(5), "backend 2 to show as down", () -> {
            try {
                for (JsonNode s : json(admin("/table")).get("servers")) {
                    if (s.get("port").asInt() == b.port()) {
                        return s.get("state").asText().equals("down");
                    }
                }
                return false;
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        });
    }

    @Test
    void statsCountersMoveWithTraffic() throws Exception {
        JsonNode before = json(admin("/stats.json"));
        RawHttpClient client = fx.client(proxy);
        for (int i = 0; i < 6; i++) {
            assertEquals(200, client.send(get("/echo?n=" + i)).read().status());
        }
        assertEquals(404, client.send(get("/no-such-page")).read().status());
        JsonNode after = json(admin("/stats.json"));

        JsonNode p0 = before.get("proxy");
        JsonNode p1 = after.get("proxy");
        assertEquals(7, p1.get("requests").asLong() - p0.get("requests").asLong(), "proxy requests");
        assertEquals(1, p1.get("connections_total").asLong() - p0.get("connections_total").asLong());
        assertEquals(1, p1.get("connections_current").asLong(), "the client connection is open");
        assertTrue(p1.get("bytes_in").asLong() > p0.get("bytes_in").asLong());
        assertTrue(p1.get("bytes_out").asLong() > p0.get("bytes_out").asLong());
        assertEquals(7, sum(after, "requests") - sum(before, "requests"), "server requests");
        assertEquals(6, sum(after, "responses_2xx") - sum(before, "responses_2xx"));
        assertEquals(1, sum(after, "responses_4xx") - sum(before, "responses_4xx"));
        for (JsonNode s : after.get("servers")) {
            assertTrue(s.get("requests").asLong() >= 3, "round robin sent every server a share: " + s);
            assertEquals(0, s.get("in_flight").asLong(), s.toString());
        }
    }

    private Response admin(String path) throws Exception {
        try (RawHttpClient client = RawHttpClient.connect(proxy.adminAddress())) {
            return client.send(get(path)).read();
        }
    }

    private static JsonNode json(Response r) throws Exception {
        assertEquals(200, r.status(), r.toString());
        assertTrue(r.header("Content-Type").startsWith("application/json"), r.toString());
        return JSON.readTree(r.body());
    }

    private static long sum(JsonNode stats, String counter) {
        long total = 0;
        for (JsonNode s : stats.get("servers")) {
            total += s.get(counter).asLong();
        }
        return total;
    }
}
