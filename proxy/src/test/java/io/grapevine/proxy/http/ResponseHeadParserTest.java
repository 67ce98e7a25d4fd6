package io.grapevine.proxy.http;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Backend response heads: the framing decisions of RFC 9112 section 6.3 and the head written for the client. */
class ResponseHeadParserTest {

    @RegisterExtension
    static final LeakCheck leaks = new LeakCheck();

    private static final BodyKind NONE = BodyKind.NONE;
    private static final BodyKind LENGTH = BodyKind.LENGTH;
    private static final BodyKind CHUNKED = BodyKind.CHUNKED;
    private static final BodyKind UNTIL_CLOSE = BodyKind.UNTIL_CLOSE;

    private static String lines(String... lines) {
        return String.join("\r\n", lines) + "\r\n\r\n";
    }

    /** Who asked: the request method and the client's version and wish to keep its connection. */
    record Client(boolean head, boolean http10, boolean keepAlive) {
    }

    private static final Client GET_11 = new Client(false, false, true);
    private static final Client GET_11_CLOSE = new Client(false, false, false);
    private static final Client GET_10_KEEP = new Client(false, true, true);
    private static final Client GET_10 = new Client(false, true, false);
    private static final Client HEAD_11 = new Client(true, false, true);
    private static final Client HEAD_10_KEEP = new Client(true, true, true);

    /** What the parser must decide. */
    record Framing(BodyKind upstream, long contentLength, BodyKind client, boolean reusable, boolean closeClient) {
    }

    private static Arguments framing(String name, String response, Client client, Framing expected, String clientHead) {
        return Arguments.of(name, response, client, expected, clientHead);
    }

    static Stream<Arguments> framingTable() {
        return Stream.of(
                framing("HEAD: Content-Length kept, no body",
                        lines("HTTP/1.1 200 OK", "Content-Length: 10", "Content-Type: text/plain"), HEAD_11,
                        new Framing(NONE, 0, NONE, true, false),
                        lines("HTTP/1.1 200 OK", "Content-Length: 10", "Content-Type: text/plain")),
                framing("HEAD: Transfer-Encoding removed, no body",
                        lines("HTTP/1.1 200 OK", "Transfer-Encoding: chunked"), HEAD_11,
                        new Framing(NONE, 0, NONE, true, false), lines("HTTP/1.1 200 OK")),
                framing("HEAD: only the first of identical Content-Lengths",
                        lines("HTTP/1.1 200 OK", "Content-Length: 7", "Content-Length: 7"), HEAD_11,
                        new Framing(NONE, 0, NONE, true, false), lines("HTTP/1.1 200 OK", "Content-Length: 7")),
                framing("HEAD from an HTTP/1.0 keep-alive client",
                        lines("HTTP/1.1 200 OK", "Content-Length: 7"), HEAD_10_KEEP,
                        new Framing(NONE, 0, NONE, true, false),
                        lines("HTTP/1.1 200 OK", "Content-Length: 7", "Connection: keep-alive")),
                framing("100 Continue is interim and never closes",
                        lines("HTTP/1.1 100 Continue"), GET_11_CLOSE,
                        new Framing(NONE, 0, NONE, true, false), lines("HTTP/1.1 100 Continue")),
                framing("103 Early Hints keeps its fields",
                        lines("HTTP/1.1 103 Early Hints", "Link: </a.css>; rel=preload"), GET_11,
                        new Framing(NONE, 0, NONE, true, false),
                        lines("HTTP/1.1 103 Early Hints", "Link: </a.css>; rel=preload")),
                framing("204 has no body",
                        lines("HTTP/1.1 204 No Content", "Date: today"), GET_11,
                        new Framing(NONE, 0, NONE, true, false), lines("HTTP/1.1 204 No Content", "Date: today")),
                framing("204 loses a Content-Length it must not carry (RFC 9110 section 8.6)",
                        lines("HTTP/1.1 204 No Content", "Content-Length: 0", "Date: today"), GET_11,
                        new Framing(NONE, 0, NONE, true, false), lines("HTTP/1.1 204 No Content", "Date: today")),
                framing("204 to HEAD loses its Content-Length too",
                        lines("HTTP/1.1 204 No Content", "Content-Length: 0"), HEAD_11,
                        new Framing(NONE, 0, NONE, true, false), lines("HTTP/1.1 204 No Content")),
                framing("1xx loses a Content-Length it must not carry (RFC 9110 section 8.6)",
                        lines("HTTP/1.1 103 Early Hints", "Content-Length: 5", "Link: </a.css>; rel=preload"),
                        HEAD_11, new Framing(NONE, 0, NONE, true, false),
                        lines("HTTP/1.1 103 Early Hints", "Link: </a.css>; rel=preload")),
                framing("304 keeps the Content-Length of the representation",
                        lines("HTTP/1.1 304 Not Modified", "ETag: \"x\"", "Content-Length: 123"), GET_11,
                        new Framing(NONE, 0, NONE, true, false),
                        lines("HTTP/1.1 304 Not Modified", "ETag: \"x\"", "Content-Length: 123")),
                framing("304 ignores Transfer-Encoding",
                        lines("HTTP/1.1 304 Not Modified", "Transfer-Encoding: chunked"), GET_11,
                        new Framing(NONE, 0, NONE, true, false), lines("HTTP/1.1 304 Not Modified")),
                framing("chunked",
                        lines("HTTP/1.1 200 OK", "Transfer-Encoding: Chunked", "X-A: 1"), GET_11,
                        new Framing(CHUNKED, -1, CHUNKED, true, false),
                        lines("HTTP/1.1 200 OK", "X-A: 1", "Transfer-Encoding: chunked")),
                framing("chunked keeps Trailer for an HTTP/1.1 client",
                        lines("HTTP/1.1 200 OK", "Trailer: X-Sum", "Transfer-Encoding: chunked"), GET_11,
                        new Framing(CHUNKED, -1, CHUNKED, true, false),
                        lines("HTTP/1.1 200 OK", "Trailer: X-Sum", "Transfer-Encoding: chunked")),
                framing("Content-Length",
                        lines("HTTP/1.1 200 OK", "Content-Length: 005", "X-A: 1"), GET_11,
                        new Framing(LENGTH, 5, LENGTH, true, false),
                        lines("HTTP/1.1 200 OK", "X-A: 1", "Content-Length: 5")),
                framing("Content-Length zero",
                        lines("HTTP/1.1 200 OK", "Content-Length: 0"), GET_11,
                        new Framing(LENGTH, 0, LENGTH, true, false), lines("HTTP/1.1 200 OK", "Content-Length: 0")),
                framing("identical duplicate Content-Lengths",
                        lines("HTTP/1.1 200 OK", "Content-Length: 5", "content-length: 05"), GET_11,
                        new Framing(LENGTH, 5, LENGTH, true, false), lines("HTTP/1.1 200 OK", "Content-Length: 5")),
                framing("Content-Length then Transfer-Encoding: chunked wins, connection not reused",
                        lines("HTTP/1.1 200 OK", "Content-Length: 5", "Transfer-Encoding: chunked"), GET_11,
                        new Framing(CHUNKED, -1, CHUNKED, false, false),
                        lines("HTTP/1.1 200 OK", "Transfer-Encoding: chunked")),
                framing("Transfer-Encoding then Content-Length: chunked wins, connection not reused",
                        lines("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "Content-Length: 5"), GET_11,
                        new Framing(CHUNKED, -1, CHUNKED, false, false),
                        lines("HTTP/1.1 200 OK", "Transfer-Encoding: chunked")),
                framing("until close, re-chunked for an HTTP/1.1 client",
                        lines("HTTP/1.1 200 OK", "X-A: 1"), GET_11,
                        new Framing(UNTIL_CLOSE, -1, CHUNKED, false, false),
                        lines("HTTP/1.1 200 OK", "X-A: 1", "Transfer-Encoding: chunked")),
                framing("until close, raw and close for an HTTP/1.0 client",
                        lines("HTTP/1.1 200 OK", "X-A: 1"), GET_10_KEEP,
                        new Framing(UNTIL_CLOSE, -1, UNTIL_CLOSE, false, true),
                        lines("HTTP/1.1 200 OK", "X-A: 1", "Connection: close")),
                framing("chunked, raw and close for an HTTP/1.0 client, without Trailer",
                        lines("HTTP/1.1 200 OK", "Trailer: X-Sum", "Transfer-Encoding: chunked"), GET_10_KEEP,
                        new Framing(CHUNKED, -1, UNTIL_CLOSE, true, true), lines("HTTP/1.1 200 OK", "Connection: close")),
                framing("Content-Length to an HTTP/1.0 keep-alive client",
                        lines("HTTP/1.1 200 OK", "Content-Length: 3"), GET_10_KEEP,
                        new Framing(LENGTH, 3, LENGTH, true, false),
                        lines("HTTP/1.1 200 OK", "Content-Length: 3", "Connection: keep-alive")),
                framing("Content-Length to an HTTP/1.0 client",
                        lines("HTTP/1.1 200 OK", "Content-Length: 3"), GET_10,
                        new Framing(LENGTH, 3, LENGTH, true, true),
                        lines("HTTP/1.1 200 OK", "Content-Length: 3", "Connection: close")),
                framing("Content-Length to an HTTP/1.1 client that closes",
                        lines("HTTP/1.1 200 OK", "Content-Length: 3"), GET_11_CLOSE,
                        new Framing(LENGTH, 3, LENGTH, true, true),
                        lines("HTTP/1.1 200 OK", "Content-Length: 3", "Connection: close")),
                framing("backend closes: not reused, the client is not closed for it",
                        lines("HTTP/1.1 200 OK", "Connection: close", "Content-Length: 3"), GET_11,
                        new Framing(LENGTH, 3, LENGTH, false, false), lines("HTTP/1.1 200 OK", "Content-Length: 3")),
                framing("backend closes, token among others",
                        lines("HTTP/1.1 200 OK", "Connection: foo , CLOSE", "Content-Length: 3"), GET_11,
                        new Framing(LENGTH, 3, LENGTH, false, false), lines("HTTP/1.1 200 OK", "Content-Length: 3")),
                framing("HTTP/1.0 backend is not reused",
                        lines("HTTP/1.0 200 OK", "Content-Length: 3"), GET_11,
                        new Framing(LENGTH, 3, LENGTH, false, false), lines("HTTP/1.1 200 OK", "Content-Length: 3")),
                framing("HTTP/1.0 backend with keep-alive is reused",
                        lines("HTTP/1.0 200 OK", "Connection: Keep-Alive", "Keep-Alive: timeout=5", "Content-Length: 3"),
                        GET_11, new Framing(LENGTH, 3, LENGTH, true, false),
                        lines("HTTP/1.1 200 OK", "Content-Length: 3")),
                framing("HTTP/1.0 backend with Transfer-Encoding is never reused (RFC 9112 section 6.1)",
                        lines("HTTP/1.0 200 OK", "Connection: keep-alive", "Transfer-Encoding: chunked"), GET_11,
                        new Framing(CHUNKED, -1, CHUNKED, false, false),
                        lines("HTTP/1.1 200 OK", "Transfer-Encoding: chunked")),
                framing("HTTP/1.0 backend, until close",
                        lines("HTTP/1.0 200 OK", "Connection: keep-alive"), GET_11,
                        new Framing(UNTIL_CLOSE, -1, CHUNKED, false, false),
                        lines("HTTP/1.1 200 OK", "Transfer-Encoding: chunked")),
                framing("hop-by-hop fields removed",
                        lines("HTTP/1.1 200 OK", "Connection: X-Hop, keep-alive", "X-Hop: 1", "Keep-Alive: timeout=5",
                                "Proxy-Connection: keep-alive", "TE: trailers", "Upgrade: h2c", "x-hop: 2",
                                "Content-Length: 1", "Server: s"),
                        GET_11, new Framing(LENGTH, 1, LENGTH, true, false),
                        lines("HTTP/1.1 200 OK", "Server: s", "Content-Length: 1")),
                framing("empty reason phrase",
                        lines("HTTP/1.1 200 ", "Content-Length: 0"), GET_11,
                        new Framing(LENGTH, 0, LENGTH, true, false), lines("HTTP/1.1 200 ", "Content-Length: 0")),
                framing("no reason phrase and no SP",
                        lines("HTTP/1.1 404", "Content-Length: 0"), GET_11,
                        new Framing(LENGTH, 0, LENGTH, true, false), lines("HTTP/1.1 404 ", "Content-Length: 0")),
                framing("reason phrase with HTAB and obs-text",
                        lines("HTTP/1.1 599 Sp\u00e4t\tdran", "Content-Length: 0"), GET_11,
                        new Framing(LENGTH, 0, LENGTH, true, false),
                        lines("HTTP/1.1 599 Sp\u00e4t\tdran", "Content-Length: 0")));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("framingTable")
    void framesAsRfc9112Section63Says(String name, String response, Client client, Framing expected,
                                       String clientHead) {
        Wire.Response r = Wire.response(leaks, response, client.head(), client.http10(), client.keepAlive());
        assertEquals(0, r.status(), "rejected");
        ResponseHead h = r.head();
        assertAll(
                () -> assertEquals(expected, new Framing(h.upstreamBody, h.contentLength, h.clientBody,
                        h.upstreamReusable, h.closeClient)),
                () -> assertEquals(clientHead, r.client()),
                () -> assertEquals(Integer.parseInt(response.substring(9, 12)), h.status),
                () -> assertEquals(h.status < 200, h.interim));
    }

    static Stream<Arguments> garbage() {
        return Stream.of(
                "HTTP/1.1 20 OK", "HTTP/1.1 2000 OK", "HTTP/1.1 099 Low", "HTTP/1.1 abc OK", "HTTP/1.1 2x0 OK",
                "HTTP/2 200 OK", "HTTP/2.0 200 OK", "HTTP/1.2 200 OK", "HTTP/0.9 200 OK", "http/1.1 200 OK",
                "HTTP/1.1  200 OK", "HTTP/1.1 200OK", "HTTP/1.1\t200 OK", "ICY 200 OK", " HTTP/1.1 200 OK",
                "HTTP/1.1 101 Switching Protocols", "HTTP/1.1 200 O\u0000K", "HTTP/1.1 200 O\rK",
                "HTTP/1.1 200 O\u007fK", "<html>")
                .map(line -> Arguments.of(line.replace("\r", "\\r"), line + "\r\nContent-Length: 0\r\n\r\n"));
    }

    static Stream<Arguments> badFields() {
        return Stream.of(
                        "Transfer-Encoding: gzip", "Transfer-Encoding: gzip, chunked", "Transfer-Encoding: chunked, chunked",
                        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked", "Transfer-Encoding: xchunked",
                        "Transfer-Encoding:", "Content-Length: -1", "Content-Length: +1", "Content-Length: 1 0",
                        "Content-Length: 0x10", "Content-Length: 5, 5", "Content-Length: 5,6",
                        "Content-Length: 5\r\nContent-Length: 6", "Content-Length:", "Content-Length: 99999999999999999999",
                        "Connection: a b", "Connection: close;x", "X-A: a\r\n b", "X-A : a", ": a", "X-A a",
                        "X-A: a\u0000b", "X-A: a\rb", "X-\u00e9: a")
                .map(f -> Arguments.of(f.replace("\r\n", "|"), "HTTP/1.1 200 OK\r\n" + f + "\r\n\r\n"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource({"garbage", "badFields"})
    void garbageIs502(String name, String response) {
        for (Client client : new Client[] {GET_11, HEAD_11, GET_10}) {
            Wire.Response r = Wire.response(leaks, response, client.head(), client.http10(), client.keepAlive());
            assertEquals(502, r.status(), client.toString());
            assertNull(r.client());
        }
    }

    @Test
    void bareLineFeedsAre502() {
        for (String response : new String[] {
                "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
                "HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n",
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n",
                "HTTP/1.1 304 Not Modified\r\nX-A: 1\nTransfer-Encoding: chunked\r\n\r\n"}) {
            assertEquals(502, Wire.response(leaks, response, false, false, true).status(), response);
        }
    }

    @Test
    void differingContentLengthsAre502EvenWithoutABody() {
        String response = lines("HTTP/1.1 304 Not Modified", "Content-Length: 5", "Content-Length: 6");
        assertEquals(502, Wire.response(leaks, response, false, false, true).status());
        assertEquals(502, Wire.response(leaks, response.replace("304 Not Modified", "200 OK"), true, false, true).status());
    }

    @Test
    void tooManyFieldsAre502() {
        ResponseHeadParser parser = new ResponseHeadParser(3);
        String three = lines("HTTP/1.1 200 OK", "A: 1", "B: 2", "Content-Length: 0");
        assertEquals(0, Wire.response(leaks, three, false, false, true, parser).status());
        String four = lines("HTTP/1.1 200 OK", "A: 1", "B: 2", "C: 3", "Content-Length: 0");
        assertEquals(502, Wire.response(leaks, four, false, false, true, parser).status());
        assertEquals(0, Wire.response(leaks, three, false, false, true, parser).status(), "the parser is reusable");
    }

    // ---------------------------------------------------------------- 101 Switching Protocols

    @Test
    void a101ToAnUpgradeRequestKeepsItsUpgradeFieldAndOpensATunnel() {
        Wire.Response r = Wire.upgradeResponse(leaks, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                + "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
        assertEquals(0, r.status());
        assertEquals("HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                + "Connection: upgrade\r\nUpgrade: websocket\r\n\r\n", r.client());
        assertTrue(r.head().switching);
        assertFalse(r.head().interim);
        assertFalse(r.head().upstreamReusable, "a tunnelled connection is never reused");
    }

    @Test
    void a101WithoutUpgradeIs502AndSoIsA101NobodyAskedFor() {
        assertEquals(502, Wire.upgradeResponse(leaks, "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n\r\n")
                .status());
        assertEquals(502, Wire.response(leaks, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
                false, false, true).status());
    }

    @Test
    void a101ToAProtocolTheClientDidNotOfferIs502() {
        String h2c = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n";
        assertEquals(502, Wire.upgradeResponse(leaks, h2c).status(), "RFC 9110 section 7.8");
        assertEquals(502, Wire.upgradeResponse(leaks, h2c.replace("h2c", "websocket, h2c")).status(),
                "every protocol switched to must have been offered");
        assertEquals(502, Wire.upgradeResponse(leaks, h2c.replace("h2c", "websocket/2"), "websocket").status(),
                "a version is part of the protocol");
    }

    @Test
    void a101SwitchingSeveralLayersMayNameTheHttp11AboveTheOfferedOne() {
        String layers = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: TLS/1.0, HTTP/1.1\r\nConnection: upgrade\r\n\r\n";
        assertEquals(0, Wire.upgradeResponse(leaks, layers, "TLS/1.0").status(), "RFC 2817 section 3.3");
        assertEquals(502, Wire.upgradeResponse(leaks, layers.replace("TLS/1.0, HTTP/1.1", "HTTP/1.1, TLS/1.0"),
                "TLS/1.0").status(), "the lowest layer is the one switched to: it must have been offered");
        assertEquals(502, Wire.upgradeResponse(leaks, layers.replace("HTTP/1.1\r\n", "HTTP/2.0\r\n"), "TLS/1.0")
                .status(), "only the HTTP/1.1 already spoken may ride along unoffered");
    }

    @Test
    void a101MayNameTheOfferedProtocolsInAnyCase() {
        String tls = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: tls/1.3, WEBSOCKET\r\nConnection: upgrade\r\n\r\n";
        Wire.Response r = Wire.upgradeResponse(leaks, tls, "foo, TLS/1.3, websocket");
        assertEquals(0, r.status());
        assertTrue(r.client().endsWith("Upgrade: tls/1.3, WEBSOCKET\r\n\r\n"), r.client());
    }

    @Test
    void anUpgradeRequestMayBeAnsweredAsAnyOther() {
        Wire.Response r = Wire.upgradeResponse(leaks, "HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n");
        assertEquals(0, r.status());
        assertFalse(r.head().switching);
        assertTrue(r.head().upstreamReusable);
    }
}
