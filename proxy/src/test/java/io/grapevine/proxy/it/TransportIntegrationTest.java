package io.grapevine.proxy.it;

import static io.grapevine.proxy.it.Fixtures.await;
import static io.grapevine.proxy.it.Fixtures.get;
import static io.grapevine.proxy.it.Fixtures.server;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.it.RawHttpClient.Response;
import io.grapevine.proxy.net.Transport;
import io.grapevine.proxy.testing.Admin;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Every transport the proxy can be started on ({@code --transport}) does the whole job: accepts, reads and writes
 * clients, dials and reuses backends, relays bodies larger than a socket buffer both ways, answers pipelined
 * requests in order and a half-closed client, runs the health checks and the admin listener. A transport this
 * host cannot run is skipped (the start-up fallback is TransportTest's).
 */
class TransportIntegrationTest {

    private static final int UPLOAD = 300 * 1024;
    private static final int DOWNLOAD = 2 * 1024 * 1024;
    private static final int PIPELINED = 8;

    @RegisterExtension
    final Fixtures fx = new Fixtures();

    @ParameterizedTest
    @EnumSource(Transport.class)
    void theProxyDoesItsWholeJobOnEveryTransport(Transport transport) throws Exception {
        assumeTrue(transport.isAvailable(), () -> transport + " cannot run here: " + transport.unavailabilityCause());
        DemoBackend a = fx.backend(1);
        DemoBackend b = fx.backend(2);
        int dead = Fixtures.closedPort();
        ProxyServer proxy = fx.proxy(transport, 1, "\"health_check\": {\"interval_ms\": 100, \"timeout_ms\": 500,"
                + " \"rise\": 1, \"fall\": 1}", a.port(), b.port(), dead);
        assertTrue(proxy.description().endsWith("on " + transport), proxy.description());
        await(Duration.ofSeconds(10), "the health checks to mark the closed port down and the backends up",
                () -> server(proxy, dead).stateName(System.nanoTime()).equals("down")
                        && server(proxy, a.port()).stateName(System.nanoTime()).equals("up")
                        && server(proxy, b.port()).stateName(System.nanoTime()).equals("up"));

        RawHttpClient client = fx.client(proxy);
        Set<String> answeredBy = new HashSet<>();
        for (int i = 0; i < 6; i++) {
            Response r = client.send(get("/")).read();
            assertEquals(200, r.status(), r.toString());
            answeredBy.add(r.header("X-Backend-Id"));
        }
        assertEquals(Set.of("1", "2"), answeredBy, "round robin over both live backends, on one client connection");

        byte[] upload = new byte[UPLOAD];
        for (int i = 0; i < upload.length; i++) {
            upload[i] = (byte) ('a' + i % 26);
        }
        client.send(Fixtures.request("POST", "/echo", "Content-Length: " + UPLOAD));
        client.send(upload);
        Response echoed = client.read();
        assertEquals(200, echoed.status(), echoed.toString());
        assertTrue(echoed.bodyText().contains("body-length: " + UPLOAD), echoed.bodyText());

        Response download = client.send(get("/bytes?n=" + DOWNLOAD)).read();
        assertEquals(200, download.status());
        assertEquals(DOWNLOAD, download.body().length, "the whole body, relayed through the transport's writes");

        StringBuilder batch = new StringBuilder();
        for (int i = 0; i < PIPELINED; i++) {
            batch.append(get("/echo?n=" + i));
        }
        client.send(batch.toString());
        for (int i = 0; i < PIPELINED; i++) {
            Response r = client.read();
            assertEquals(200, r.status());
            assertTrue(r.bodyText().startsWith("GET /echo?n=" + i + " HTTP/1.1"), "response " + i + " in request order: "
                    + r.bodyText());
        }

        RawHttpClient halfClosed = fx.client(proxy);
        halfClosed.send(get("/")).shutdownOutput();
        Response last = halfClosed.read();
        assertEquals(200, last.status(), "a client that half-closed after its request still gets the answer");
        assertTrue(halfClosed.closedWithin(5000), "then the proxy closes its side");

        assertEquals(3, new Admin(proxy.adminAddress()).json("/table").get("servers").size(),
                "the admin listener answers on " + transport);
    }
}
