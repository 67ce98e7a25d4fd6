package io.grapevine.proxy.it;

import static io.grapevine.proxy.it.Fixtures.get;
import static io.grapevine.proxy.it.Fixtures.request;
import static io.grapevine.proxy.it.ForwardedHeadersIntegrationTest.echoedFields;
import static io.grapevine.proxy.it.ForwardedHeadersIntegrationTest.values;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.it.RawHttpClient.Response;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** HTTP/1.1 and HTTP/1.0 message semantics through the proxy (RFC 9110, RFC 9112). */
class HttpSemanticsIntegrationTest {

    @RegisterExtension
    final Fixtures fx = new Fixtures();

    private DemoBackend backend;
    private ProxyServer proxy;

    @BeforeEach
    void start() throws Exception {
        backend = fx.backend(1);
        proxy = fx.proxy("", backend.port());
    }

    // ---------------------------------------------------------------- HTTP/1.0

    @Test
    void anHttp10ClientGetsItsConnectionClosedByDefault() throws Exception {
        RawHttpClient client = fx.client(proxy);
        Response r = client.send("GET / HTTP/1.0\r\n\r\n").read();
        assertEquals(200, r.status(), r.toString());
        assertEquals("Hello, I am ID 1\n", r.bodyText());
        assertFalse(r.connectionHas("keep-alive"), r.toString());
        assertTrue(client.closedWithin(2000), "an HTTP/1.0 connection without keep-alive must be closed");
    }

    @Test
    void anHttp10RequestIsForwardedAsValidHttp11WithAHostField() throws Exception {
        // RFC 9112 section 3.2: every HTTP/1.1 request carries Host. Without one from the client, the proxy
        // names the server it chose (an empty Host, which the RFC also allows, is refused by nginx).
        RawHttpClient client = fx.client(proxy);
        Response r = client.send("GET /echo HTTP/1.0\r\n\r\n").read();
        String requestLine = r.bodyText().substring(0, r.bodyText().indexOf('\n'));
        assertEquals("GET /echo HTTP/1.1", requestLine);
        List<String> hosts = values(echoedFields(r), "host");
        assertEquals(1, hosts.size(), r.bodyText());
        assertTrue(hosts.get(0).matches("127\\.0\\.0\\.1:[0-9]+"), "Host names the backend: " + hosts);
    }

    /**
     * A client that half-closes after its requests (printf ... | nc) still gets every answer, as from
     * HAProxy; then the proxy closes. (Whether the last answer also says Connection: close depends on
     * whether its head left before the client's FIN was read.)
     */
    @Test
    void aHalfClosedClientGetsTheAnswersToWhatItSent() throws Exception {
        RawHttpClient client = fx.client(proxy);
        client.send("GET /slow?ms=200 HTTP/1.1\r\nHost: h\r\n\r\nGET /echo HTTP/1.1\r\nHost: h\r\n\r\n")
                .shutdownOutput();
        Response first = client.read();
        assertEquals(200, first.status(), first.toString());
        assertFalse(first.connectionHas("close"), "only the last answer closes: " + first);
        Response second = client.read();
        assertEquals(200, second.status(), second.toString());
        assertTrue(second.bodyText().startsWith("GET /echo HTTP/1.1"), second.bodyText());
        assertTrue(client.closedWithin(2000), "the proxy closes after the last answer");
    }

    /**
     * More pipelined requests than the line holds (max_pipeline_depth, 32), then a half-close, as from
     * {@code printf ... | nc}: the FIN arrives while requests still wait for room in the line, and every request sent
     * before it is answered, in order; then the proxy closes.
     */
    @Test
    void aHalfClosedClientGetsTheAnswersToMorePipelinedRequestsThanTheLineHolds() throws Exception {
        RawHttpClient client = fx.client(proxy).timeout(5000);
        StringBuilder requests = new StringBuilder();
        for (int i = 0; i < 40; i++) {
            requests.append(get("/echo?n=" + i));
        }
        client.send(requests.toString()).shutdownOutput();
        for (int i = 0; i < 40; i++) {
            Response r = client.read();
            assertEquals(200, r.status(), "answer " + i + ": " + r);
            assertTrue(r.bodyText().startsWith("GET /echo?n=" + i + " HTTP/1.1\n"), r.bodyText());
        }
        assertTrue(client.closedWithin(2000), "the proxy closes after the last answer");
    }

    /**
     * A rejected request with more input behind it: the proxy answers, half-closes, and keeps reading and
     * discarding until the client closes (nginx's lingering close), so no reset can destroy the answer.
     */
    @Test
    void aRejectionWithUnreadInputLingersUntilTheClientCloses() throws Exception {
        RawHttpClient client = fx.client(proxy);
        byte[] junk = new byte[256 * 1024];
        java.util.Arrays.fill(junk, (byte) 'x');
        client.send("GET / HTTP/1.1\r\nHost: h\r\nBad Header: x\r\n\r\n").send(junk);
        Response r = client.read();
        assertEquals(400, r.status(), r.toString());
        assertTrue(client.closedWithin(2000), "the answer ends with the proxy's FIN");
        client.send(junk); // still read and discarded, not answered with a reset
        Fixtures.await(java.time.Duration.ofSeconds(1), "the proxy still holds the lingering connection",
                () -> proxy.stats().connectionsCurrent.get() == 1);
        client.close();
        Fixtures.await(java.time.Duration.ofSeconds(1), "the proxy to close once the client has",
                () -> proxy.stats().connectionsCurrent.get() == 0);
    }

    @Test
    void anHttp10ClientThatAsksForKeepAliveKeepsItsConnection() throws Exception {
        RawHttpClient client = fx.client(proxy);
        for (int i = 0; i < 3; i++) {
            Response r = client.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").read();
            assertEquals(200, r.status(), r.toString());
            assertTrue(r.connectionHas("keep-alive"), "an HTTP/1.0 keep-alive must be announced: " + r);
            assertTrue(r.hasHeader("Content-Length"), r.toString());
        }
        assertTrue(client.openAfter(100), "the keep-alive connection was closed");
    }

    @Test
    void aChunkedResponseReachesAnHttp10ClientRawAndTheConnectionCloses() throws Exception {
        RawHttpClient client = fx.client(proxy);
        client.send("GET /bytes?n=100000&chunked=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        Response head = client.readHead();
        assertEquals(200, head.status(), head.toString());
        assertNull(head.header("Transfer-Encoding"), "HTTP/1.0 has no chunked coding: " + head);
        assertNull(head.header("Content-Length"), head.toString());
        assertTrue(head.connectionHas("close"), "the body ends with the connection: " + head);
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        client.readBody(head, false, body::write); // until the proxy closes
        assertEquals(100000, body.size());
        assertEquals(head.header("X-Body-Sha256"), sha256(body.toByteArray()));
    }

    // ---------------------------------------------------------------- connection management

    @Test
    void connectionCloseIsHonouredAndWhatFollowsIsNotServed() throws Exception {
        RawHttpClient client = fx.client(proxy);
        client.send(get("/", "Connection: close") + get("/echo?n=after-close"));
        Response r = client.read();
        assertEquals(200, r.status(), r.toString());
        assertTrue(r.connectionHas("close"), r.toString());
        assertTrue(client.closedWithin(2000), "Connection: close must close the connection");
        assertEquals(1, backend.requestCount(), "the request after Connection: close reached the backend");
    }

    // ---------------------------------------------------------------- Expect, HEAD, 204 / 304, trailers

    @Test
    void expect100ContinueLetsTheClientWaitBeforeSendingTheBody() throws Exception {
        RawHttpClient client = fx.client(proxy).timeout(5000);
        client.send(request("POST", "/echo", "Content-Length: 11", "Expect: 100-continue"));
        Response interim = client.read();
        assertEquals(100, interim.status(), "the client must get 100 Continue before it sends: " + interim);
        client.send("hello world");
        Response r = client.read();
        assertEquals(200, r.status(), r.toString());
        assertEquals(sha256("hello world".getBytes(StandardCharsets.US_ASCII)), r.header("X-Body-Sha256"));
        assertEquals("11", r.header("X-Body-Length"));
    }

    @Test
    void aHeadResponseHasNoBodyEvenWithContentLength() throws Exception {
        RawHttpClient client = fx.client(proxy);
        // The GET behind it in the same packet only parses if the HEAD response carried no body bytes.
        client.send(request("HEAD", "/bytes?n=1000") + request("HEAD", "/bytes?n=1000&chunked=1")
                + get("/echo?n=after-head"));
        Response head = client.read(true);
        assertEquals(200, head.status(), head.toString());
        assertEquals("1000", head.header("Content-Length"), "HEAD keeps the representation's length");
        Response chunkedHead = client.read(true);
        assertEquals(200, chunkedHead.status(), chunkedHead.toString());
        Response after = client.read();
        assertEquals(200, after.status(), after.toString());
        assertTrue(after.bodyText().startsWith("GET /echo?n=after-head HTTP/1.1\n"), after.bodyText());
    }

    @Test
    void responses204And304HaveNoBody() throws Exception {
        RawHttpClient client = fx.client(proxy);
        client.send(get("/status?code=204") + get("/status?code=304") + get("/echo?n=after"));
        Response noContent = client.read();
        assertEquals(204, noContent.status(), noContent.toString());
        assertNull(noContent.header("Transfer-Encoding"), noContent.toString());
        assertNull(noContent.header("Content-Length"), "204 must not carry Content-Length: " + noContent);
        Response notModified = client.read();
        assertEquals(304, notModified.status(), notModified.toString());
        assertNull(notModified.header("Transfer-Encoding"), notModified.toString());
        Response after = client.read();
        assertEquals(200, after.status(), after.toString());
        assertTrue(after.bodyText().startsWith("GET /echo?n=after HTTP/1.1\n"), after.bodyText());
    }

    @Test
    void trailersOfAChunkedUploadReachTheBackend() throws Exception {
        RawHttpClient client = fx.client(proxy);
        client.send(request("POST", "/echo", "Transfer-Encoding: chunked", "Trailer: X-Checksum")
                + "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Checksum: abc123\r\nContent-Length: 999\r\n\r\n");
        Response r = client.read();
        assertEquals(200, r.status(), r.toString());
        String echo = r.bodyText();
        assertEquals(sha256("hello world".getBytes(StandardCharsets.US_ASCII)), r.header("X-Body-Sha256"));
        assertTrue(echo.contains("\ntrailer: X-Checksum: abc123\n"), echo);
        assertFalse(echo.contains("trailer: Content-Length"), "a framing field in the trailers was forwarded: " + echo);
        List<String> te = values(echoedFields(r), "transfer-encoding");
        assertEquals(List.of("chunked"), te, echo);
    }

    static String sha256(byte[] bytes) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    }
}
