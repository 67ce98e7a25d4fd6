package io.grapevine.proxy.http;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Property tests over random mutations of valid messages (fixed seeds, so a failure reproduces; the message
 * names the input). Whatever the bytes, nothing throws, nothing leaks, and:
 * <ul>
 *   <li>the head scanner finds the same thing however the bytes are split;</li>
 *   <li>a request is either rejected with a documented status, or forwarded as a head that parses again
 *       to the same request (only X-Forwarded-For grows by the proxy's own hop) and is canonical;</li>
 *   <li>a response is either 502 or gives a client head that parses again with the framing promised;</li>
 *   <li>the chunked decoder gives the same outcome in one piece, byte by byte, and in random pieces.</li>
 * </ul>
 */
class HttpFuzzTest {

    @RegisterExtension
    static final LeakCheck leaks = new LeakCheck();

    private static final String[] REQUESTS = {
            "GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n\r\n",
            "POST /form HTTP/1.1\r\nHost: example.com:8080\r\nContent-Length: 11\r\nX-Forwarded-For: 203.0.113.1\r\n"
                    + "X-Request-ID: r-1\r\n\r\n",
            "PUT /up HTTP/1.1\r\nHost: [::1]\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\nTE: trailers\r\n\r\n",
            "GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
            "HEAD / HTTP/1.0\r\nConnection: keep-alive\r\nKeep-Alive: 5\r\nx-forwarded-for: 1.2.3.4\r\n\r\n",
            "OPTIONS * HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: https\r\nProxy-Connection: close\r\n\r\n",
            "\r\nDELETE /r/1 HTTP/1.1\r\nhost: A.example\r\nContent-Length: 0\r\nCookie: a=b; c=d\r\n\r\n",
            "GET http://h.example?q HTTP/1.0\r\nUser-Agent: x\r\n\r\n"};

    private static final String[] RESPONSES = {
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\nConnection: keep-alive\r\n\r\n",
            "HTTP/1.0 404 Not Found\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\nContent-Length: 10\r\n\r\n",
            "HTTP/1.1 100 Continue\r\n\r\n",
            "HTTP/1.1 204 No Content\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\n\r\n",
            "HTTP/1.1 500 Internal Server Error\r\nServer: s\r\n\r\n"};

    private static final String[] BODIES = {
            "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            "1;a=b\r\nx\r\nA\r\n0123456789\r\n0\r\nX-Sum: 1\r\nContent-Length: 3\r\n\r\n",
            "0\r\n\r\n",
            "3 ; ext\r\nabc\r\n0;z\r\nA: 1\r\nB: 2\r\n\r\nGET"};

    /** Lines that make a mutation interesting for framing, hop-by-hop handling and Host. */
    private static final String[] LINES = {
            "Content-Length: 5", "Content-Length: 0", "Transfer-Encoding: chunked", "Transfer-Encoding: gzip, chunked",
            "Host: evil.example", "Host:", "Connection: close", "Connection: host", "Connection: x-request-id",
            " folded", "X: a\rb", "Expect: 100-continue", "X-Forwarded-For: 10.0.0.1", "X-Forwarded-For:",
            "Keep-Alive: 1", "TE: trailers", "Trailer: X", "X-Request-ID: given", "x-forwarded-proto: https"};

    private static final byte[] INTERESTING = LeakCheck.bytes(
            "\r\n \t\u0000\u000b\u000c\u007f\u0080\u00ff:,;@#/?[]\"*%-=0159aFfxzXZ");

    private static final Set<Integer> REQUEST_STATUSES = Set.of(0, 400, 414, 431, 501, 505, Wire.INCOMPLETE);
    private static final Set<String> HOP_BY_HOP = Set.of("connection", "keep-alive", "proxy-connection", "te",
            "transfer-encoding", "upgrade");

    static byte[] mutate(Random random, byte[] input) {
        byte[] b = input;
        int mutations = 1 + random.nextInt(4);
        for (int m = 0; m < mutations; m++) {
            int at = b.length == 0 ? 0 : random.nextInt(b.length);
            byte c = random.nextInt(4) == 0 ? (byte) random.nextInt(256) : INTERESTING[random.nextInt(INTERESTING.length)];
            switch (random.nextInt(8)) {
                case 0, 1 -> {
                    if (b.length > 0) {
                        b = b.clone();
                        b[at] = c;
                    }
                }
                case 2 -> b = splice(b, at, 0, new byte[] {c});
                case 3 -> b = splice(b, at, Math.min(b.length - at, 1 + random.nextInt(3)), new byte[0]);
                case 4 -> {
                    String line = LINES[random.nextInt(LINES.length)] + "\r\n";
                    b = splice(b, lineStartAfter(b, at), 0, LeakCheck.bytes(line));
                }
                case 5 -> {
                    int s = lineStartAfter(b, at);
                    int e = lineStartAfter(b, s + 1);
                    b = splice(b, e, 0, Arrays.copyOfRange(b, s, e));
                }
                case 6 -> {
                    if (b.length > 0 && Character.isLetter(b[at])) {
                        b = b.clone();
                        b[at] ^= 0x20;
                    }
                }
                default -> b = splice(b, at, 0, LeakCheck.bytes(random.nextBoolean() ? "\r\n" : "\n"));
            }
        }
        return b;
    }

    /** A request-target without the parameters of its path's segments, each run of slashes made one; the query as it is. */
    private static String routedAs(String target) {
        int query = target.indexOf('?');
        String path = query < 0 ? target : target.substring(0, query);
        return path.replaceAll(";[^/]*", "").replaceAll("/{2,}", "/") + (query < 0 ? "" : target.substring(query));
    }

    private static int lineStartAfter(byte[] b, int at) {
        for (int i = Math.max(at, 0); i < b.length; i++) {
            if (b[i] == '\n') {
                return i + 1;
            }
        }
        return b.length;
    }

    private static byte[] splice(byte[] b, int at, int remove, byte[] insert) {
        byte[] out = new byte[b.length - remove + insert.length];
        System.arraycopy(b, 0, out, 0, at);
        System.arraycopy(insert, 0, out, at, insert.length);
        System.arraycopy(b, at + remove, out, at + insert.length, b.length - at - remove);
        return out;
    }

    static String show(String s) {
        StringBuilder sb = new StringBuilder();
        for (char c : s.toCharArray()) {
            if (c == '\r') {
                sb.append("\\r");
            } else if (c == '\n') {
                sb.append("\\n");
            } else if (c < 0x20 || c >= 0x7f) {
                sb.append(String.format("\\x%02x", (int) c));
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }

    private static void check(String input, Runnable property) {
        try {
            property.run();
        } catch (AssertionError | RuntimeException e) {
            fail("for input \"" + show(input) + "\": " + e, e);
        }
    }

    @Test
    void scannerAgreesWithItselfHoweverBytesArrive() {
        Random random = new Random(1);
        for (int round = 0; round < 1500; round++) {
            String input = new String(mutate(random, LeakCheck.bytes(REQUESTS[round % REQUESTS.length])),
                    StandardCharsets.ISO_8859_1);
            int step = 1 + random.nextInt(8);
            check(input, () -> {
                for (int[] limits : new int[][] {{32, 64}, {8192, 16384}}) {
                    HeadScannerTest.Scan oneShot = HeadScannerTest.scan(leaks,
                            new HeadScanner(limits[0], limits[1], true, 414, 431), input, Integer.MAX_VALUE);
                    assertEquals(oneShot, HeadScannerTest.scan(leaks,
                            new HeadScanner(limits[0], limits[1], true, 414, 431), input, 1), "byte by byte");
                    assertEquals(oneShot, HeadScannerTest.scan(leaks,
                            new HeadScanner(limits[0], limits[1], true, 414, 431), input, step), step + " at a time");
                }
            });
        }
    }

    @Test
    void requestsAreRejectedOrForwardedCanonically() {
        Random random = new Random(2);
        RequestHeadParser parser = new RequestHeadParser(Wire.MAX_FIELDS, true, new RequestIdGenerator());
        int forwarded = 0;
        for (int round = 0; round < 10_000; round++) {
            String input = new String(mutate(random, LeakCheck.bytes(REQUESTS[round % REQUESTS.length])),
                    StandardCharsets.ISO_8859_1);
            Wire.Request r = Wire.request(leaks, input, parser,
                    new HeadScanner(Wire.MAX_REQUEST_LINE, Wire.MAX_FIELD_BYTES, true, 414, 431));
            check(input, () -> assertTrue(REQUEST_STATUSES.contains(r.status()), "status " + r.status()));
            if (r.status() == 0) {
                forwarded++;
                check(input, () -> assertForwardedCanonically(r));
            }
        }
        assertTrue(forwarded > 1000, "too few mutations survive to test anything: " + forwarded);
    }

    private static void assertForwardedCanonically(Wire.Request first) {
        String parsed = first.upstream();
        assertTrue(parsed.endsWith("\r\n\r\n"));
        // Without a Host of its own (HTTP/1.0) the head is completed by the sender with the server's address;
        // placed after the request line here, so that re-parsing keeps the field order.
        int firstLineEnd = parsed.indexOf("\r\n") + 2;
        String up = first.head().hasHost ? parsed
                : parsed.substring(0, firstLineEnd) + "Host: 192.0.2.80:8080\r\n" + parsed.substring(firstLineEnd);
        List<String> lines = List.of(up.substring(0, up.length() - 4).split("\r\n", -1));
        assertTrue(lines.get(0).matches("[!#$%&'*+.^_`|~0-9A-Za-z-]+ (/[^ ]*|\\*) HTTP/1\\.1"), lines.get(0));
        int hosts = 0;
        int protos = 0;
        int framing = 0;
        for (String line : lines.subList(1, lines.size())) {
            assertTrue(line.matches("[!#$%&'*+.^_`|~0-9A-Za-z-]+: ([^\\x00-\\x20\\x7f]([^\\x00-\\x08\\x0a-\\x1f\\x7f]*"
                    + "[^\\x00-\\x20\\x7f])?)?"), () -> "not a canonical field line: " + show(line));
            String name = line.substring(0, line.indexOf(':')).toLowerCase(Locale.ROOT);
            hosts += name.equals("host") ? 1 : 0;
            protos += line.equals("X-Forwarded-Proto: http") ? 1 : 0;
            framing += name.equals("content-length") || name.equals("transfer-encoding") ? 1 : 0;
            if (name.equals("transfer-encoding")) {
                assertEquals("Transfer-Encoding: chunked", line);
            } else if (first.head().upgrade && (name.equals("connection") || name.equals("upgrade"))) {
                // an upgrade request keeps exactly these two (RFC 9110 section 7.8)
                assertTrue(line.equals("Connection: upgrade") || line.startsWith("Upgrade: "), line);
            } else {
                assertFalse(HOP_BY_HOP.contains(name), line);
            }
        }
        assertEquals(1, hosts, "Host lines");
        assertEquals(1, protos, "X-Forwarded-Proto lines");
        assertTrue(framing <= 1, "framing lines");
        String routingPath = first.head().routingPath;
        assertTrue(routingPath.equals("*") || routingPath.startsWith("/"), routingPath);
        String forwardedTarget = lines.get(0).substring(lines.get(0).indexOf(' ') + 1, lines.get(0).lastIndexOf(' '));
        assertEquals(routedAs(forwardedTarget), routingPath,
                "routed by the path forwarded, a run of slashes as one, without path parameters");

        Wire.Request again = Wire.request(leaks, up);
        assertEquals(0, again.status(), () -> "the forwarded head is rejected:\n" + show(up));
        RequestHead a = first.head();
        RequestHead b = again.head();
        assertEquals(a.method, b.method);
        assertEquals(a.bodyKind, b.bodyKind);
        assertEquals(a.contentLength, b.contentLength);
        assertEquals(a.idempotent, b.idempotent);
        assertEquals(a.headMethod, b.headMethod);
        assertEquals(a.expectContinue, b.expectContinue);
        assertEquals(a.upgrade, b.upgrade);
        assertArrayEquals(a.upgradeProtocols, b.upgradeProtocols);
        assertEquals(a.routingPath, b.routingPath);
        if (a.hasHost) {
            assertEquals(a.routingHost, b.routingHost);
        }
        assertTrue(b.hasHost && b.keepAlive && !b.http10);
        assertEquals(withoutForwardingFields(up), withoutForwardingFields(again.upstream()));
        assertEquals(forwardedFor(up) + ", " + Wire.CLIENT, forwardedFor(again.upstream()));
    }

    private static List<String> withoutForwardingFields(String head) {
        List<String> out = new ArrayList<>();
        for (String line : head.split("\r\n")) {
            if (!line.startsWith("X-Forwarded-For: ") && !line.startsWith("X-Forwarded-Proto: ")) {
                out.add(line);
            }
        }
        return out;
    }

    private static String forwardedFor(String head) {
        for (String line : head.split("\r\n")) {
            if (line.startsWith("X-Forwarded-For: ")) {
                return line.substring(17);
            }
        }
        throw new AssertionError("no X-Forwarded-For in " + head);
    }

    @Test
    void responsesAre502OrGiveAClientHeadWithTheFramingPromised() {
        Random random = new Random(3);
        ResponseHeadParser parser = new ResponseHeadParser(Wire.MAX_FIELDS);
        int accepted = 0;
        for (int round = 0; round < 6000; round++) {
            String input = new String(mutate(random, LeakCheck.bytes(RESPONSES[round % RESPONSES.length])),
                    StandardCharsets.ISO_8859_1);
            boolean head = random.nextInt(4) == 0;
            boolean http10 = random.nextInt(3) == 0;
            boolean keepAlive = random.nextBoolean();
            Wire.Response r = Wire.response(leaks, input, head, http10, keepAlive, parser);
            check(input, () -> assertTrue(Set.of(0, 400, 502, Wire.INCOMPLETE).contains(r.status()), "status " + r.status()));
            if (r.status() != 0) {
                continue;
            }
            accepted++;
            check(input, () -> {
                ResponseHead first = r.head();
                assertTrue(r.client().startsWith("HTTP/1.1 "));
                Wire.Response again = Wire.response(leaks, r.client(), head, false, true);
                assertEquals(0, again.status(), () -> "the client head is rejected: " + show(r.client()));
                assertEquals(first.status, again.head().status);
                assertEquals(first.clientBody, again.head().upstreamBody, "framing towards the client");
                if (first.clientBody == BodyKind.LENGTH) {
                    assertEquals(first.contentLength, again.head().contentLength);
                }
                assertEquals(first.closeClient, r.client().contains("\r\nConnection: close\r\n"));
                if (first.clientBody == BodyKind.UNTIL_CLOSE) {
                    assertTrue(first.closeClient, "a body delimited by close must close");
                }
                if (http10 && !first.interim) {
                    assertTrue(first.clientBody != BodyKind.CHUNKED, "chunked to an HTTP/1.0 client");
                }
                if (first.upstreamBody == BodyKind.UNTIL_CLOSE) {
                    assertFalse(first.upstreamReusable);
                }
            });
        }
        assertTrue(accepted > 1000, "too few mutations survive to test anything: " + accepted);
    }

    @Test
    void chunkedDecodingDoesNotDependOnHowBytesArrive() {
        Random random = new Random(4);
        int decoded = 0;
        for (int round = 0; round < 1500; round++) {
            String input = new String(mutate(random, LeakCheck.bytes(BODIES[round % BODIES.length])),
                    StandardCharsets.ISO_8859_1);
            ChunkedDecoderTest.Outcome oneShot = ChunkedDecoderTest.decode(leaks, input);
            check(input, () -> {
                ChunkedDecoderTest.Outcome bytewise = ChunkedDecoderTest.decode(leaks, ChunkedDecoderTest.chars(input));
                int cut = random.nextInt(input.length() + 1);
                ChunkedDecoderTest.Outcome split = ChunkedDecoderTest.decode(leaks, input.substring(0, cut),
                        input.substring(cut));
                if (oneShot.error()) {
                    assertTrue(bytewise.error() && split.error(), "rejected in one piece only");
                } else if (oneShot.done()) {
                    assertEquals(oneShot, split, "split at " + cut);
                    // Byte by byte, the decoder is never handed what follows the message.
                    assertEquals(new ChunkedDecoderTest.Outcome(false, true, oneShot.data(), oneShot.trailers(), 1, ""),
                            ChunkedDecoderTest.decode(leaks, ChunkedDecoderTest.chars(input.substring(0,
                                    input.length() - oneShot.left().length()))), "byte by byte");
                } else {
                    assertEquals(oneShot, bytewise, "byte by byte");
                    assertEquals(oneShot, split, "split at " + cut);
                }
            });
            if (oneShot.done()) {
                decoded++;
            }
        }
        assertTrue(decoded > 150, "too few mutations survive to test anything: " + decoded);
    }
}
