package io.grapevine.proxy.it;

import static io.grapevine.proxy.it.Fixtures.get;
import static io.grapevine.proxy.it.Fixtures.request;
import static io.grapevine.proxy.it.HttpSemanticsIntegrationTest.sha256;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.it.RawHttpClient.Response;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Load balancing is per request, and pipelined requests are answered in order whatever server took them. */
class BalancingIntegrationTest {

    @RegisterExtension
    final Fixtures fx = new Fixtures();

    private ProxyServer proxyOverThree() throws Exception {
        DemoBackend a = fx.backend(1);
        DemoBackend b = fx.backend(2);
        DemoBackend c = fx.backend(3);
        return fx.proxy("", a.port(), b.port(), c.port());
    }

    @Test
    void requestsOnOneKeepAliveConnectionAreSpreadEvenly() throws Exception {
        ProxyServer proxy = proxyOverThree();
        RawHttpClient client = fx.client(proxy);
        Map<String, Integer> perBackend = new TreeMap<>();
        for (int i = 0; i < 30; i++) {
            Response r = client.send(get("/")).read();
            assertEquals(200, r.status(), r.toString());
            assertFalse(r.connectionHas("close"), "the connection must stay open: " + r);
            perBackend.merge(r.header("X-Backend-Id"), 1, Integer::sum);
        }
        assertEquals(Map.of("1", 10, "2", 10, "3", 10), perBackend);
    }

    @Test
    void fiftyPipelinedRequestsInOnePacketAreAnsweredInOrder() throws Exception {
        ProxyServer proxy = proxyOverThree();
        RawHttpClient client = fx.client(proxy);
        StringBuilder packet = new StringBuilder();
        for (int i = 0; i < 50; i++) {
            packet.append(get("/echo?n=" + i));
        }
        client.send(packet.toString());
        Set<String> backends = new HashSet<>();
        for (int i = 0; i < 50; i++) {
            Response r = client.read();
            assertEquals(200, r.status(), "response " + i + ": " + r);
            assertTrue(r.bodyText().startsWith("GET /echo?n=" + i + " HTTP/1.1\n"),
                    "response " + i + " is not the answer to request " + i + ":\n" + r.bodyText());
            backends.add(r.header("X-Backend-Id"));
        }
        assertTrue(backends.size() > 1, "pipelined requests all went to " + backends);
        assertTrue(client.openAfter(100), "the keep-alive connection was closed");
    }

    @Test
    void aSlowFirstRequestDoesNotLetLaterAnswersOvertakeIt() throws Exception {
        ProxyServer proxy = proxyOverThree();
        RawHttpClient client = fx.client(proxy);
        StringBuilder packet = new StringBuilder(get("/slow?ms=300"));
        for (int i = 1; i <= 9; i++) {
            packet.append(get("/echo?n=" + i));
        }
        client.send(packet.toString());
        Response first = client.read();
        assertEquals(200, first.status());
        assertEquals("waited 300 ms\n", first.bodyText());
        Set<String> backends = new HashSet<>();
        backends.add(first.header("X-Backend-Id"));
        for (int i = 1; i <= 9; i++) {
            Response r = client.read();
            assertEquals(200, r.status(), "response " + i + ": " + r);
            assertTrue(r.bodyText().startsWith("GET /echo?n=" + i + " HTTP/1.1\n"),
                    "response " + i + " is out of order:\n" + r.bodyText());
            backends.add(r.header("X-Backend-Id"));
        }
        assertEquals(3, backends.size(), "the requests behind the slow one went to " + backends);
    }

    @Test
    void pipelinedUploadsAreAnsweredInOrderWithTheirOwnBodies() throws Exception {
        ProxyServer proxy = proxyOverThree();
        RawHttpClient client = fx.client(proxy);
        StringBuilder packet = new StringBuilder();
        for (int i = 0; i < 20; i++) {
            String body = ("body-" + i + "-").repeat(i * 50 + 1);
            packet.append(i % 2 == 0
                    ? request("POST", "/echo?n=" + i, "Content-Length: " + body.length()) + body
                    : request("POST", "/echo?n=" + i, "Transfer-Encoding: chunked")
                            + Integer.toHexString(body.length()) + "\r\n" + body + "\r\n0\r\n\r\n");
        }
        client.send(packet.toString());
        for (int i = 0; i < 20; i++) {
            Response r = client.read();
            String body = ("body-" + i + "-").repeat(i * 50 + 1);
            assertEquals(200, r.status(), "response " + i + ": " + r);
            assertTrue(r.bodyText().startsWith("POST /echo?n=" + i + " HTTP/1.1\n"), r.bodyText());
            assertEquals(sha256(body.getBytes(StandardCharsets.US_ASCII)), r.header("X-Body-Sha256"),
                    "request " + i + " reached the backend with another body");
        }
    }

    @Test
    void largeResponsesBehindASlowOneAreHeldBackAndThenDeliveredWhole() throws Exception {
        ProxyServer proxy = proxyOverThree();
        RawHttpClient client = fx.client(proxy);
        int size = 8 << 20;
        client.send(get("/slow?ms=300") + get("/bytes?n=" + size) + get("/bytes?n=" + size + "&chunked=1")
                + get("/echo?n=last"));
        assertEquals("waited 300 ms\n", client.read().bodyText());
        for (int i = 0; i < 2; i++) {
            Response r = client.read();
            assertEquals(200, r.status(), r.toString());
            assertEquals(size, r.body().length);
            assertEquals(r.header("X-Body-Sha256"), sha256(r.body()), "response " + (i + 1) + " arrived altered");
        }
        assertTrue(client.read().bodyText().startsWith("GET /echo?n=last HTTP/1.1\n"));
    }

    @Test
    void requestsAfterAPipelinedConnectionCloseAreNeitherAnsweredNorForwarded() throws Exception {
        DemoBackend a = fx.backend(1);
        ProxyServer proxy = fx.proxy("", a.port());
        RawHttpClient client = fx.client(proxy);
        client.send(get("/echo?n=1") + get("/echo?n=2", "Connection: close") + get("/echo?n=3") + get("/echo?n=4"));
        assertTrue(client.read().bodyText().startsWith("GET /echo?n=1 "));
        Response last = client.read();
        assertTrue(last.bodyText().startsWith("GET /echo?n=2 "), last.bodyText());
        assertTrue(last.connectionHas("close"), last.toString());
        assertTrue(client.closedWithin(2000), "Connection: close must close the connection");
        assertEquals(2, a.requestCount(), "requests after Connection: close reached the backend");
    }
}
