package io.grapevine.proxy.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.buffer.UnpooledByteBufAllocator;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The head of a response the parser decides to compress, or not: {@link ResponseHeadParser}'s {@code gzip}. */
class ResponseCompressionHeadTest {

    /** text/html and text/css from 10 bytes on; {@code free}: whether a compressor is. */
    private static CompressionRule rule(boolean free) {
        return rule(true, free);
    }

    /** ... for a request that accepts gzip or not. */
    private static CompressionRule rule(boolean accepted, boolean free) {
        return new CompressionRule() {
            @Override
            public boolean accepted() {
                return accepted;
            }

            @Override
            public long minLength() {
                return 10;
            }

            @Override
            public boolean compresses(byte[] b, int from, int to) {
                String type = new String(b, from, to - from, StandardCharsets.ISO_8859_1).trim();
                return type.startsWith("text/html") || type.startsWith("text/css");
            }

            @Override
            public boolean admit() {
                return free;
            }
        };
    }

    private final ResponseHeadParser parser = new ResponseHeadParser(100);
    private final ResponseHead out = new ResponseHead();

    /** The client's head for {@code fields} after {@code statusLine}, or null when the parser refused the head. */
    private String head(String statusLine, String fields, boolean headRequest, CompressionRule rule) {
        String raw = "HTTP/1.1 " + statusLine + "\r\n" + fields + "\r\n";
        ByteBuf in = Unpooled.copiedBuffer(raw, StandardCharsets.ISO_8859_1);
        try {
            int status = parser.parse(in, raw.length(), headRequest, null, ClientProtocol.HTTP_1_1, true, null, null,
                    rule, out, UnpooledByteBufAllocator.DEFAULT);
            assertEquals(ResponseHeadParser.OK, status, raw);
            String head = out.clientHead.toString(StandardCharsets.ISO_8859_1);
            out.release();
            return head;
        } finally {
            in.release();
        }
    }

    @Test
    void aCompressedHeadLosesItsLengthAndGainsTheEncodingTheVaryAndAWeakTag() {
        String h = head("200 OK", "Content-Type: text/html\r\nETag: \"abc\"\r\nAccept-Ranges: bytes\r\n"
                + "Content-Length: 500\r\n", false, rule(true));
        assertTrue(out.gzip);
        assertEquals(BodyKind.CHUNKED, out.clientBody);
        assertEquals("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\nETag: W/\"abc\"\r\n"
                + "Vary: Accept-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n", h);
    }

    @Test
    void aWeakTagAndAVaryThatCoversItAreLeftAsTheyAre() {
        String h = head("200 OK", "Content-Type: text/css\r\nETag: W/\"v\"\r\nVary: Origin, accept-encoding\r\n"
                + "Transfer-Encoding: chunked\r\n", false, rule(true));
        assertTrue(out.gzip);
        assertEquals("HTTP/1.1 200 OK\r\nContent-Type: text/css\r\nETag: W/\"v\"\r\nVary: Origin, accept-encoding\r\n"
                + "Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", h);
        h = head("200 OK", "Content-Type: text/css\r\nVary: *\r\nContent-Length: 50\r\n", false, rule(true));
        assertTrue(out.gzip);
        assertFalse(h.contains("Vary: Accept-Encoding"), h);
        h = head("200 OK", "Content-Type: text/css\r\nVary: X-Accept-Encoding-Hint\r\nContent-Length: 50\r\n", false,
                rule(true));
        assertTrue(h.contains("\r\nVary: Accept-Encoding\r\n"), "a member that only contains the name: " + h);
    }

    @Test
    void whatHasNoBodyToCompressOrNoRoomToCompressItKeepsItsHead() {
        String fields = "Content-Type: text/html\r\nContent-Length: 500\r\n";
        String[][] cases = {
            {"HEAD", "200 OK", fields},
            {"304", "304 Not Modified", fields},
            {"204", "204 No Content", "Content-Type: text/html\r\n"},
            {"an empty body", "200 OK", "Content-Type: text/html\r\nContent-Length: 0\r\n"},
            {"shorter than the minimum", "200 OK", "Content-Type: text/html\r\nContent-Length: 9\r\n"},
            {"two types", "200 OK", "Content-Type: text/html\r\nContent-Type: text/css\r\nContent-Length: 500\r\n"},
            {"a 204-203 range edge: 205", "205 Reset Content", fields},
        };
        for (String[] c : cases) {
            String h = head(c[1], c[2], c[0].equals("HEAD"), rule(!c[0].equals("no compressor free")));
            assertFalse(out.gzip, c[0]);
            assertFalse(h.contains("Content-Encoding"), c[0] + ": " + h);
            assertFalse(h.contains("Vary"), c[0] + ": " + h);
        }
        head("200 OK", fields, false, null);
        assertFalse(out.gzip, "not offered");
        for (CompressionRule notNow : new CompressionRule[] {rule(true, false), rule(false, true)}) {
            String h = head("200 OK", fields + "ETag: \"t\"\r\nAccept-Ranges: bytes\r\n", false, notNow);
            assertFalse(out.gzip);
            assertEquals("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nETag: \"t\"\r\nAccept-Ranges: bytes\r\n"
                    + "Vary: Accept-Encoding\r\nContent-Length: 500\r\n\r\n", h,
                    "not compressed for want of a compressor or of the request's leave: only the Vary, as it varies");
        }
        head("203 Non-Authoritative Information", fields, false, rule(true));
        assertTrue(out.gzip, "203 is compressed, as HAProxy does");
    }
}
