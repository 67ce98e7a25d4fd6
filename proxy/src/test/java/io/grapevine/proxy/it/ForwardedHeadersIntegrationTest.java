package io.grapevine.proxy.it;

import static io.grapevine.proxy.it.Fixtures.get;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.it.RawHttpClient.Response;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * What the backend sees of the client's header fields (through {@code /echo}, which prints them): hop-by-hop
 * fields never (RFC 9110 section 7.6.1), X-Forwarded-For / -Proto and X-Request-ID always.
 */
class ForwardedHeadersIntegrationTest {

    @RegisterExtension
    final Fixtures fx = new Fixtures();

    private ProxyServer proxy;

    @BeforeEach
    void start() throws Exception {
        DemoBackend backend = fx.backend(1);
        proxy = fx.proxy("", backend.port());
    }

    @Test
    void hopByHopFieldsNeverReachTheBackend() throws Exception {
        RawHttpClient client = fx.client(proxy);
        Response r = client.send(get("/echo",
                "Connection: keep-alive, X-Secret, x-other-secret",
                "Keep-Alive: timeout=5, max=100",
                "Proxy-Connection: keep-alive",
                "TE: trailers",
                "Upgrade: websocket",
                "X-Secret: named by Connection",
                "X-Other-Secret: named by Connection in lower case",
                "X-Kept: end-to-end")).read();
        assertEquals(200, r.status(), r.toString());
        List<Map.Entry<String, String>> seen = echoedFields(r);
        for (String hopByHop : List.of("connection", "keep-alive", "proxy-connection", "te", "upgrade",
                "x-secret", "x-other-secret", "transfer-encoding")) {
            assertTrue(values(seen, hopByHop).isEmpty(), hopByHop + " reached the backend: " + seen);
        }
        assertEquals(List.of("end-to-end"), values(seen, "x-kept"));
        assertTrue(client.openAfter(50), "Connection: keep-alive from the client must keep the connection");
    }

    @Test
    void forwardingFieldsAreAddedToARequestWithoutThem() throws Exception {
        RawHttpClient client = fx.client(proxy);
        List<Map.Entry<String, String>> first = echoedFields(client.send(get("/echo")).read());
        List<Map.Entry<String, String>> second = echoedFields(client.send(get("/echo")).read());

        assertEquals(List.of("127.0.0.1"), values(first, "x-forwarded-for"));
        assertEquals(List.of("http"), values(first, "x-forwarded-proto"));
        List<String> id1 = values(first, "x-request-id");
        List<String> id2 = values(second, "x-request-id");
        assertEquals(1, id1.size(), first.toString());
        assertTrue(id1.get(0).matches("[0-9a-f]{32}"), "generated X-Request-ID " + id1);
        assertEquals(1, id2.size(), second.toString());
        assertNotEquals(id1, id2, "each request gets its own X-Request-ID");
    }

    @Test
    void theClientsForwardingFieldsAreExtendedOrReplaced() throws Exception {
        RawHttpClient client = fx.client(proxy);
        Response r = client.send(get("/echo",
                "X-Forwarded-For: 203.0.113.7",
                "X-Forwarded-For: 198.51.100.1, 10.0.0.1",
                "X-Forwarded-Proto: https",
                "X-Request-ID: client-chosen-id-42")).read();
        List<Map.Entry<String, String>> seen = echoedFields(r);
        assertEquals(List.of("203.0.113.7, 198.51.100.1, 10.0.0.1, 127.0.0.1"), values(seen, "x-forwarded-for"));
        assertEquals(List.of("http"), values(seen, "x-forwarded-proto"), "a client must not claim https");
        assertEquals(List.of("client-chosen-id-42"), values(seen, "x-request-id"));
    }

    /** The field lines /echo printed: everything between its request line and the first empty line. */
    static List<Map.Entry<String, String>> echoedFields(Response echo) {
        assertEquals(200, echo.status(), echo.toString());
        String[] lines = echo.bodyText().split("\n", -1);
        List<Map.Entry<String, String>> fields = new ArrayList<>();
        for (int i = 1; i < lines.length && !lines[i].isEmpty(); i++) {
            int colon = lines[i].indexOf(':');
            fields.add(Map.entry(lines[i].substring(0, colon), lines[i].substring(colon + 1).trim()));
        }
        return fields;
    }

    static List<String> values(List<Map.Entry<String, String>> fields, String lowerName) {
        List<String> out = new ArrayList<>();
        for (Map.Entry<String, String> f : fields) {
            if (f.getKey().toLowerCase(Locale.ROOT).equals(lowerName)) {
                out.add(f.getValue());
            }
        }
        return out;
    }
}
