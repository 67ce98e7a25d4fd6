package io.grapevine.proxy.http;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Capturing header and cookie values for balancing, removing the proxy's own cookies from the forwarded head, and
 * appending a field to the client's response head.
 */
class FieldCaptureTest {

    @RegisterExtension
    static final LeakCheck leaks = new LeakCheck();

    private static final List<String> HEADERS = List.of("X-User", "x-tenant");
    private static final List<String> COOKIES = List.of("SID", "GVSERVER");
    private static final List<String> PROXY_COOKIES = List.of("GVSERVER");

    private final RequestHeadParser parser = new RequestHeadParser(Wire.MAX_FIELDS, false, new RequestIdGenerator());
    private final HeadScanner scanner = new HeadScanner(Wire.MAX_REQUEST_LINE, Wire.MAX_FIELD_BYTES, true, 414, 431);

    private static String lines(String... lines) {
        return String.join("\r\n", lines) + "\r\n\r\n";
    }

    private Wire.Request forward(String raw) {
        Wire.Request r = Wire.request(leaks, raw, parser, scanner);
        assertEquals(0, r.status(), () -> "rejected:\n" + raw);
        return r;
    }

    private static String text(byte[] value) {
        return value == null ? null : new String(value, StandardCharsets.ISO_8859_1);
    }

    /** The forwarded head's field lines from Host up to X-Forwarded-For, exclusive. */
    private static String endToEndFields(Wire.Request r) {
        String up = r.upstream();
        return up.substring(up.indexOf("\r\n") + 2, up.indexOf("X-Forwarded-For:"));
    }

    @Test
    void nothingIsCapturedUnlessAskedAndTheHeadIsForwardedAsIs() {
        parser.setCapture(List.of(), List.of(), List.of());
        Wire.Request r = forward(lines("GET / HTTP/1.1", "Host: a", "X-User: alice", "Cookie: GVSERVER=1; a=b"));
        assertNull(r.head().capturedHeaders);
        assertNull(r.head().capturedCookies);
        assertEquals("Host: a\r\nX-User: alice\r\nCookie: GVSERVER=1; a=b\r\n", endToEndFields(r));
    }

    @Test
    void capturesTheFirstLineOfEachHeaderWhateverItsCase() {
        parser.setCapture(HEADERS, List.of(), List.of());
        Wire.Request r = forward(lines("GET / HTTP/1.1", "Host: a", "x-USER: alice, bob", "X-User: carol"));
        assertEquals("alice, bob", text(r.head().capturedHeaders[0]));
        assertNull(r.head().capturedHeaders[1], "absent");
        assertEquals("Host: a\r\nx-USER: alice, bob\r\nX-User: carol\r\n", endToEndFields(r));
    }

    @Test
    void aHeaderThatIsHopByHopIsNotAKey() {
        parser.setCapture(HEADERS, List.of(), List.of());
        Wire.Request r = forward(lines("GET / HTTP/1.1", "Host: a", "Connection: x-user", "X-User: alice"));
        assertNull(r.head().capturedHeaders[0]);
    }

    @Test
    void capturesCookiesFromEveryCookieLineAndRemovesOnlyTheProxysOwn() {
        parser.setCapture(List.of(), COOKIES, PROXY_COOKIES);
        Wire.Request r = forward(lines("GET / HTTP/1.1", "Host: a",
                "Cookie: theme=dark;  SID=\"s-42\" ; GVSERVER=00112233aabbccdd;flag",
                "cookie: GVSERVER=ffffffffffffffff",
                "Cookie: sid=lower; SID=second"));
        assertEquals("s-42", text(r.head().capturedCookies[0]), "first SID, quotes removed");
        assertEquals("00112233aabbccdd", text(r.head().capturedCookies[1]), "the first GVSERVER");
        assertEquals("Host: a\r\nCookie: theme=dark; SID=\"s-42\"; flag\r\nCookie: sid=lower; SID=second\r\n",
                endToEndFields(r), "every GVSERVER pair is gone, a line of only GVSERVER too");
    }

    @Test
    void aCookieLineWithoutTheProxysCookieIsForwardedByteForByte() {
        parser.setCapture(List.of(), COOKIES, PROXY_COOKIES);
        Wire.Request r = forward(lines("GET / HTTP/1.1", "Host: a", "Cookie: a=1;b=2 ;  SID=x"));
        assertEquals("x", text(r.head().capturedCookies[0]));
        assertNull(r.head().capturedCookies[1]);
        assertEquals("Host: a\r\nCookie: a=1;b=2 ;  SID=x\r\n", endToEndFields(r));
    }

    @Test
    void cookieNamesAreCaseSensitiveAndPrefixesDoNotCount() {
        parser.setCapture(List.of(), COOKIES, PROXY_COOKIES);
        Wire.Request r = forward(lines("GET / HTTP/1.1", "Host: a", "Cookie: gvserver=1; GVSERVERX=2; XSID=3; SID="));
        assertEquals("", text(r.head().capturedCookies[0]), "an empty value is a value");
        assertNull(r.head().capturedCookies[1]);
        assertEquals("Host: a\r\nCookie: gvserver=1; GVSERVERX=2; XSID=3; SID=\r\n", endToEndFields(r));
    }

    @Test
    void theClientAddressAndTlsArePassedOn() {
        parser.setCapture(List.of(), List.of(), List.of());
        Wire.Request r = forward(lines("GET / HTTP/1.1", "Host: a"));
        assertEquals(Wire.CLIENT, text(r.head().clientAddress));
        assertFalse(r.head().secure);
    }

    @Test
    void theCaptureFollowsTheListsItIsGiven() {
        parser.setCapture(HEADERS, List.of(), List.of());
        assertEquals("alice", text(forward(lines("GET / HTTP/1.1", "Host: a", "X-User: alice")).head().capturedHeaders[0]));
        parser.setCapture(List.of(), List.of(), List.of());
        assertNull(forward(lines("GET / HTTP/1.1", "Host: a", "X-User: alice")).head().capturedHeaders);
    }

    @Test
    void anExtraFieldIsAppendedToFinalResponsesOnly() {
        byte[] setCookie = "Set-Cookie: GVSERVER=0011; Path=/\r\n".getBytes(StandardCharsets.US_ASCII);
        ResponseHeadParser responses = new ResponseHeadParser(Wire.MAX_FIELDS);
        Wire.Response ok = Wire.response(leaks, lines("HTTP/1.1 200 OK", "Set-Cookie: a=b", "Content-Length: 2"),
                false, null, false, true, setCookie, responses);
        assertEquals(lines("HTTP/1.1 200 OK", "Set-Cookie: a=b", "Set-Cookie: GVSERVER=0011; Path=/",
                "Content-Length: 2"), ok.client());
        Wire.Response interim = Wire.response(leaks, lines("HTTP/1.1 103 Early Hints", "Link: </a>"),
                false, null, false, true, setCookie, responses);
        assertEquals(lines("HTTP/1.1 103 Early Hints", "Link: </a>"), interim.client());
        Wire.Response upgrade = Wire.response(leaks, lines("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket",
                "Connection: upgrade"), false, "websocket".getBytes(StandardCharsets.US_ASCII), false, true, setCookie,
                responses);
        assertTrue(upgrade.client().contains("\r\nSet-Cookie: GVSERVER=0011; Path=/\r\n"), upgrade.client());
        Wire.Response plain = Wire.response(leaks, lines("HTTP/1.1 204 No Content"), false, null, false, true, null,
                responses);
        assertArrayEquals(lines("HTTP/1.1 204 No Content").getBytes(StandardCharsets.US_ASCII),
                plain.client().getBytes(StandardCharsets.US_ASCII));
    }
}
