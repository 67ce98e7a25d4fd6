package io.grapevine.proxy.http;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class HeadScannerTest {

    @RegisterExtension
    static final LeakCheck leaks = new LeakCheck();

    private static final int LINE = 32;
    private static final int FIELDS = 64;

    /** What one scan of a whole input found: the result code, the head's bytes, and how many bytes were skipped. */
    record Scan(int code, String head, int skipped) {
    }

    private static HeadScanner requestScanner() {
        return new HeadScanner(LINE, FIELDS, true, 414, 431);
    }

    /** Feeds {@code input} in pieces of {@code step} bytes to one scanner, until it answers something else than NEED_MORE. */
    static Scan scan(LeakCheck leaks, HeadScanner scanner, String input, int step) {
        byte[] bytes = LeakCheck.bytes(input);
        ByteBuf cumulation = leaks.alloc().directBuffer(16);
        try {
            int code = HeadScanner.NEED_MORE;
            for (int at = 0; at < bytes.length && code == HeadScanner.NEED_MORE; at += step) {
                cumulation.writeBytes(bytes, at, Math.min(step, bytes.length - at));
                code = scanner.scan(cumulation);
            }
            String head = code > 0 ? cumulation.toString(cumulation.readerIndex(), code,
                    StandardCharsets.ISO_8859_1) : null;
            return new Scan(code, head, cumulation.readerIndex());
        } finally {
            cumulation.release();
        }
    }

    private Scan oneShot(String input) {
        return scan(leaks, requestScanner(), input, Integer.MAX_VALUE);
    }

    private void assertSameInEveryFeeding(Scan expected, String input) {
        for (int step : new int[] {1, 2, 3, 7}) {
            assertEquals(expected, scan(leaks, requestScanner(), input, step), "fed " + step + " byte(s) at a time");
        }
    }

    private static Scan found(String head, int skipped) {
        return new Scan(head.length(), head, skipped);
    }

    static Stream<Arguments> heads() {
        String line = "GET /" + "a".repeat(LINE - 14) + " HTTP/1.1"; // exactly LINE bytes
        String fieldsAtLimit = "X: " + "v".repeat(FIELDS - 5) + "\r\n"; // exactly FIELDS bytes with its CRLF
        return Stream.of(
                Arguments.of("simple", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", found("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0)),
                Arguments.of("body after the head is not part of it", "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi",
                        found("POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n", 0)),
                Arguments.of("no fields", "GET / HTTP/1.0\r\n\r\n", found("GET / HTTP/1.0\r\n\r\n", 0)),
                Arguments.of("one leading CRLF skipped", "\r\nGET / HTTP/1.0\r\n\r\n", found("GET / HTTP/1.0\r\n\r\n", 2)),
                Arguments.of("four leading CRLFs skipped", "\r\n".repeat(4) + "GET / HTTP/1.0\r\n\r\n",
                        found("GET / HTTP/1.0\r\n\r\n", 8)),
                Arguments.of("five leading empty lines", "\r\n".repeat(5) + "GET / HTTP/1.0\r\n\r\n", new Scan(-400, null, 8)),
                Arguments.of("many leading empty lines", "\r\n".repeat(50) + "GET / HTTP/1.0\r\n\r\n", new Scan(-400, null, 8)),
                Arguments.of("incomplete", "GET / HTTP/1.1\r\nHost: a\r\n", new Scan(0, null, 0)),
                Arguments.of("request line at the limit", line + "\r\n\r\n", found(line + "\r\n\r\n", 0)),
                Arguments.of("request line one over the limit", line.replace("GET", "GETT") + "\r\n\r\n", new Scan(-414, null, 0)),
                Arguments.of("endless request line", "GET /" + "a".repeat(3 * LINE), new Scan(-414, null, 0)),
                Arguments.of("fields at the limit", "GET / HTTP/1.1\r\n" + fieldsAtLimit + "\r\n",
                        found("GET / HTTP/1.1\r\n" + fieldsAtLimit + "\r\n", 0)),
                Arguments.of("fields one over the limit", "GET / HTTP/1.1\r\n" + fieldsAtLimit.replace("X:", "XY:") + "\r\n",
                        new Scan(-431, null, 0)),
                Arguments.of("many small fields over the limit", "GET / HTTP/1.1\r\n" + "A: b\r\n".repeat(FIELDS / 6 + 1) + "\r\n",
                        new Scan(-431, null, 0)),
                Arguments.of("endless field", "GET / HTTP/1.1\r\nX: " + "v".repeat(3 * FIELDS), new Scan(-431, null, 0)),
                Arguments.of("bare LF ends lines (the parser rejects them)", "GET / HTTP/1.1\nHost: a\n\n",
                        found("GET / HTTP/1.1\nHost: a\n\n", 0)),
                Arguments.of("a TLS ClientHello is refused at its first byte", "\u0016\u0003\u0001\u0002\u0000\u0001",
                        new Scan(-400, null, 0)),
                Arguments.of("so is a first line that starts with a space", " GET / HTTP/1.1\r\n\r\n",
                        new Scan(-400, null, 0)),
                Arguments.of("or after an empty line", "\r\n\u0016\u0003\u0001", new Scan(-400, null, 2)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("heads")
    void oneShotFindsTheHead(String name, String input, Scan expected) {
        assertEquals(expected, oneShot(input));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("heads")
    void incrementalFeedingFindsTheSameAsOneShot(String name, String input, Scan expected) {
        assertSameInEveryFeeding(expected, input);
    }

    /** Around both limits, for every size, byte-by-byte feeding must agree with one-shot scanning. */
    @Test
    void limitsDoNotDependOnHowBytesArrive() {
        for (int n = LINE - 20; n <= LINE - 10; n++) {
            String input = "GET /" + "a".repeat(n) + " HTTP/1.1\r\nHost: a\r\n\r\n";
            Scan expected = oneShot(input);
            assertEquals(5 + n + 9 <= LINE ? input.length() : -414, expected.code(), "request line of " + (n + 14));
            assertSameInEveryFeeding(expected, input);
        }
        for (int n = FIELDS - 12; n <= FIELDS; n++) {
            String input = "GET / HTTP/1.1\r\nX: " + "v".repeat(n) + "\r\n\r\n";
            Scan expected = oneShot(input);
            assertEquals(3 + n + 2 <= FIELDS ? input.length() : -431, expected.code(), "field line of " + (n + 5));
            assertSameInEveryFeeding(expected, input);
        }
    }

    @Test
    void scansPipelinedHeadsOneAfterTheOther() {
        HeadScanner scanner = requestScanner();
        ByteBuf cumulation = leaks.buf("GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHo");
        List<String> heads = new ArrayList<>();
        int length = scanner.scan(cumulation);
        heads.add(cumulation.readCharSequence(length, StandardCharsets.US_ASCII).toString());
        assertEquals(HeadScanner.NEED_MORE, scanner.scan(cumulation));
        cumulation.writeCharSequence("st: b\r\n\r\n", StandardCharsets.US_ASCII);
        length = scanner.scan(cumulation);
        heads.add(cumulation.readCharSequence(length, StandardCharsets.US_ASCII).toString());
        assertEquals(List.of("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n", "GET /2 HTTP/1.1\r\nHost: b\r\n\r\n"), heads);
        cumulation.release();
    }

    @Test
    void leadingEmptyLinesAreCountedPerHead() {
        HeadScanner scanner = requestScanner();
        String oneHead = "\r\n".repeat(4) + "GET / HTTP/1.0\r\n\r\n";
        ByteBuf cumulation = leaks.buf(oneHead + oneHead);
        for (int i = 0; i < 2; i++) {
            int length = scanner.scan(cumulation);
            assertEquals(18, length);
            cumulation.skipBytes(length);
        }
        assertEquals(0, cumulation.readableBytes());
        cumulation.release();
    }

    @Test
    void discardingReadBytesBetweenScansKeepsThePosition() {
        HeadScanner scanner = requestScanner();
        ByteBuf cumulation = leaks.buf("\r\nGET / HTTP/1.1\r\nHost");
        assertEquals(HeadScanner.NEED_MORE, scanner.scan(cumulation));
        cumulation.discardReadBytes();
        cumulation.writeCharSequence(": a\r\n\r\n", StandardCharsets.US_ASCII);
        assertEquals(27, scanner.scan(cumulation));
        cumulation.release();
    }

    @Test
    void responsesGetNoLeadingEmptyLines() {
        HeadScanner scanner = new HeadScanner(LINE, FIELDS, false, 502, 502);
        assertEquals(new Scan(-400, null, 0), scan(leaks, scanner, "\r\nHTTP/1.1 200 OK\r\n\r\n", Integer.MAX_VALUE));
        scanner = new HeadScanner(LINE, FIELDS, false, 502, 502);
        assertEquals(new Scan(-502, null, 0), scan(leaks, scanner, "HTTP/1.1 200 " + "x".repeat(LINE), Integer.MAX_VALUE));
    }
}
