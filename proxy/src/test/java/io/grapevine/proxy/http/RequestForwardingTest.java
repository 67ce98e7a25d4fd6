package io.grapevine.proxy.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

/** The exact head {@link RequestHeadParser} forwards for valid requests, and what it tells the caller. */
class RequestForwardingTest {

    @RegisterExtension
    static final LeakCheck leaks = new LeakCheck();

    private static String lines(String... lines) {
        return String.join("\r\n", lines) + "\r\n\r\n";
    }

    private static Wire.Request forward(String raw) {
        Wire.Request r = Wire.request(leaks, raw);
        assertEquals(0, r.status(), () -> "rejected:\n" + raw);
        return r;
    }

    @Test
    void removesHopByHopFieldsAndAddsForwardingFields() {
        Wire.Request r = forward(lines(
                "GET /index.html?q=1 HTTP/1.1",
                "Host: example.com",
                "User-Agent: test/1.0",
                "Connection: keep-alive, X-Hop",
                "X-Hop: secret",
                "Keep-Alive: timeout=5",
                "Proxy-Connection: keep-alive",
                "TE: trailers",
                "Upgrade: websocket",
                "Accept: */*"));
        assertEquals(lines(
                "GET /index.html?q=1 HTTP/1.1",
                "Host: example.com",
                "User-Agent: test/1.0",
                "Accept: */*",
                "X-Forwarded-For: 192.0.2.7",
                "X-Forwarded-Proto: http",
                "X-Request-ID: <id>"), r.upstreamWithIdPlaceholder());
        RequestHead h = r.head();
        assertFalse(h.upgrade, "Upgrade not named by Connection is an ordinary hop-by-hop field");
        assertEquals("GET", h.method);
        assertTrue(h.keepAlive);
        assertTrue(h.idempotent);
        assertFalse(h.http10);
        assertFalse(h.expectContinue);
        assertTrue(h.hasHost);
        assertEquals(BodyKind.NONE, h.bodyKind);
        assertFalse(h.hasBody());
        assertEquals("example.com", h.routingHost);
        assertEquals("/index.html?q=1", h.routingPath);
    }

    @Test
    void appendsToExistingForwardedForAndKeepsTheRequestId() {
        Wire.Request r = forward(lines(
                "POST /submit HTTP/1.1",
                "Host: api.example:8080",
                "X-Forwarded-For: 203.0.113.1",
                "X-Request-ID: abc-123",
                "X-Forwarded-Proto: https",
                "Content-Length: 007",
                "x-forwarded-for: 198.51.100.2, 198.51.100.3",
                "Content-Type: text/plain"));
        assertEquals(lines(
                "POST /submit HTTP/1.1",
                "Host: api.example:8080",
                "X-Forwarded-For: 203.0.113.1, 198.51.100.2, 198.51.100.3, 192.0.2.7",
                "X-Request-ID: abc-123",
                "Content-Type: text/plain",
                "X-Forwarded-Proto: http",
                "Content-Length: 7"), r.upstream());
        RequestHead h = r.head();
        assertEquals(BodyKind.LENGTH, h.bodyKind);
        assertEquals(7, h.contentLength);
        assertTrue(h.hasBody());
        assertFalse(h.idempotent);
        assertEquals("api.example", h.routingHost);
    }

    @Test
    void writesCanonicalChunkedFramingLast() {
        Wire.Request r = forward(lines(
                "PUT /upload HTTP/1.1",
                "Transfer-Encoding: \t Chunked \t",
                "Host: example.com",
                "Expect: 100-continue"));
        assertEquals(lines(
                "PUT /upload HTTP/1.1",
                "Host: example.com",
                "Expect: 100-continue",
                "X-Forwarded-For: 192.0.2.7",
                "X-Forwarded-Proto: http",
                "X-Request-ID: <id>",
                "Transfer-Encoding: chunked"), r.upstreamWithIdPlaceholder());
        RequestHead h = r.head();
        assertEquals(BodyKind.CHUNKED, h.bodyKind);
        assertEquals(-1, h.contentLength);
        assertTrue(h.hasBody());
        assertTrue(h.expectContinue);
        assertTrue(h.idempotent);
    }

    @Test
    void forwardsHttp10AsHttp11() {
        Wire.Request r = forward(lines(
                "GET /old HTTP/1.0",
                "Host: example.com",
                "Connection: Keep-Alive",
                "Keep-Alive: max=5",
                "Expect: 100-continue"));
        assertEquals(lines(
                "GET /old HTTP/1.1",
                "Host: example.com",
                "X-Forwarded-For: 192.0.2.7",
                "X-Forwarded-Proto: http",
                "X-Request-ID: <id>"), r.upstreamWithIdPlaceholder());
        assertTrue(r.head().http10);
        assertTrue(r.head().keepAlive);
        assertFalse(r.head().expectContinue, "Expect is ignored in HTTP/1.0 (RFC 9110 section 10.1.1)");
    }

    @Test
    void http10AbsoluteFormWithoutHostGetsHostFromTheTarget() {
        Wire.Request r = forward(lines("GET http://Example.COM:8080/p?q HTTP/1.0", "Accept: */*"));
        assertEquals(lines(
                "GET /p?q HTTP/1.1",
                "Host: Example.COM:8080",
                "Accept: */*",
                "X-Forwarded-For: 192.0.2.7",
                "X-Forwarded-Proto: http",
                "X-Request-ID: <id>"), r.upstreamWithIdPlaceholder());
        assertTrue(r.head().hasHost);
        assertEquals("example.com", r.head().routingHost);
        assertEquals("/p?q", r.head().routingPath);
    }

    /**
     * RFC 9112 section 3.2: an HTTP/1.1 request carries Host. For an HTTP/1.0 request without one the
     * parser leaves it out and says so; the exchange adds the chosen server's address when it sends.
     */
    @Test
    void http10WithoutHostLeavesHostToTheSender() {
        Wire.Request r = forward(lines("GET /x HTTP/1.0", "Accept: */*"));
        assertEquals(lines(
                "GET /x HTTP/1.1",
                "Accept: */*",
                "X-Forwarded-For: 192.0.2.7",
                "X-Forwarded-Proto: http",
                "X-Request-ID: <id>"), r.upstreamWithIdPlaceholder());
        assertFalse(r.head().hasHost);
        assertFalse(r.head().keepAlive);
        assertEquals("", r.head().routingHost);
    }

    @Test
    void absoluteFormThatAgreesWithHostIsForwardedInOriginForm() {
        Wire.Request r = forward(lines("GET http://example.com/a/b?c=d HTTP/1.1", "Host: EXAMPLE.com"));
        assertEquals(lines(
                "GET /a/b?c=d HTTP/1.1",
                "Host: EXAMPLE.com",
                "X-Forwarded-For: 192.0.2.7",
                "X-Forwarded-Proto: http",
                "X-Request-ID: <id>"), r.upstreamWithIdPlaceholder());
        assertEquals("example.com", r.head().routingHost);
        assertEquals("/a/b?c=d", r.head().routingPath);
    }

    /**
     * RFC 9112 section 3.2.2 and RFC 3986 section 6.2.3: the scheme's default port, or an empty one, is no port, on
     * either side. The request goes on with its Host as sent, routed by the host alone.
     */
    @ParameterizedTest
    @CsvSource({
            "http://example.com:80/x,    example.com,      example.com",
            "http://example.com/x,       example.com:80,   example.com",
            "http://example.com:/x,      example.com,      example.com",
            "http://example.com/x,       example.com:,     example.com",
            "https://example.com:443/x,  example.com,      example.com",
            "HTTPS://Example.com/x,      EXAMPLE.com:443,  example.com",
            "http://[::1]:80/x,          [::1],            [::1]"})
    void absoluteFormAndHostDifferingOnlyByTheDefaultPortAgree(String target, String host, String routingHost) {
        Wire.Request r = forward(lines("GET " + target + " HTTP/1.1", "Host: " + host));
        assertTrue(r.upstream().startsWith("GET /x HTTP/1.1\r\nHost: " + host + "\r\n"), r.upstream());
        assertEquals(routingHost, r.head().routingHost);
    }

    @ParameterizedTest
    @CsvSource({
            "http://example.com,        /",
            "HTTPS://example.com?x=1,   /?x=1",
            "http://example.com/,       /"})
    void absoluteFormPathBecomesOriginForm(String target, String path) {
        assertForwardedAndRoutedAs("GET", target, path);
    }

    /** {@code METHOD target} with Host example.com is forwarded as {@code METHOD path}, and routed by {@code path}. */
    private static void assertForwardedAndRoutedAs(String method, String target, String path) {
        Wire.Request r = forward(lines(method + " " + target + " HTTP/1.1", "Host: example.com"));
        assertTrue(r.upstream().startsWith(method + " " + path + " HTTP/1.1\r\nHost: example.com\r\n"),
                r.upstream());
        assertEquals(path, r.head().routingPath);
    }

    /**
     * A run of slashes in the path is one slash to routes, as to nginx ({@code merge_slashes}) and the backends that
     * merge them: {@code //admin} is routed as {@code /admin}, not by whatever route catches the rest. The target is
     * forwarded as sent, its dot segments resolved; the query is left alone.
     */
    @ParameterizedTest
    @CsvSource({
            "//admin,                //admin,               /admin",
            "/api//v1///users/,      /api//v1///users/,     /api/v1/users/",
            "/a//b?next=//c,         /a//b?next=//c,        /a/b?next=//c",
            "//./admin//,            //admin//,             /admin/",
            "/%61dmin//x,            /admin//x,             /admin/x",
            "/a/%2F/b,               /a/%2F/b,              /a/%2F/b",
            "http://example.com//x,  //x,                   /x"})
    void aRunOfSlashesIsOneSlashToRoutesAndForwardedAsSent(String target, String forwarded, String routed) {
        Wire.Request r = forward(lines("GET " + target + " HTTP/1.1", "Host: example.com"));
        assertTrue(r.upstream().startsWith("GET " + forwarded + " HTTP/1.1\r\n"), r.upstream());
        assertEquals(routed, r.head().routingPath);
    }

    @ParameterizedTest
    @CsvSource({
            "http://example.com,        *",
            "http://example.com?x=1,    /?x=1",
            "http://example.com/,       /"})
    void anOptionsForAWholeServerInAbsoluteFormBecomesAsteriskForm(String target, String forwarded) {
        // RFC 9112 section 3.2.4: the last proxy sends "*" for an empty path without a query.
        assertForwardedAndRoutedAs("OPTIONS", target, forwarded);
    }

    @ParameterizedTest
    @CsvSource({
            "/api/../admin,                /admin",
            "/api/%2e%2E/admin,            /admin",
            "/api/.%2E/admin/,             /admin/",
            "/%61dmin/x?q=/../%61,         /admin/x?q=/../%61",
            "/a/./b/.,                     /a/b/",
            "/a/b/..,                      /a/",
            "/..,                          /",
            "/../../x,                     /x",
            "/a//../b,                     /a/b",
            "http://example.com/a/../b?c,  /b?c",
            "/a/%2Fb/../c%C3%A9%7e,        /a/c%C3%A9~",
            "/a.b/..c/.d/...,              /a.b/..c/.d/...",
            "/%zz/%4,                      /%zz/%4"})
    void dotSegmentsAndEncodedUnreservedCharactersAreResolvedForRoutingAndTheBackendAlike(String target, String path) {
        // RFC 3986 sections 5.2.4 and 6.2.2.2: "/api/../admin" is "/admin" to the backend, so it must be routed as
        // "/admin" too, and forwarded so, or a route for "/admin" is passed by on the way to another pool.
        assertForwardedAndRoutedAs("GET", target, path);
    }

    /**
     * Servers that take {@code ;} in a segment for the start of path parameters (Tomcat, Jetty, Spring) serve
     * {@code /api/..;/admin} as {@code /admin} and {@code /admin;x/secret} as {@code /admin/secret}: a segment that
     * is a dot segment but for its parameters is resolved like one, for routes and the backend alike, and routes
     * read the path without its parameters, which is forwarded with them.
     */
    @ParameterizedTest
    @CsvSource({
            "/api/..;/admin,               /admin,                /admin",
            "/api/..;jsessionid=1/admin/,  /admin/,               /admin/",
            "/api/.;x/admin,               /api/admin,            /api/admin",
            "/api/%2E%2e;/admin,           /admin,                /admin",
            "/a/b/..;x,                    /a/,                   /a/",
            "/admin;x/secret,              /admin;x/secret,       /admin/secret",
            "/admin;/secret;v=2?k=a;b,     /admin;/secret;v=2?k=a;b, /admin/secret?k=a;b",
            "/;x/admin,                    /;x/admin,             /admin",
            "/a/...;x/b,                   /a/...;x/b,            /a/.../b"})
    void pathParametersAreNoneOfThePathToRoutesAndDoNotHideADotSegment(String target, String forwarded,
                                                                        String routed) {
        Wire.Request r = forward(lines("GET " + target + " HTTP/1.1", "Host: example.com"));
        assertTrue(r.upstream().startsWith("GET " + forwarded + " HTTP/1.1\r\n"), r.upstream());
        assertEquals(routed, r.head().routingPath);
    }

    @ParameterizedTest
    @CsvSource(delimiter = ' ', value = {
            "/search?q=a|b",
            "/api?filter={%22a%22:1}",
            "/a|b/c^d",
            "/q?x=`a`&y=a\\b&z={}"})
    void printableCharactersBrowsersSendUnencodedAreForwardedAsSent(String target) {
        // RFC 3986 leaves them out; the WHATWG URL standard sends them raw in a query, and | ^ in a path.
        Wire.Request r = forward(lines("GET " + target + " HTTP/1.1", "Host: example.com"));
        assertTrue(r.upstream().startsWith("GET " + target + " HTTP/1.1\r\n"), r.upstream());
        assertEquals(target, r.head().routingPath);
    }

    @ParameterizedTest
    @CsvSource({"HTTP/1.2", "HTTP/1.9"})
    void aLaterMinorVersionOfHttp1IsReadAsHttp11(String version) {
        // RFC 9110 section 2.5: processed as the highest minor version the recipient conforms to.
        Wire.Request r = forward(lines("GET / " + version, "Host: example.com"));
        assertTrue(r.upstream().startsWith("GET / HTTP/1.1\r\n"), r.upstream());
        assertFalse(r.head().http10);
        assertTrue(r.head().keepAlive, "persistent by default, as HTTP/1.1");
    }

    @Test
    void asteriskFormWithOptions() {
        Wire.Request r = forward(lines("OPTIONS * HTTP/1.1", "Host: example.com"));
        assertTrue(r.upstream().startsWith("OPTIONS * HTTP/1.1\r\nHost: example.com\r\n"), r.upstream());
        assertTrue(r.head().idempotent);
    }

    @Test
    void fieldsNamedByConnectionLoseTheirSpecialMeaning() {
        Wire.Request r = forward(lines(
                "GET / HTTP/1.1",
                "Host: example.com",
                "X-Forwarded-For: 10.6.6.6",
                "X-Request-ID: spoofed",
                "Connection: X-Forwarded-For",
                "Connection: x-request-id, Content-Length, transfer-encoding",
                "Content-Length: 0"));
        assertEquals(lines(
                "GET / HTTP/1.1",
                "Host: example.com",
                "X-Forwarded-For: 192.0.2.7",
                "X-Forwarded-Proto: http",
                "X-Request-ID: <id>",
                "Content-Length: 0"), r.upstreamWithIdPlaceholder(), "framing is the proxy's, never dropped");
    }

    @Test
    void emptyForwardedForLinesAreSkipped() {
        Wire.Request r = forward(lines(
                "GET / HTTP/1.1",
                "X-Forwarded-For:",
                "Host: example.com",
                "X-Forwarded-For: 203.0.113.9",
                "X-Forwarded-For:  "));
        assertTrue(r.upstream().startsWith(lines(
                "GET / HTTP/1.1",
                "X-Forwarded-For: 203.0.113.9, 192.0.2.7",
                "Host: example.com",
                "X-Forwarded-Proto: http").replaceFirst("\r\n$", "")), r.upstream());
        r = forward(lines("GET / HTTP/1.1", "Host: example.com", "X-Forwarded-For:", "Accept: */*"));
        assertTrue(r.upstream().contains("Host: example.com\r\nX-Forwarded-For: 192.0.2.7\r\nAccept: */*\r\n"),
                r.upstream());
    }

    @Test
    void generatesADifferentRequestIdForEachRequest() {
        String raw = lines("GET / HTTP/1.1", "Host: example.com");
        String a = forward(raw).upstream();
        String b = forward(raw).upstream();
        assertTrue(a.matches("(?s).*\r\nX-Request-ID: [0-9a-f]{32}\r\n\r\n"), a);
        assertNotEquals(a, b);
    }

    @Test
    void trimsOptionalWhitespaceAndKeepsObsText() {
        Wire.Request r = forward(lines(
                "GET / HTTP/1.1",
                "Host:example.com",
                "X-A: \t value with  inner \t spaces \t ",
                "X-B: caf\u00e9 \u00ff",
                "X-Empty:",
                "X-Request-ID:\tid-1\t"));
        assertEquals(lines(
                "GET / HTTP/1.1",
                "Host: example.com",
                "X-A: value with  inner \t spaces",
                "X-B: caf\u00e9 \u00ff",
                "X-Empty: ",
                "X-Request-ID: id-1",
                "X-Forwarded-For: 192.0.2.7",
                "X-Forwarded-Proto: http"), r.upstream());
    }

    @Test
    void anEmptyRequestIdIsReplacedByAGeneratedOne() {
        Wire.Request r = forward(lines("GET / HTTP/1.1", "Host: h", "X-Request-ID:"));
        assertEquals(lines(
                "GET / HTTP/1.1",
                "Host: h",
                "X-Forwarded-For: 192.0.2.7",
                "X-Forwarded-Proto: http",
                "X-Request-ID: <id>"), r.upstreamWithIdPlaceholder());
    }

    @Test
    void acceptsTheLargestContentLengthAndAnEmptyHost() {
        Wire.Request r = forward(lines("POST / HTTP/1.1", "Host:", "Content-Length: 999999999999999999"));
        assertEquals(999_999_999_999_999_999L, r.head().contentLength);
        assertTrue(r.upstream().endsWith("\r\nContent-Length: 999999999999999999\r\n\r\n"), r.upstream());
        assertTrue(r.upstream().startsWith("POST / HTTP/1.1\r\nHost: \r\n"), r.upstream());
        assertEquals("", r.head().routingHost);
    }

    @Test
    void ipLiteralHost() {
        Wire.Request r = forward(lines("GET /v6 HTTP/1.1", "Host: [2001:DB8::1]:8080"));
        assertEquals("[2001:db8::1]", r.head().routingHost);
    }

    @Test
    void oneParserServesManyRequestsAndLargeHeads() {
        RequestHeadParser parser = new RequestHeadParser(Wire.MAX_FIELDS, false, new RequestIdGenerator());
        String big = "X-Big: " + "b".repeat(6000);
        for (int i = 0; i < 3; i++) {
            Wire.Request r = Wire.request(leaks, lines("GET /" + i + " HTTP/1.1", "Host: h" + i, big),
                    parser, new HeadScanner(Wire.MAX_REQUEST_LINE, Wire.MAX_FIELD_BYTES, true, 414, 431));
            assertEquals(0, r.status());
            assertTrue(r.upstream().startsWith("GET /" + i + " HTTP/1.1\r\nHost: h" + i + "\r\n" + big + "\r\n"));
            assertEquals(null, r.head().routingHost, "routing was not asked for");
            Wire.Request small = Wire.request(leaks, lines("GET / HTTP/1.0"), parser,
                    new HeadScanner(Wire.MAX_REQUEST_LINE, Wire.MAX_FIELD_BYTES, true, 414, 431));
            assertFalse(small.upstream().contains("X-Big"));
        }
    }

    static Stream<Arguments> keepAlive() {
        return Stream.of(
                Arguments.of("HTTP/1.0", new String[0], false),
                Arguments.of("HTTP/1.0", new String[] {"Connection: keep-alive"}, true),
                Arguments.of("HTTP/1.0", new String[] {"Connection: KEEP-ALIVE"}, true),
                Arguments.of("HTTP/1.0", new String[] {"Connection: keep-alive, close"}, false),
                Arguments.of("HTTP/1.0", new String[] {"Connection: keep-alive", "Connection: close"}, false),
                Arguments.of("HTTP/1.0", new String[] {"Keep-Alive: timeout=5"}, false),
                Arguments.of("HTTP/1.0", new String[] {"Proxy-Connection: keep-alive"}, false),
                Arguments.of("HTTP/1.1", new String[0], true),
                Arguments.of("HTTP/1.1", new String[] {"Connection: close"}, false),
                Arguments.of("HTTP/1.1", new String[] {"Connection: Close"}, false),
                Arguments.of("HTTP/1.1", new String[] {"Connection: keep-alive"}, true),
                Arguments.of("HTTP/1.1", new String[] {"Connection: upgrade, close"}, false),
                Arguments.of("HTTP/1.1", new String[] {"Connection: x, , close ,"}, false),
                Arguments.of("HTTP/1.1", new String[] {"Connection: closed"}, true),
                Arguments.of("HTTP/1.1", new String[] {"Proxy-Connection: close"}, true));
    }

    @ParameterizedTest
    @MethodSource("keepAlive")
    void keepAliveFollowsVersionAndConnectionTokens(String version, String[] fields, boolean keepAlive) {
        String[] all = new String[fields.length + 2];
        all[0] = "GET / " + version;
        all[1] = "Host: example.com";
        System.arraycopy(fields, 0, all, 2, fields.length);
        Wire.Request r = forward(lines(all));
        assertEquals(keepAlive, r.head().keepAlive);
        assertFalse(r.upstream().contains("onnection"), "no Connection field is forwarded:\n" + r.upstream());
        assertFalse(r.upstream().contains("Keep-Alive"), r.upstream());
    }

    @ParameterizedTest
    @CsvSource({
            "GET,     true,  false",
            "HEAD,    true,  true",
            "PUT,     true,  false",
            "DELETE,  true,  false",
            "OPTIONS, true,  false",
            "TRACE,   true,  false",
            "POST,    false, false",
            "PATCH,   false, false",
            "PURGE,   false, false",
            "get,     false, false"})
    void methods(String method, boolean idempotent, boolean head) {
        Wire.Request r = forward(lines(method + " / HTTP/1.1", "Host: example.com"));
        assertEquals(method, r.head().method);
        assertEquals(idempotent, r.head().idempotent);
        assertEquals(head, r.head().headMethod);
        assertTrue(r.upstream().startsWith(method + " / HTTP/1.1\r\n"));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "Expect: 100-continue | true",
            "Expect: 100-Continue | true",
            "Expect:  100-continue\t | true",
            "Expect: 100-continue, foo | false",
            "Expect: something | false"})
    void expectContinue(String field, boolean expected) {
        Wire.Request r = forward(lines("POST / HTTP/1.1", "Host: example.com", field, "Content-Length: 3"));
        assertEquals(expected, r.head().expectContinue);
        assertTrue(r.upstream().contains("\r\nExpect: "), "Expect is end-to-end in HTTP/1.1");
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "Transfer-Encoding: chunked",
            "Transfer-Encoding:chunked",
            "Transfer-Encoding: \tchunked\t ",
            "transfer-encoding: CHUNKED"})
    void chunkedWithOptionalWhitespaceOrOtherCase(String field) {
        Wire.Request r = forward(lines("POST / HTTP/1.1", "Host: example.com", field));
        assertEquals(BodyKind.CHUNKED, r.head().bodyKind);
        assertTrue(r.upstream().endsWith("\r\nTransfer-Encoding: chunked\r\n\r\n"));
    }

    @Test
    void contentLengthZero() {
        Wire.Request r = forward(lines("GET / HTTP/1.1", "Host: example.com", "Content-Length:  0 "));
        assertEquals(BodyKind.LENGTH, r.head().bodyKind);
        assertFalse(r.head().hasBody());
        assertTrue(r.upstream().endsWith("\r\nContent-Length: 0\r\n\r\n"));
    }

    @Test
    void leadingEmptyLinesAreNotForwarded() {
        Wire.Request r = forward("\r\n\r\n" + lines("GET / HTTP/1.1", "Host: example.com"));
        assertTrue(r.upstream().startsWith("GET / HTTP/1.1\r\n"));
    }

    // ---------------------------------------------------------------- upgrades (RFC 9110 section 7.8)

    @Test
    void anUpgradeNamedByConnectionIsForwardedWithBothFields() {
        Wire.Request r = forward(lines(
                "GET /chat HTTP/1.1",
                "Host: example.com",
                "Connection: keep-alive, Upgrade",
                "Upgrade: websocket",
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Version: 13"));
        assertTrue(r.head().upgrade);
        assertEquals(lines(
                "GET /chat HTTP/1.1",
                "Host: example.com",
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Version: 13",
                "X-Forwarded-For: 192.0.2.7",
                "X-Forwarded-Proto: http",
                "X-Request-ID: <id>",
                "Connection: upgrade",
                "Upgrade: websocket"), r.upstreamWithIdPlaceholder());
    }

    @Test
    void anOfferOfH2cIsNeverForwarded() {
        Wire.Request only = forward(lines("GET / HTTP/1.1", "Host: a", "Connection: Upgrade, HTTP2-Settings",
                "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"));
        assertFalse(only.head().upgrade, "h2c alone: an ordinary request");
        assertNull(only.head().upgradeProtocols);
        assertFalse(only.upstreamWithIdPlaceholder().toLowerCase(Locale.ROOT).contains("h2c"));
        assertFalse(only.upstreamWithIdPlaceholder().contains("HTTP2-Settings"));
        assertFalse(only.upstreamWithIdPlaceholder().contains("Upgrade"));

        Wire.Request mixed = forward(lines("GET / HTTP/1.1", "Host: a", "Connection: Upgrade",
                "Upgrade: H2C, websocket,h2c/1 ,IRC/6.9"));
        assertTrue(mixed.head().upgrade);
        assertEquals("websocket, IRC/6.9", new String(mixed.head().upgradeProtocols, StandardCharsets.US_ASCII));
        String upstream = mixed.upstreamWithIdPlaceholder();
        assertTrue(upstream.endsWith("Connection: upgrade\r\nUpgrade: websocket, IRC/6.9\r\n\r\n"), upstream);
    }

    @Test
    void anUpgradeFromAnHttp10ClientIsIgnored() {
        Wire.Request r = forward(lines("GET /chat HTTP/1.0", "Host: a", "Connection: Upgrade", "Upgrade: websocket"));
        assertFalse(r.head().upgrade);
        assertFalse(r.upstreamWithIdPlaceholder().contains("Upgrade"));
    }

    @Test
    void twoUpgradeLinesOrOneThatIsNotAProtocolListAre400() {
        assertEquals(400, Wire.request(leaks, lines("GET / HTTP/1.1", "Host: a", "Connection: upgrade",
                "Upgrade: websocket", "Upgrade: h2c")).status());
        assertEquals(400, Wire.request(leaks, lines("GET / HTTP/1.1", "Host: a", "Connection: upgrade",
                "Upgrade: web socket")).status());
        assertEquals(400, Wire.request(leaks, lines("GET / HTTP/1.1", "Host: a", "Connection: upgrade",
                "Upgrade: websocket/")).status());
        assertEquals(0, Wire.request(leaks, lines("GET / HTTP/1.1", "Host: a", "Connection: upgrade",
                "Upgrade: HTTP/2.0, websocket, IRC/6.9")).status());
    }
}
