package io.grapevine.proxy.it;

import static io.grapevine.proxy.it.Fixtures.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.it.RawHttpClient.Response;
import io.grapevine.proxy.it.RecordingBackend.Mode;
import io.grapevine.proxy.table.Server;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Request smuggling vectors of RFC 9112 (and the usual obfuscations): each is answered 400 (501 for a
 * transfer coding the proxy does not implement), the client connection is closed, and not one byte of
 * it reaches the backend. Each request is written in one packet, so the proxy sees the whole attempt
 * (head and body) in one read.
 */
class SmugglingIntegrationTest {

    private static final String H = "Host: example.test\r\n";

    @RegisterExtension
    final Fixtures fx = new Fixtures();

    static Stream<Arguments> vectors() {
        return Stream.of(
                // Content-Length and Transfer-Encoding together (RFC 9112 section 6.1)
                v("CL then TE", "POST / HTTP/1.1\r\n" + H + "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX"),
                v("TE then CL", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\nX"),
                // duplicate Content-Length
                v("duplicate CL, same value", "POST / HTTP/1.1\r\n" + H + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
                v("duplicate CL, different values", "POST / HTTP/1.1\r\n" + H + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
                v("CL list", "POST / HTTP/1.1\r\n" + H + "Content-Length: 5, 5\r\n\r\nhello"),
                // malformed Content-Length
                v("CL with plus sign", "POST / HTTP/1.1\r\n" + H + "Content-Length: +5\r\n\r\nhello"),
                v("CL negative", "POST / HTTP/1.1\r\n" + H + "Content-Length: -1\r\n\r\n"),
                v("CL hexadecimal", "POST / HTTP/1.1\r\n" + H + "Content-Length: 0x5\r\n\r\nhello"),
                v("CL with inner space", "POST / HTTP/1.1\r\n" + H + "Content-Length: 1 0\r\n\r\nhellohello"),
                v("CL empty", "POST / HTTP/1.1\r\n" + H + "Content-Length: \r\n\r\n"),
                v("CL exponent", "POST / HTTP/1.1\r\n" + H + "Content-Length: 1e1\r\n\r\nhellohello"),
                v("CL overflowing", "POST / HTTP/1.1\r\n" + H + "Content-Length: 99999999999999999999\r\n\r\nhello"),
                // obfuscated Transfer-Encoding
                v("TE xchunked", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"),
                v("TE chunked with suffix", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunkedx\r\n\r\n0\r\n\r\n"),
                v("TE identity", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: identity\r\n\r\n0\r\n\r\n"),
                v("TE chunked, identity", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"),
                v("TE chunked, chunked", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"),
                v("TE quoted", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n"),
                v("TE with vertical tab", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding:\u000bchunked\r\n\r\n0\r\n\r\n"),
                v("TE with form feed", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\u000c\r\n\r\n0\r\n\r\n"),
                v("TE space before colon", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n"),
                v("TE tab before colon", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n"),
                v("TE duplicate", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
                v("TE chunked then other", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n"),
                v("TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
                v(501, "TE gzip, chunked (not implemented)", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
                // obs-fold (RFC 9112 section 5.2)
                v("obs-fold", "GET / HTTP/1.1\r\n" + H + "X-Folded: a\r\n b\r\n\r\n"),
                v("obs-fold with tab", "GET / HTTP/1.1\r\n" + H + "X-Folded: a\r\n\tb\r\n\r\n"),
                v("obs-fold continuing TE", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n"),
                v("line folded into the request line", "GET / HTTP/1.1\r\n Transfer-Encoding: chunked\r\n" + H + "\r\n0\r\n\r\n"),
                // bare CR, bare LF (RFC 9112 section 2.2)
                v("bare CR in a value", "GET / HTTP/1.1\r\n" + H + "X-A: a\rb\r\n\r\n"),
                v("bare CR ending a field line", "GET / HTTP/1.1\r\n" + H + "X-A: a\rTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
                v("bare CR in the request line", "GET /\r HTTP/1.1\r\n" + H + "\r\n"),
                v("bare LF everywhere", "GET / HTTP/1.1\n" + "Host: example.test\n\n"),
                v("bare LF ending a field line", "GET / HTTP/1.1\r\n" + H + "X-A: a\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
                v("bare LF ending the request line", "GET / HTTP/1.1\n" + H + "\r\n"),
                // invalid chunked framing, in the same packet as the head
                v("chunk size negative", chunked("-1\r\nhello\r\n0\r\n\r\n")),
                v("chunk size 0x", chunked("0x5\r\nhello\r\n0\r\n\r\n")),
                v("chunk size leading space", chunked(" 5\r\nhello\r\n0\r\n\r\n")),
                v("chunk size trailing space", chunked("5 \r\nhello\r\n0\r\n\r\n")),
                v("chunk size empty", chunked("\r\nhello\r\n0\r\n\r\n")),
                v("chunk size not hex", chunked("g\r\nhello\r\n0\r\n\r\n")),
                v("chunk size overflowing", chunked("10000000000000005\r\nhello\r\n0\r\n\r\n")),
                v("chunk size bare LF", chunked("5\nhello\r\n0\r\n\r\n")),
                v("chunk longer than its size", chunked("5\r\nhelloEXTRA\r\n0\r\n\r\n")),
                v("chunk data bare LF", chunked("5\r\nhello\n0\r\n\r\n")),
                v("chunk extension with CTL", chunked("5;a=\u0001\r\nhello\r\n0\r\n\r\n")),
                // Host (RFC 9112 section 3.2)
                v("missing Host", "GET / HTTP/1.1\r\n\r\n"),
                v("duplicate Host", "GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n"),
                v("duplicate Host, same value", "GET / HTTP/1.1\r\nHost: a.test\r\nHost: a.test\r\n\r\n"),
                v("Host with a space", "GET / HTTP/1.1\r\nHost: a.test b.test\r\n\r\n"),
                v("absolute-form differs from Host", "GET http://a.test/ HTTP/1.1\r\nHost: b.test\r\n\r\n"),
                v("absolute-form with userinfo", "GET http://user@a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n"),
                // other malformed heads
                v("space before colon", "GET / HTTP/1.1\r\nHost : example.test\r\n\r\n"),
                v("NUL in a value", "GET / HTTP/1.1\r\n" + H + "X-A: a\u0000b\r\n\r\n"),
                v("two spaces in the request line", "GET  / HTTP/1.1\r\n" + H + "\r\n"));
    }

    private static Arguments v(String name, String request) {
        return v(400, name, request);
    }

    private static Arguments v(int status, String name, String request) {
        return Arguments.of(name, request, status);
    }

    private static String chunked(String body) {
        return "POST /upload HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n" + body;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("vectors")
    void isRejectedAndNeverReachesTheBackend(String name, String request, int status) throws Exception {
        RecordingBackend backend = fx.recording(Mode.OK);
        ProxyServer proxy = fx.proxy("", backend.port());
        RawHttpClient client = fx.client(proxy);

        client.send(request);
        Response r = client.read();
        assertEquals(status, r.status(), r.toString());
        assertTrue(r.connectionHas("close"), "the rejection must announce the close: " + r);
        assertTrue(client.closedWithin(2000), "the client connection must be closed");
        client.close(); // as a client does on seeing the close; the proxy lingers until then (lingering close)

        assertNothingForwarded(proxy, backend);
    }

    /**
     * Once the proxy has closed the client connection, everything that connection could have caused has
     * run; a dispatched request would have counted as an attempt on the server.
     */
    private static void assertNothingForwarded(ProxyServer proxy, RecordingBackend backend) {
        await(Duration.ofSeconds(5), "the proxy to release the client connection",
                () -> proxy.stats().connectionsCurrent.get() == 0);
        Server server = proxy.tables().current().servers().get(0);
        assertEquals(0, server.stats().requests.sum(), "requests sent to the backend");
        assertEquals(0, server.stats().connectionsOpened.sum(), "connections opened to the backend");
        assertEquals("", backend.receivedText(), "bytes the backend received");
    }

    @Test
    void trailingWhitespaceAroundChunkedIsOwsAndIsForwardedCanonically() throws Exception {
        // RFC 9110 section 5.5: OWS around a field value is not part of it. Not ambiguous, so accepted,
        // and what the backend sees is the proxy's own framing, never the client's bytes.
        RecordingBackend backend = fx.recording(Mode.OK);
        ProxyServer proxy = fx.proxy("", backend.port());
        RawHttpClient client = fx.client(proxy);

        client.send("POST /ows HTTP/1.1\r\n" + H + "Transfer-Encoding: \t chunked \t\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
        Response r = client.read();
        assertEquals(200, r.status(), r.toString());
        await(Duration.ofSeconds(5), "the request at the backend", () -> backend.requestCount() == 1);
        String received = backend.receivedText();
        assertTrue(received.contains("\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), received);
        assertFalse(received.contains("chunked \t"), received);
    }

    static Stream<Arguments> smugglingAfterAValidRequest() {
        return Stream.of(
                Arguments.of("CL and TE", "POST /smuggle HTTP/1.1\r\n" + H
                        + "Content-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /hidden HTTP/1.1\r\n" + H + "\r\n"),
                Arguments.of("bad chunk size", "POST /smuggle HTTP/1.1\r\n" + H
                        + "Transfer-Encoding: chunked\r\n\r\n-0\r\n\r\nGET /hidden HTTP/1.1\r\n" + H + "\r\n"),
                Arguments.of("obs-fold", "GET /smuggle HTTP/1.1\r\n" + H + "X-A: a\r\n Transfer-Encoding: chunked\r\n\r\n"
                        + "GET /hidden HTTP/1.1\r\n" + H + "\r\n"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("smugglingAfterAValidRequest")
    void aValidRequestPipelinedBeforeASmugglingAttemptIsAnsweredAndIsAllTheBackendSees(String name, String attempt)
            throws Exception {
        RecordingBackend backend = fx.recording(Mode.OK);
        ProxyServer proxy = fx.proxy("", backend.port());
        RawHttpClient client = fx.client(proxy);

        client.send("GET /first HTTP/1.1\r\n" + H + "\r\n" + attempt);
        Response first = client.read();
        assertEquals(200, first.status(), first.toString());
        assertEquals("recorded\n", first.bodyText());
        Response second = client.read();
        assertEquals(400, second.status(), second.toString());
        assertTrue(client.closedWithin(2000), "the client connection must be closed");
        client.close(); // as a client does on seeing the close; the proxy lingers until then (lingering close)

        await(Duration.ofSeconds(5), "the proxy to release the client connection",
                () -> proxy.stats().connectionsCurrent.get() == 0);
        assertEquals(1, proxy.tables().current().servers().get(0).stats().requests.sum());
        List<String> heads = backend.requestHeads();
        assertEquals(1, heads.size(), "requests at the backend: " + heads);
        assertTrue(heads.get(0).startsWith("GET /first HTTP/1.1\r\n"), heads.get(0));
        String received = backend.receivedText();
        assertFalse(received.contains("smuggle") || received.contains("hidden"), received);
    }

    @Test
    void aChunkedBodyTurningInvalidAfterItWasForwardedNeverCompletesAtTheBackend() throws Exception {
        RecordingBackend backend = fx.recording(Mode.OK);
        ProxyServer proxy = fx.proxy("", backend.port());
        RawHttpClient client = fx.client(proxy);

        client.send(chunked("5\r\nhello\r\n"));
        await(Duration.ofSeconds(5), "the first chunk at the backend", () -> backend.receivedText().endsWith("hello\r\n"));
        client.send("-1\r\n\r\nGET /hidden HTTP/1.1\r\n" + H + "\r\n");
        Response r = client.read();
        assertEquals(400, r.status(), r.toString());
        assertTrue(client.closedWithin(2000), "the client connection must be closed");
        client.close(); // as a client does on seeing the close; the proxy lingers until then (lingering close)

        await(Duration.ofSeconds(5), "the proxy to cut the backend connection", () -> backend.openConnections() == 0);
        String received = backend.receivedText();
        assertEquals(0, backend.requestCount(), "the backend got a complete request: " + received);
        assertFalse(received.contains("-1") || received.contains("hidden"), "bytes after the error were forwarded: " + received);
    }
}
