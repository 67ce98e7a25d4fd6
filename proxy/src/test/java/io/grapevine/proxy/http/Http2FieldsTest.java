package io.grapevine.proxy.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.Http2Headers;
import java.nio.charset.StandardCharsets;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * HTTP/2 field sections: what RFC 9113 calls malformed is refused, whatever Netty's codec may have caught
 * before; what passes becomes the HTTP/1.1 head the strict parser then judges; response heads and trailers
 * are turned into lower-case HTTP/2 fields without connection-specific ones.
 */
class Http2FieldsTest {

    @RegisterExtension
    static final LeakCheck leaks = new LeakCheck();

    private final Http2Fields fields = new Http2Fields();

    /** Header block from name/value pairs, in order, unvalidated (as a client may send anything). */
    private static Http2Headers block(String... pairs) {
        Http2Headers h = new DefaultHttp2Headers(false);
        for (int i = 0; i < pairs.length; i += 2) {
            h.add(pairs[i], pairs[i + 1]);
        }
        return h;
    }

    private static String[] get(String... more) {
        String[] base = {":method", "GET", ":scheme", "https", ":authority", "example.com", ":path", "/p?q=1"};
        String[] all = new String[base.length + more.length];
        System.arraycopy(base, 0, all, 0, base.length);
        System.arraycopy(more, 0, all, base.length, more.length);
        return all;
    }

    private String render(Http2Headers h, boolean endOfStream) {
        int length = fields.requestHead(h, endOfStream);
        assertTrue(length > 0, "expected a head, got " + length);
        return fields.head().toString(0, length, StandardCharsets.ISO_8859_1);
    }

    static Stream<Arguments> malformed() {
        return Stream.of(
                Arguments.of("no :method", block(":scheme", "http", ":authority", "a", ":path", "/")),
                Arguments.of("no :scheme", block(":method", "GET", ":authority", "a", ":path", "/")),
                Arguments.of("no :path", block(":method", "GET", ":scheme", "http", ":authority", "a")),
                Arguments.of("empty :path", block(":method", "GET", ":scheme", "http", ":path", "")),
                Arguments.of("absolute :path", block(":method", "GET", ":scheme", "http", ":path", "http://a/")),
                Arguments.of("repeated :method", block(get(":method", "POST"))),
                Arguments.of("repeated :path", block(":method", "GET", ":scheme", "http", ":path", "/", ":path", "/x")),
                Arguments.of(":status in a request", block(get(":status", "200"))),
                Arguments.of("unknown pseudo-header", block(get(":protocol", "websocket"))),
                Arguments.of("upper-case name", block(get("Accept", "*/*"))),
                Arguments.of("name with a space", block(get("x y", "1"))),
                Arguments.of("name with a colon", block(get("x:y", "1"))),
                Arguments.of("empty name", block(get("", "1"))),
                Arguments.of("connection", block(get("connection", "keep-alive"))),
                Arguments.of("keep-alive", block(get("keep-alive", "timeout=5"))),
                Arguments.of("proxy-connection", block(get("proxy-connection", "close"))),
                Arguments.of("transfer-encoding", block(get("transfer-encoding", "chunked"))),
                Arguments.of("upgrade", block(get("upgrade", "h2c"))),
                Arguments.of("te other than trailers", block(get("te", "gzip"))),
                Arguments.of("te with trailers and more", block(get("te", "trailers, gzip"))),
                Arguments.of("CR LF in a value", block(get("x-a", "1\r\nx-injected: 1"))),
                Arguments.of("LF in a value", block(get("x-a", "1\nx"))),
                Arguments.of("NUL in a value", block(get("x-a", "1\0"))),
                Arguments.of("CR LF in :path", block(":method", "GET", ":scheme", "http", ":path",
                        "/ HTTP/1.1\r\nhost: evil\r\n\r\nGET /x")),
                Arguments.of("CR LF in :authority", block(":method", "GET", ":scheme", "http", ":authority",
                        "a\r\nx: 1", ":path", "/")),
                Arguments.of("leading space in a value", block(get("x-a", " 1"))),
                Arguments.of("trailing tab in a value", block(get("x-a", "1\t"))),
                Arguments.of("host other than :authority", block(get("host", "other.example"))),
                Arguments.of("host with a port other than :authority's", block(get("host", "example.com:8443"))),
                Arguments.of("host with the default port of the other scheme",
                        block(":method", "GET", ":scheme", "https", ":authority", "example.com", ":path", "/",
                                "host", "example.com:80")),
                Arguments.of("host that only ends like :authority", block(get("host", "an-example.com"))));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("malformed")
    void malformedRequestsAreRefused(String name, Http2Headers headers) {
        assertEquals(Http2Fields.MALFORMED, fields.requestHead(headers, true), name);
    }

    @Test
    void aRequestBecomesAnHttp11HeadWithHostFromAuthority() {
        assertEquals("GET /p?q=1 HTTP/1.1\r\nhost: example.com\r\naccept: */*\r\nx-b: 2\r\n\r\n",
                render(block(get("accept", "*/*", "x-b", "2")), true));
    }

    @Test
    void hostEqualToAuthorityIsNotRepeated() {
        assertEquals("GET /p?q=1 HTTP/1.1\r\nhost: example.com\r\n\r\n",
                render(block(get("host", "EXAMPLE.com")), true));
    }

    @Test
    void hostAndAuthorityAreComparedWithoutTheDefaultPortOrAnEmptyOne() {
        // RFC 9113 section 8.3.1: a proxy compares them after scheme-based normalization (RFC 3986 6.2.3).
        assertEquals("GET /p?q=1 HTTP/1.1\r\nhost: example.com\r\n\r\n",
                render(block(get("host", "example.com:443")), true));
        assertEquals("GET /p?q=1 HTTP/1.1\r\nhost: example.com:443\r\n\r\n",
                render(block(":method", "GET", ":scheme", "https", ":authority", "example.com:443", ":path", "/p?q=1",
                        "host", "Example.com"), true));
        assertEquals("GET / HTTP/1.1\r\nhost: [::1]\r\n\r\n",
                render(block(":method", "GET", ":scheme", "http", ":authority", "[::1]", ":path", "/",
                        "host", "[::1]:80"), true));
        assertEquals("GET / HTTP/1.1\r\nhost: a.example:\r\n\r\n",
                render(block(":method", "GET", ":scheme", "http", ":authority", "a.example:", ":path", "/",
                        "host", "a.example"), true));
    }

    @Test
    void withoutAuthorityHostIsUsed() {
        assertEquals("GET / HTTP/1.1\r\nhost: h.example\r\n\r\n",
                render(block(":method", "GET", ":scheme", "http", ":path", "/", "host", "h.example"), true));
    }

    @Test
    void cookieCrumbsAreJoined() {
        assertEquals("GET /p?q=1 HTTP/1.1\r\nhost: example.com\r\nx: 1\r\ncookie: a=1; b=2; c=3\r\n\r\n",
                render(block(get("cookie", "a=1", "x", "1", "cookie", "b=2", "cookie", "c=3")), true));
    }

    @Test
    void aBodyOfUnknownLengthIsChunkedAndTeTrailersIsDropped() {
        assertEquals("POST /p?q=1 HTTP/1.1\r\nhost: example.com\r\ntransfer-encoding: chunked\r\n\r\n",
                render(block(get(":method", "POST", "te", "trailers")).method("POST"), false));
    }

    @Test
    void aBodyWithContentLengthKeepsIt() {
        assertEquals("POST /p?q=1 HTTP/1.1\r\nhost: example.com\r\ncontent-length: 3\r\n\r\n",
                render(block(get("content-length", "3")).method("POST"), false));
    }

    @Test
    void aRequestWhoseMethodGivesContentAMeaningSaysItHasNoneWhenItEndsOnItsHeaders() {
        for (String method : new String[] {"POST", "PUT", "PATCH"}) {
            assertEquals(method + " /p?q=1 HTTP/1.1\r\nhost: example.com\r\ncontent-length: 0\r\n\r\n",
                    render(block(get()).method(method), true));
        }
        assertEquals("POST /p?q=1 HTTP/1.1\r\nhost: example.com\r\ncontent-length: 0\r\n\r\n",
                render(block(get("content-length", "0")).method("POST"), true), "not twice");
        for (String method : new String[] {"GET", "HEAD", "DELETE", "OPTIONS", "post"}) {
            assertEquals(method + " /p?q=1 HTTP/1.1\r\nhost: example.com\r\n\r\n",
                    render(block(get()).method(method), true), "methods are case-sensitive (RFC 9110 section 9.1)");
        }
    }

    @Test
    void connectAndForeignSchemesAreAnsweredNotReset() {
        assertEquals(-501, fields.requestHead(block(":method", "CONNECT", ":authority", "a:443"), true));
        assertEquals(-400, fields.requestHead(block(":method", "GET", ":scheme", "ftp", ":path", "/"), true));
    }

    @Test
    void theStrictHttp11ParserJudgesWhatPassed() {
        RequestHeadParser parser = new RequestHeadParser(100, true, new RequestIdGenerator());
        int length = fields.requestHead(block(get("x-forwarded-proto", "http", "content-length", "5")).method("PUT"),
                false);
        RequestHead out = new RequestHead();
        assertEquals(RequestHeadParser.OK, parser.parse(fields.head(), length,
                "192.0.2.1".getBytes(StandardCharsets.US_ASCII), true, out, leaks.alloc()));
        String head = out.upstreamHead.toString(StandardCharsets.ISO_8859_1);
        out.upstreamHead.release();
        assertTrue(head.startsWith("PUT /p?q=1 HTTP/1.1\r\nhost: example.com\r\n"), head);
        assertTrue(head.contains("X-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: https\r\n"), head);
        assertFalse(head.contains("x-forwarded-proto: http"), "the client's claim is replaced: " + head);
        assertEquals(BodyKind.LENGTH, out.bodyKind);
        assertEquals(5, out.contentLength);
        assertEquals("example.com", out.routingHost);
        assertEquals("/p?q=1", out.routingPath);

        length = fields.requestHead(block(get("x-a", "\u0001")), true);
        assertEquals(400, parser.parse(fields.head(), length, new byte[0], false, new RequestHead(), leaks.alloc()),
                "control characters: the HTTP/1.1 rules refuse them");
    }

    // ---------------------------------------------------------------- trailers

    @Test
    void requestTrailersBecomeFieldLinesWithoutForbiddenOnes() {
        Http2Headers t = block("x-sum", "42", "content-length", "3", "x-b", "b");
        assertTrue(Http2Fields.validTrailers(t));
        ByteBuf lines = Http2Fields.requestTrailers(t, leaks.alloc());
        assertEquals("x-sum: 42\r\nx-b: b\r\n", lines.toString(StandardCharsets.ISO_8859_1));
        lines.release();
        assertNull(Http2Fields.requestTrailers(block("host", "x"), leaks.alloc()));
        assertFalse(Http2Fields.validTrailers(block("X-Sum", "1")));
        assertFalse(Http2Fields.validTrailers(block("x-sum", "1\r\nx: 2")));
        assertFalse(Http2Fields.validTrailers(block("connection", "close")));
    }

    @Test
    void responseTrailersGetLowerCaseNames() {
        ByteBuf lines = leaks.buf("X-Checksum: 42\r\nServer-Timing: db;dur=53\r\n");
        Http2Headers t = Http2Fields.responseTrailers(lines);
        lines.release();
        assertEquals(2, t.size());
        assertEquals("42", t.get("x-checksum").toString());
        assertEquals("db;dur=53", t.get("server-timing").toString());
    }

    // ---------------------------------------------------------------- response heads

    private ResponseHead response(String raw, boolean head) {
        ResponseHeadParser parser = new ResponseHeadParser(100);
        ByteBuf in = leaks.buf(raw);
        ResponseHead out = new ResponseHead();
        try {
            assertEquals(ResponseHeadParser.OK, parser.parse(in, in.readableBytes(), head, ClientProtocol.HTTP_2, false,
                    out, leaks.alloc()));
        } finally {
            in.release();
        }
        assertNull(out.clientHead, "no HTTP/1 bytes for an HTTP/2 client");
        return out;
    }

    @Test
    void aResponseHeadForHttp2HasStatusLowerCaseNamesAndNoConnectionFields() {
        ResponseHead r = response("HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nConnection: close, X-Hop\r\n"
                + "X-Hop: 1\r\nKeep-Alive: timeout=5\r\nContent-Length: 7\r\nContent-Length: 7\r\nX-End: e\r\n\r\n", false);
        Http2Headers h = r.http2Headers;
        assertEquals("201", h.status().toString());
        assertEquals("text/plain", h.get("content-type").toString());
        assertEquals("e", h.get("x-end").toString());
        assertEquals(1, h.getAll("content-length").size());
        assertEquals("7", h.get("content-length").toString());
        assertNull(h.get("connection"));
        assertNull(h.get("keep-alive"));
        assertNull(h.get("x-hop"), "named by Connection: hop-by-hop");
        assertEquals(4, h.size(), h.toString());
        assertFalse(r.closeClient, "a response never closes an HTTP/2 connection");
        assertEquals(BodyKind.LENGTH, r.clientBody);
    }

    @Test
    void aChunkedResponseHasNoLengthForHttp2() {
        ResponseHead r = response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-sum\r\n\r\n", false);
        assertNull(r.http2Headers.get("content-length"));
        assertNull(r.http2Headers.get("transfer-encoding"));
        assertEquals("x-sum", r.http2Headers.get("trailer").toString());
        assertEquals(BodyKind.CHUNKED, r.clientBody);
        ResponseHead untilClose = response("HTTP/1.0 200 OK\r\n\r\n", false);
        assertEquals(BodyKind.CHUNKED, untilClose.clientBody, "END_STREAM delimits it");
    }

    @Test
    void consecutiveHttp2HeadsShareTheNamesAndTheValuesThatRepeat() {
        ResponseHeadParser parser = new ResponseHeadParser(100);
        Http2Headers[] heads = new Http2Headers[3];
        String[] raw = {
            "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Sat, 05 Dec 2026 00:00:01 GMT\r\nX-Id: 1\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nSERVER: nginx\r\nDate: Sat, 05 Dec 2026 00:00:02 GMT\r\nX-Id: 2\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nServer: nginX\r\nDate: Sat, 05 Dec 2026 00:00:02 GMT\r\nX-Id: 2\r\nContent-Length: 10\r\n\r\n",
        };
        for (int i = 0; i < raw.length; i++) {
            ResponseHead out = new ResponseHead();
            ByteBuf in = leaks.buf(raw[i]);
            try {
                assertEquals(ResponseHeadParser.OK, parser.parse(in, in.readableBytes(), false, ClientProtocol.HTTP_2,
                        false, out, leaks.alloc()));
            } finally {
                in.release();
            }
            heads[i] = out.http2Headers;
        }
        assertEquals("server", heads[1].names().stream().filter(n -> n.toString().equalsIgnoreCase("server"))
                .findFirst().orElseThrow().toString(), "lower case whatever the backend's case");
        assertSame(heads[0].get("server"), heads[1].get("server"), "the same value again: the same string");
        assertEquals("nginX", heads[2].get("server").toString(), "a value that changed is the new one");
        assertEquals("Sat, 05 Dec 2026 00:00:01 GMT", heads[0].get("date").toString());
        assertEquals("Sat, 05 Dec 2026 00:00:02 GMT", heads[1].get("date").toString());
        assertSame(heads[1].get("date"), heads[2].get("date"));
        assertEquals("1", heads[0].get("x-id").toString());
        assertEquals("2", heads[1].get("x-id").toString());
        assertSame(heads[0].get("content-length"), heads[1].get("content-length"));
        assertEquals("10", heads[2].get("content-length").toString());
        assertEquals("2", heads[0].get("content-length").toString(), "a head keeps what it was given");
    }

    @Test
    void headAndInterimResponsesForHttp2() {
        ResponseHead head = response("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", true);
        assertEquals(BodyKind.NONE, head.clientBody);
        assertEquals("99", head.http2Headers.get("content-length").toString());
        ResponseHead interim = response("HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n", false);
        assertTrue(interim.interim);
        assertEquals("103", interim.http2Headers.status().toString());
        assertEquals("</s.css>; rel=preload", interim.http2Headers.get("link").toString());
    }
}
