package io.grapevine.proxy.it;

import static io.grapevine.proxy.it.Fixtures.await;
import static io.grapevine.proxy.it.Fixtures.get;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.it.RawHttpClient.Response;
import io.grapevine.proxy.it.RecordingBackend.Mode;
import java.time.Duration;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Oversized request line: 414; oversized header section: 431; a head that does not arrive in time: 408. */
class RequestLimitsIntegrationTest {

    private static final int HEADER_MS = 300;
    private static final int IDLE_MS = 500;

    @RegisterExtension
    final Fixtures fx = new Fixtures();

    private RecordingBackend backend;
    private ProxyServer proxy;

    @BeforeEach
    void start() throws Exception {
        backend = fx.recording(Mode.OK);
        proxy = fx.proxy("\"limits\": {\"max_request_line\": 1024, \"max_header_bytes\": 2048, \"max_header_count\": 20},"
                + " \"timeouts\": {\"client_header_ms\": " + HEADER_MS + ", \"client_idle_ms\": " + IDLE_MS + "}",
                backend.port());
    }

    @Test
    void requestsWithinTheLimitsPass() throws Exception {
        RawHttpClient client = fx.client(proxy);
        String[] fields = new String[19];
        for (int i = 0; i < fields.length; i++) {
            fields[i] = "X-F" + i + ": " + "v".repeat(50);
        }
        Response r = client.send(get("/" + "a".repeat(900), fields)).read();
        assertEquals(200, r.status(), r.toString());
    }

    @Test
    void anOversizedRequestLineIs414() throws Exception {
        assertRejected(get("/" + "a".repeat(2000)), 414);
    }

    @Test
    void anOversizedRequestLineIs414BeforeItEnds() throws Exception {
        // No line end at all: the proxy must not wait for one.
        assertRejected("GET /" + "a".repeat(4000), 414);
    }

    @Test
    void anOversizedHeaderSectionIs431() throws Exception {
        assertRejected(get("/", "X-Big: " + "b".repeat(3000)), 431);
    }

    @Test
    void tooManyHeaderFieldsIs431() throws Exception {
        String[] fields = new String[25];
        for (int i = 0; i < fields.length; i++) {
            fields[i] = "X-F" + i + ": v";
        }
        assertRejected(get("/", fields), 431);
    }

    @Test
    void aHeadThatStallsHalfwayIs408AfterTheHeaderDeadline() throws Exception {
        long start = System.nanoTime(); // the deadline of a first request may count from the accept
        RawHttpClient client = fx.client(proxy);
        client.send("GET /stalled HTTP/1.1\r\nHost: example.test\r\nX-Half: ");
        Response r = client.read();
        long elapsedMillis = (System.nanoTime() - start) / 1_000_000;
        assertEquals(408, r.status(), r.toString());
        assertTrue(elapsedMillis >= HEADER_MS, "408 after " + elapsedMillis + " ms, before the deadline");
        assertTrue(client.closedWithin(2000), "the client connection must be closed after 408");
        assertNothingForwarded();
    }

    @Test
    void aHeadTrickledByteByByteIs408TooTheDeadlineCountsFromItsFirstByte() throws Exception {
        RawHttpClient client = fx.client(proxy);
        byte[] head = get("/trickle", "X-Slow: " + "s".repeat(500)).getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        int pauseMs = 20;
        Thread trickler = new Thread(() -> {
            try {
                for (byte b : head) {
                    client.output().write(b);
                    client.output().flush();
                    Thread.sleep(pauseMs);
                }
            } catch (Exception e) {
                // the proxy closed the connection: expected
            }
        }, "trickler");
        trickler.setDaemon(true);
        long start = System.nanoTime();
        trickler.start();
        Response r = client.read();
        long elapsedMillis = (System.nanoTime() - start) / 1_000_000;
        assertEquals(408, r.status(), r.toString());
        // A deadline that each byte moved on would not end before the head is complete (over 10 s of pauses).
        long trickleMillis = (long) head.length * pauseMs;
        assertTrue(elapsedMillis < trickleMillis / 2, "408 only after " + elapsedMillis + " ms, of a head that takes "
                + trickleMillis + " ms to trickle");
        trickler.interrupt();
        trickler.join(2000);
        assertNothingForwarded();
    }

    /**
     * A first head whose first byte could begin the HTTP/2 connection preface ("P", as "POST" and "PUT" do), which
     * keeps the protocol undecided until a byte that cannot follow it, has client_header_ms from the accept all the
     * same: the time the protocol took to tell counts, and is not granted again once it is told.
     */
    @Test
    void aHeadThatBeginsLikeTheHttp2PrefaceHasNoLongerDeadline() throws Exception {
        int headerMs = 1000;
        RawHttpClient client = fx.client(proxyWithHeaderMs(headerMs));
        client.send("P");
        Thread.sleep(headerMs * 8 / 10); // HTTP/1.1 told within the deadline...
        long told = System.nanoTime();
        client.send("OST /late HTTP/1.1\r\nHost: example.test\r\nContent-Length: 0\r\n");
        Thread completer = new Thread(() -> {
            try {
                Thread.sleep(headerMs * 9 / 10); // ...and the head complete after it, if the proxy is still reading
                client.send("\r\n");
            } catch (Exception e) {
                // the proxy answered and closed meanwhile
            }
        }, "completer");
        completer.setDaemon(true);
        completer.start();
        Response r = client.read();
        long ms = (System.nanoTime() - told) / 1_000_000;
        completer.interrupt();
        completer.join(2000);
        assertEquals(408, r.status(), r.toString());
        // A deadline granted again once HTTP/1.1 was told ends headerMs after that at the earliest.
        assertTrue(ms < headerMs, "408 " + ms + " ms after HTTP/1.1 was told, " + (headerMs * 8 / 10 + ms)
                + " ms after the first byte");
        assertEquals("", backend.receivedText(), "nothing of the late head reaches the backend");
    }

    /**
     * A first head that stops after a byte that could also begin the HTTP/2 connection preface ("P" of "POST") is a
     * request head that did not complete in time: 408, as for any other first byte, not a silent close.
     */
    @Test
    void aHeadStalledAfterAByteThePrefaceBeginsWithIs408() throws Exception {
        int headerMs = 1000;
        ProxyServer slower = proxyWithHeaderMs(headerMs);
        RawHttpClient client = fx.client(slower);
        client.send("P");
        Response r = client.timeout(headerMs * 4).read();
        assertEquals(408, r.status(), r.toString());
        assertEquals(1, slower.stats().clientTimeouts.sum(), "counted as a client timeout");
    }

    /**
     * So has the connection preface of an HTTP/2 client with prior knowledge (its magic, then its SETTINGS): the time
     * the magic took counts, and the proxy's wait for the SETTINGS does not start again once the magic is complete.
     */
    @Test
    void aConnectionPrefaceSentSlowlyHasNoLongerDeadline() throws Exception {
        int headerMs = 2000;
        RawHttpClient client = fx.client(proxyWithHeaderMs(headerMs));
        byte[] magic = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        client.send(java.util.Arrays.copyOf(magic, magic.length - 1));
        Thread.sleep(headerMs * 8 / 10);
        long told = System.nanoTime();
        client.send(new byte[] {magic[magic.length - 1]}); // HTTP/2 told within the deadline; no SETTINGS follow
        client.timeout(headerMs * 3).readUntilClose(); // the proxy's SETTINGS, its GOAWAY, the close
        long ms = (System.nanoTime() - told) / 1_000_000;
        // Due about headerMs / 5 after the magic; a deadline granted again for the SETTINGS ends headerMs after it.
        assertTrue(ms < headerMs, "closed " + ms + " ms after the magic was complete, "
                + (headerMs * 8 / 10 + ms) + " ms after it began");
    }

    /**
     * A client that stops within the HTTP/2 connection preface (18 of its 24 bytes: no HTTP/1.x head begins so, yet
     * the preface is not complete) is closed at client_header_ms from the accept, with nothing sent. No HTTP/2 codec
     * was installed, so there is no server preface a GOAWAY could follow, and RFC 9113 section 3.4 lets a GOAWAY be
     * omitted for what is not a preface; nginx and HAProxy close such a connection without a word too. A preface that
     * turns out wrong within its 24 bytes is an HTTP/1.x head, answered as one: 505.
     */
    @Test
    void aConnectionPrefaceThatStallsIsClosedAtClientHeaderMs() throws Exception {
        long start = System.nanoTime(); // before the accept, from which the deadline counts
        RawHttpClient stalled = fx.client(proxy);
        stalled.send("PRI * HTTP/2.0\r\n\r\n");
        assertTrue(stalled.closedWithin(HEADER_MS * 10), "open long after client_header_ms");
        long elapsedMillis = (System.nanoTime() - start) / 1_000_000;
        assertTrue(elapsedMillis >= HEADER_MS, "closed " + elapsedMillis + " ms after the connect, before client_header_ms");
        Response wrong = fx.client(proxy).send("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n").read();
        assertEquals(505, wrong.status(), wrong.toString());
        assertNothingForwarded();
    }

    @Test
    void aBodyThatStallsIs408AndTheBackendNeverGetsARequestThatLooksComplete() throws Exception {
        RawHttpClient client = fx.client(proxy);
        long start = System.nanoTime();
        client.send(Fixtures.request("POST", "/upload", "Content-Length: 100") + "only part of it");
        Response r = client.read();
        long elapsedMillis = (System.nanoTime() - start) / 1_000_000;
        assertEquals(408, r.status(), r.toString());
        assertFalse(r.bodyText().contains("head"), "its head did arrive: " + r.bodyText());
        assertTrue(elapsedMillis >= IDLE_MS, "408 after " + elapsedMillis + " ms");
        assertTrue(client.closedWithin(2000), "the client connection must be closed after 408");
        await(Duration.ofSeconds(5), "the proxy to drop the backend connection",
                () -> backend.connectionCount() == 1 && backend.openConnections() == 0);
        assertEquals(0, backend.requestCount(), "the backend got a complete request");
    }

    @Test
    void anIdleKeepAliveConnectionIsClosedAfterTheIdleTimeout() throws Exception {
        RawHttpClient client = fx.client(proxy);
        long start = System.nanoTime(); // idleness starts later, when the response is complete
        assertEquals(200, client.send(get("/")).read().status());
        assertTrue(client.closedWithin(5000), "an idle connection must be closed");
        long elapsedMillis = (System.nanoTime() - start) / 1_000_000;
        assertTrue(elapsedMillis >= IDLE_MS, "closed after " + elapsedMillis + " ms of idleness");
    }

    private ProxyServer proxyWithHeaderMs(int headerMs) throws Exception {
        return fx.proxy("\"timeouts\": {\"client_header_ms\": " + headerMs + "}", backend.port());
    }

    private void assertRejected(String request, int status) throws Exception {
        RawHttpClient client = fx.client(proxy);
        client.send(request);
        Response r = client.read();
        assertEquals(status, r.status(), r.toString());
        assertTrue(r.connectionHas("close"), r.toString());
        assertTrue(client.closedWithin(2000), "the client connection must be closed");
        assertNothingForwarded();
    }

    private void assertNothingForwarded() {
        await(Duration.ofSeconds(5), "the proxy to release the client connection",
                () -> proxy.stats().connectionsCurrent.get() == 0);
        assertEquals(0, proxy.tables().current().servers().get(0).stats().requests.sum());
        assertEquals("", backend.receivedText());
    }
}
