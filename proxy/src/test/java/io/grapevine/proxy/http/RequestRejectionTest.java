package io.grapevine.proxy.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.stream.Stream;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Request heads that must never reach a backend: RFC 9112 request-smuggling vectors and other malformed
 * or unsupported requests, each with the status {@link RequestHeadParser} documents (400 unless stated).
 */
class RequestRejectionTest {

    @RegisterExtension
    static final LeakCheck leaks = new LeakCheck();

    private static final String CRLF = "\r\n";

    /** A POST with a valid Host, the given field lines, and the final empty line. */
    private static String post(String... fieldLines) {
        return head("POST / HTTP/1.1", "Host: example.com", fieldLines);
    }

    private static String get(String... fieldLines) {
        return head("GET / HTTP/1.1", "Host: example.com", fieldLines);
    }

    private static String head(String requestLine, String host, String... fieldLines) {
        StringBuilder sb = new StringBuilder(requestLine).append(CRLF);
        if (host != null) {
            sb.append(host).append(CRLF);
        }
        for (String f : fieldLines) {
            sb.append(f).append(CRLF);
        }
        return sb.append(CRLF).toString();
    }

    private static Arguments bad(String name, String raw) {
        return Arguments.of(name, raw, 400);
    }

    static Stream<Arguments> framing() {
        return Stream.of(
                bad("CL then TE", post("Content-Length: 5", "Transfer-Encoding: chunked")),
                bad("TE then CL", post("Transfer-Encoding: chunked", "Content-Length: 5")),
                bad("CL and TE in other case", post("content-length: 0", "TRANSFER-ENCODING: CHUNKED")),
                bad("duplicate CL, same value", post("Content-Length: 5", "Content-Length: 5")),
                bad("duplicate CL, different values", post("Content-Length: 5", "Content-Length: 6")),
                bad("duplicate CL, other case", post("Content-Length: 5", "content-LENGTH: 5")),
                bad("CL list, same values", post("Content-Length: 5, 5")),
                bad("CL list, different values", post("Content-Length: 5,6")),
                bad("CL with plus sign", post("Content-Length: +5")),
                bad("CL with minus sign", post("Content-Length: -5")),
                bad("CL with space inside", post("Content-Length: 1 0")),
                bad("CL with tab inside", post("Content-Length: 1\t0")),
                bad("CL in hex", post("Content-Length: 0x5")),
                bad("CL with hex digit", post("Content-Length: 5a")),
                bad("CL in exponent form", post("Content-Length: 1e3")),
                bad("CL with decimal point", post("Content-Length: 5.0")),
                bad("CL empty", post("Content-Length:")),
                bad("CL of 19 digits", post("Content-Length: 1000000000000000000")),
                bad("CL over Long.MAX_VALUE", post("Content-Length: 99999999999999999999")),
                bad("CL overflowing to a small number", post("Content-Length: 18446744073709551621")),
                bad("CL with vertical tab", post("Content-Length: 5\u000b")),
                bad("CL with NBSP", post("Content-Length: \u00a05")),
                bad("TE chunked twice in one line", post("Transfer-Encoding: chunked, chunked")),
                bad("TE chunked then gzip", post("Transfer-Encoding: chunked, gzip")),
                bad("TE chunked not final", post("Transfer-Encoding: gzip, chunked, gzip")),
                bad("TE xchunked", post("Transfer-Encoding: xchunked")),
                bad("TE chunkedx", post("Transfer-Encoding: chunkedx")),
                bad("TE chunked with trailing VT", post("Transfer-Encoding: chunked\u000b")),
                bad("TE chunked with leading VT", post("Transfer-Encoding: \u000bchunked")),
                bad("TE chunked with form feed", post("Transfer-Encoding: \fchunked")),
                bad("TE chunked with NBSP", post("Transfer-Encoding: \u00a0chunked")),
                bad("TE chunked with bare CR", post("Transfer-Encoding: chunked\r")),
                bad("TE quoted", post("Transfer-Encoding: \"chunked\"")),
                bad("TE with parameter", post("Transfer-Encoding: chunked;q=1")),
                bad("TE with trailing comma", post("Transfer-Encoding: chunked,")),
                bad("TE without comma", post("Transfer-Encoding: gzip chunked")),
                bad("TE identity", post("Transfer-Encoding: identity")),
                bad("TE gzip alone", post("Transfer-Encoding: gzip")),
                bad("TE empty", post("Transfer-Encoding:")),
                bad("duplicate TE lines", post("Transfer-Encoding: chunked", "Transfer-Encoding: chunked")),
                bad("TE lines gzip then chunked", post("Transfer-Encoding: gzip", "Transfer-Encoding: chunked")),
                bad("TE in HTTP/1.0", head("POST / HTTP/1.0", "Host: example.com", "Transfer-Encoding: chunked")),
                bad("TE in HTTP/1.0 without Host", head("POST / HTTP/1.0", null, "Transfer-Encoding: chunked")),
                Arguments.of("TE gzip, chunked: not implemented", post("Transfer-Encoding: gzip, chunked"), 501),
                Arguments.of("TE deflate , chunked: not implemented", post("Transfer-Encoding: deflate , CHUNKED"), 501));
    }

    static Stream<Arguments> fieldSyntax() {
        return Stream.of(
                bad("obs-fold with SP", get("X-A: a", " b")),
                bad("obs-fold with HTAB", get("X-A: a", "\tb")),
                bad("obs-fold continuing Transfer-Encoding", post("Transfer-Encoding:", " chunked")),
                bad("first field line starts with SP", head("GET / HTTP/1.1", " Host: example.com")),
                bad("SP before colon", get("X-A : a")),
                bad("HTAB before colon", get("X-A\t: a")),
                bad("SP before colon of Content-Length", post("Content-Length : 5")),
                bad("SP before colon of Transfer-Encoding", post("Transfer-Encoding : chunked")),
                bad("SP before colon of Host", head("GET / HTTP/1.1", "Host : example.com")),
                bad("SP inside a name", get("X A: a")),
                bad("empty name", get(": a")),
                bad("no colon", get("X-A a")),
                bad("name with non-ASCII", get("X-\u00e9: a")),
                bad("name with NUL", get("X-\u0000A: a")),
                bad("bare CR inside a value", get("X-A: a\rb")),
                bad("bare CR before CRLF", get("X-A: a\r")),
                bad("bare CR inside a name", get("X-\rA: a")),
                bad("bare CR as a line", get("\r")),
                bad("bare CR hiding a field", get("X-A: a\rTransfer-Encoding: chunked")),
                bad("bare LF ends a field line", "GET / HTTP/1.1\r\nHost: example.com\nX-A: a\r\n\r\n"),
                bad("bare LF ends the last field line", "GET / HTTP/1.1\r\nHost: example.com\r\nX-A: a\n\r\n"),
                bad("bare LF as the final empty line", "GET / HTTP/1.1\r\nHost: example.com\r\n\n"),
                bad("bare LF everywhere", "GET / HTTP/1.1\nHost: example.com\n\n"),
                bad("bare LF hiding Content-Length", "POST / HTTP/1.1\r\nHost: example.com\r\nX-A: a\nContent-Length: 5\r\n\r\n"),
                bad("NUL in a value", get("X-A: a\u0000b")),
                bad("NUL at the end of a value", get("X-A: a\u0000")),
                bad("SOH in a value", get("X-A: \u0001")),
                bad("US in a value", get("X-A: a\u001fb")),
                bad("DEL in a value", get("X-A: a\u007fb")),
                bad("VT in a value", get("X-A: a\u000bb")),
                bad("FF in a value", get("X-A: a\fb")),
                bad("ESC in a Host value", head("GET / HTTP/1.1", "Host: exa\u001bmple.com")));
    }

    static Stream<Arguments> host() {
        return Stream.of(
                bad("missing Host in HTTP/1.1", head("GET / HTTP/1.1", null)),
                bad("missing Host in HTTP/1.1 with other fields", head("GET / HTTP/1.1", null, "Accept: */*")),
                bad("duplicate Host, same value", get("Host: example.com")),
                bad("duplicate Host, different values", get("Host: evil.example")),
                bad("duplicate Host, other case", get("HOST: example.com")),
                bad("duplicate Host in HTTP/1.0", head("GET / HTTP/1.0", "Host: a", "Host: b")),
                bad("Host with SP inside", head("GET / HTTP/1.1", "Host: exa mple.com")),
                bad("Host list", head("GET / HTTP/1.1", "Host: a.example, b.example")),
                bad("Host with slash", head("GET / HTTP/1.1", "Host: example.com/x")),
                bad("Host with userinfo", head("GET / HTTP/1.1", "Host: user@example.com")),
                bad("Host with quote", head("GET / HTTP/1.1", "Host: \"example.com\"")),
                bad("Host with backslash", head("GET / HTTP/1.1", "Host: example.com\\x")),
                bad("Host with question mark", head("GET / HTTP/1.1", "Host: example.com?x")),
                bad("Host with hash", head("GET / HTTP/1.1", "Host: example.com#x")),
                bad("Host with non-ASCII", head("GET / HTTP/1.1", "Host: ex\u00e4mple.com")),
                bad("Host with non-numeric port", head("GET / HTTP/1.1", "Host: example.com:http")),
                bad("Host with two ports", head("GET / HTTP/1.1", "Host: example.com:80:81")),
                bad("Host with six-digit port", head("GET / HTTP/1.1", "Host: example.com:123456")),
                bad("Host with empty name and port", head("GET / HTTP/1.1", "Host: :80")),
                bad("Host with unclosed IP literal", head("GET / HTTP/1.1", "Host: [::1")),
                bad("Host with garbage after IP literal", head("GET / HTTP/1.1", "Host: [::1]x")),
                bad("Host with bad IP literal", head("GET / HTTP/1.1", "Host: [::g]")),
                bad("Connection names Host", get("Connection: host")),
                bad("Connection names Host among others", get("Connection: keep-alive, HOST")),
                bad("absolute-form, other host", head("GET http://a.example/x HTTP/1.1", "Host: b.example")),
                bad("absolute-form, other port", head("GET http://a.example:8080/x HTTP/1.1", "Host: a.example")),
                bad("absolute-form, port only in Host", head("GET http://a.example/x HTTP/1.1", "Host: a.example:81")),
                bad("absolute-form, https's port for http", head("GET http://a.example/x HTTP/1.1", "Host: a.example:443")),
                bad("absolute-form, http's port for https", head("GET https://a.example:80/x HTTP/1.1", "Host: a.example")),
                bad("absolute-form, empty Host", head("GET http://a.example/x HTTP/1.1", "Host:")),
                bad("absolute-form without Host in HTTP/1.1", head("GET http://a.example/x HTTP/1.1", null)),
                bad("absolute-form with userinfo", head("GET http://user@a.example/ HTTP/1.1", "Host: a.example")),
                bad("absolute-form with user and password", head("GET http://u:p@a.example/ HTTP/1.1", "Host: a.example")),
                bad("absolute-form with userinfo matching Host", head("GET http://a.example@b.example/ HTTP/1.1",
                        "Host: a.example@b.example")),
                bad("absolute-form with empty authority", head("GET http:///x HTTP/1.1", "Host: a.example")),
                bad("absolute-form with scheme only", head("GET http:// HTTP/1.1", "Host: a.example")),
                bad("absolute-form, other scheme", head("GET ftp://a.example/ HTTP/1.1", "Host: a.example")),
                bad("absolute-form with bad port", head("GET http://a.example:x/ HTTP/1.1", "Host: a.example:x")));
    }

    static Stream<Arguments> requestLine() {
        return Stream.of(
                bad("hash in target", get().replace("GET /", "GET /a#frag")),
                bad("hash alone", get().replace("GET /", "GET /#")),
                bad("SP inside target", get().replace("GET /", "GET /a b")),
                bad("HTAB inside target", get().replace("GET /", "GET /a\tb")),
                bad("NUL inside target", get().replace("GET /", "GET /a\u0000b")),
                bad("non-ASCII in target", get().replace("GET /", "GET /\u00e9")),
                bad("DEL in target", get().replace("GET /", "GET /\u007f")),
                bad("double quote in target", get().replace("GET /", "GET /a\"b")),
                bad("angle brackets in target", get().replace("GET /", "GET /<x>")),
                bad("lowercase version", get().replace("HTTP/1.1", "http/1.1")),
                bad("mixed-case version", get().replace("HTTP/1.1", "Http/1.1")),
                bad("version without minor", get().replace("HTTP/1.1", "HTTP/1")),
                bad("version with long minor", get().replace("HTTP/1.1", "HTTP/1.10")),
                bad("version with letters", get().replace("HTTP/1.1", "HTTP/1.x")),
                bad("version without dot", get().replace("HTTP/1.1", "HTTP/11.")),
                bad("no version", "GET /\r\nHost: example.com\r\n\r\n"),
                bad("trailing SP after version", get().replace("HTTP/1.1", "HTTP/1.1 ")),
                bad("two SP before target", get().replace("GET /", "GET  /")),
                bad("two SP before version", get().replace(" HTTP/1.1", "  HTTP/1.1")),
                bad("HTAB as separator", get().replace("GET /", "GET\t/")),
                bad("leading SP", " " + get()),
                bad("method with non-token char", get().replace("GET", "GE(T")),
                bad("bare CR in request line", get().replace("GET /", "GET /\r")),
                bad("bare LF ends the request line", get().replace("HTTP/1.1\r\n", "HTTP/1.1\n")),
                bad("bare CR ends the request line", get().replace("HTTP/1.1\r\n", "HTTP/1.1\r\r\n")),
                bad("asterisk with GET", get().replace("GET /", "GET *")),
                bad("asterisk with POST", post("Content-Length: 0").replace("POST /", "POST *")),
                bad("asterisk followed by more", get().replace("GET /", "OPTIONS *x")),
                bad("authority-form with GET", get().replace("GET /", "GET example.com:80")),
                bad("relative target", get().replace("GET /", "GET index.html")),
                Arguments.of("HTTP/2.0", get().replace("HTTP/1.1", "HTTP/2.0"), 505),
                Arguments.of("HTTP/0.9", get().replace("HTTP/1.1", "HTTP/0.9"), 505),
                Arguments.of("HTTP/3.0", get().replace("HTTP/1.1", "HTTP/3.0"), 505),
                Arguments.of("CONNECT", head("CONNECT example.com:443 HTTP/1.1", "Host: example.com:443"), 501),
                Arguments.of("CONNECT in HTTP/1.0", head("CONNECT example.com:443 HTTP/1.0", null), 501));
    }

    static Stream<Arguments> limits() {
        return Stream.of(
                Arguments.of("request line over the limit",
                        head("GET /" + "a".repeat(Wire.MAX_REQUEST_LINE) + " HTTP/1.1", "Host: a"), 414),
                Arguments.of("request line never ending", "GET /" + "a".repeat(Wire.MAX_REQUEST_LINE + 2), 414),
                Arguments.of("one field more than allowed",
                        get("X-A: a\r\n".repeat(Wire.MAX_FIELDS - 1) + "X-B: b"), 431),
                Arguments.of("many fields", get("X-A: a\r\n".repeat(1000) + "X-B: b"), 431),
                Arguments.of("one large field", get("X-A: " + "a".repeat(Wire.MAX_FIELD_BYTES)), 431),
                Arguments.of("large field never ending", "GET / HTTP/1.1\r\nX-A: " + "a".repeat(Wire.MAX_FIELD_BYTES), 431),
                Arguments.of("five leading empty lines", "\r\n".repeat(5) + get(), 400));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource({"framing", "fieldSyntax", "host", "requestLine", "limits"})
    void isRejected(String name, String raw, int status) {
        Wire.Request r = Wire.request(leaks, raw);
        assertNull(r.upstream(), "forwarded");
        assertEquals(status, r.status(), name);
    }
}
